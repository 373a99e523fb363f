"""The live page's connection: its own Start/Stop driving the WebRTC component, what it says while it
connects, reconnects or gives up (dashboard.live.StreamWatch), the per-session TURN credentials it
hands the browser, and the helpers that read streamlit-webrtc's state (dashboard.webrtc_session).
The real thing, with a real relay and a real browser: tests/e2e/test_e2e_turn.py."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from dashboard.live import CONNECT_TIMEOUT, StreamWatch, status_text
from dashboard.webrtc_session import connection_kind, ice_ufrag, take_new_offer

PAGE = "app_pages/live.py"
SECRET = "do-not-leak-this-secret"


def webrtc_args(at) -> dict:
    (component,) = [e for e in at.get("component_instance")]
    return json.loads(component.proto.json_args)


def status(at) -> tuple[str, str]:
    html = "\n".join(m.value for m in at.markdown if 'id="fer-live-status"' in m.value)
    state = re.search(r'data-state="([\w-]*)"', html).group(1)
    return state, re.sub(r"<[^>]+>", "", html)


def test_watch_connects_drops_reconnects_and_gives_up():
    w = StreamWatch(timeout=30, camera_timeout=120)
    assert (w.state, w.wanted) == ("idle", False)
    w.start(now=0)
    assert w.observe(False, now=60) == "connecting"  # the person may take a while to allow the camera
    assert w.observe(False, signalling=True, now=70) == "connecting"  # the offer is out
    assert w.observe(True, now=72) == "connected" and w.reconnections == 0
    assert w.observe(False, now=100) == "reconnecting"  # dropped: the frontend tries again by itself
    assert w.observe(False, signalling=True, now=101) == "reconnecting"
    assert w.observe(False, signalling=True, now=125) == "reconnecting" and w.wanted  # within the timeout
    assert w.observe(True, now=126) == "connected" and w.reconnections == 1
    assert w.observe(False, now=200) == "reconnecting"
    assert w.observe(False, signalling=True, now=201) == "reconnecting"
    assert w.observe(False, signalling=True, now=232) == "failed" and not w.wanted  # no route: stop trying
    assert w.observe(True, now=233) == "failed"  # a late report changes nothing until Start
    w.start(now=300)
    assert w.observe(False, signalling=True, now=300 + CONNECT_TIMEOUT / 2) == "connecting"
    w.stop()
    assert (w.observe(True, now=400), w.wanted) == ("idle", False)


def test_watch_without_an_offer_says_the_camera_did_not_start():
    w = StreamWatch(timeout=30, camera_timeout=120)
    w.start(now=0)
    assert w.observe(False, now=100) == "connecting"  # 100 s without an offer: not "could not connect"
    assert w.observe(False, now=121) == "no-camera" and not w.wanted
    w.start(now=200)
    w.camera_failed()  # the page's guard saw the browser refuse the camera
    assert (w.state, w.wanted) == ("no-camera", False)
    assert w.observe(True, now=201) == "no-camera"


def test_status_words():
    assert status_text("connected", "relayed") == "Connected (relayed through the TURN server)"
    assert status_text("connected", "direct") == "Connected (direct)"
    assert status_text("connected") == "Connected"
    assert "reconnecting" in status_text("reconnecting")
    assert "camera did not start" in status_text("no-camera")
    failed = status_text("failed")
    assert "Could not connect" in failed and "TURN relay" in failed and "Share it with a link" in failed
    assert status_text("nonsense") == status_text("idle")


def test_ice_ufrag():
    assert ice_ufrag("v=0\r\na=ice-ufrag:AbC1\r\na=ice-pwd:x\r\na=ice-ufrag:zzzz\r\n") == "AbC1"
    assert ice_ufrag("v=0\r\n") is None and ice_ufrag(None) is None


def test_a_new_offer_replaces_the_worker_of_the_dropped_connection():
    from streamlit_webrtc.component import (WebRtcStreamerContext, WebRtcStreamerState,
                                            generate_frontend_component_key)

    class Worker:
        stopped = False

        def __init__(self, ufrag):
            self.pc = SimpleNamespace(remoteDescription=SimpleNamespace(sdp=f"v=0\r\na=ice-ufrag:{ufrag}\r\n"))

        def stop(self, timeout=1.0):
            self.stopped = True

    old = Worker("old1")
    context = WebRtcStreamerContext(worker=old, state=WebRtcStreamerState(playing=False, signalling=True))
    context._sdp_answer_json = '{"sdp": "old answer"}'
    offer = {"sdpOffer": {"type": "offer", "sdp": "v=0\r\na=ice-ufrag:old1\r\n"}, "playing": False}
    state = {"k": context, generate_frontend_component_key("k"): offer}
    assert not take_new_offer(state, "k")  # the offer the worker answered: nothing to do
    assert context._get_worker() is old and not old.stopped
    offer["sdpOffer"]["sdp"] = "v=0\r\na=ice-ufrag:new2\r\n"  # the browser reconnected
    assert take_new_offer(state, "k")
    assert old.stopped and context._get_worker() is None and context._sdp_answer_json is None
    assert context.state == WebRtcStreamerState(playing=False, signalling=True)
    assert not take_new_offer({}, "k")  # no stream yet


def test_connection_kind_reads_the_selected_candidate_pair():
    def ctx(local, remote):
        pair = SimpleNamespace(local_candidate=SimpleNamespace(type=local), remote_candidate=SimpleNamespace(type=remote))
        ice = SimpleNamespace(_connection=SimpleNamespace(_nominated={1: pair} if local else {}))
        transceiver = SimpleNamespace(receiver=SimpleNamespace(transport=SimpleNamespace(transport=ice)))
        worker = SimpleNamespace(pc=SimpleNamespace(getTransceivers=lambda: [transceiver]))
        return SimpleNamespace(_get_worker=lambda: worker)

    assert connection_kind(ctx("host", "host")) == "direct"
    assert connection_kind(ctx("host", "srflx")) == "direct"
    assert connection_kind(ctx("host", "relay")) == "relayed"  # the browser's relay candidate
    assert connection_kind(ctx("relay", "host")) == "relayed"
    assert connection_kind(ctx(None, None)) is None  # not picked yet
    assert connection_kind(SimpleNamespace(_get_worker=lambda: None)) is None


@pytest.fixture
def relay_env(monkeypatch):
    monkeypatch.setenv("FER_TURN_URLS", "turn:turn.example.org:3478,turns:turn.example.org:5349")
    monkeypatch.setenv("FER_TURN_SECRET", SECRET)
    monkeypatch.setenv("FER_TURN_TTL", "600")
    monkeypatch.setenv("FER_RTC_CONFIGURATION", '{"iceTransportPolicy": "relay"}')


def test_page_gives_each_session_its_own_credentials_never_the_secret(relay_env, open_page):
    users = []
    for _ in range(2):
        at = open_page(PAGE)
        assert not at.error and not at.warning
        config = webrtc_args(at)["rtc_configuration"]
        (server,) = config["iceServers"]
        assert config["iceTransportPolicy"] == "relay"
        assert server["urls"] == ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]
        assert re.fullmatch(r"\d+:[\w-]+", server["username"]), server
        users.append(server["username"])
        for element in at.get("component_instance") + list(at.markdown):
            assert SECRET not in str(element.proto)
    assert users[0].split(":")[1] != users[1].split(":")[1]  # one name per browser session


def test_page_start_drives_the_component_and_gives_up_without_a_camera(open_page):
    at = open_page(PAGE)
    assert webrtc_args(at)["desired_playing_state"] is False
    assert status(at)[0] == "idle" and at.button(key="live-button").label == "Start"
    at.session_state["live_watch"].camera_timeout = 2.0  # AppTest has no browser: no camera, no offer
    at.button(key="live-button").click().run(timeout=60)
    # The run waited for the browser (the component was asked to play), then gave up and asked it to stop.
    assert at.session_state["live_watch"].state == "no-camera"
    assert webrtc_args(at)["desired_playing_state"] is False
    state, text = status(at)
    assert state == "no-camera" and "camera did not start" in text
    assert at.button(key="live-button").label == "Start" and not at.exception


def test_page_waits_as_long_as_the_operator_set(monkeypatch, open_page):
    monkeypatch.delenv("FER_CONNECT_TIMEOUT", raising=False)
    assert open_page(PAGE).session_state["live_watch"].timeout == CONNECT_TIMEOUT == 30
    monkeypatch.setenv("FER_CONNECT_TIMEOUT", "8")
    at = open_page(PAGE)
    assert at.session_state["live_watch"].timeout == 8.0 and not at.warning
    monkeypatch.setenv("FER_CONNECT_TIMEOUT", "soon")
    at = open_page(PAGE)
    assert at.session_state["live_watch"].timeout == CONNECT_TIMEOUT
    assert "FER_CONNECT_TIMEOUT must be a number of seconds" in " ".join(w.value for w in at.warning)


def test_bad_settings_give_a_plain_message(monkeypatch, open_page):
    monkeypatch.setenv("FER_RTC_CONFIGURATION", "{broken")
    monkeypatch.setenv("FER_TURN_URLS", "turn:turn.example.org:3478")
    monkeypatch.delenv("FER_TURN_SECRET", raising=False)
    at = open_page(PAGE)
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "FER_RTC_CONFIGURATION is left out" in warnings and "FER_TURN_SECRET is not" in warnings
    assert webrtc_args(at)["rtc_configuration"] == {"iceServers": []}
