"""A stream that drops comes back by itself, on the direct path (no relay; the relay's own case is in
test_e2e_turn.py): the server stalls for several seconds mid-stream (SIGSTOP, then SIGCONT), as a
starved server does, so the browser hears nothing from it, reports the connection 'disconnected' and
streamlit-webrtc's frontend ends it. The page says it is reconnecting and, without a press of Start,
the labelled video plays again over a new connection. The stalled server is the test's own, not the
session's app_server (every session of a stopped server loses its websocket, and later tests would
inherit that). And the other side of it: a person who comes back to the live page from another page
finds the camera off until they press Start.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from .conftest import REPO, StreamlitServer, app_idle, assert_no_exception, open_page, wait_until
from .live_stream import (button, click_on_page, connection_status, record_cameras, start_stream, stop_stream,
                          wait_until_streaming)

STALL_SECONDS = 8  # longer than the browser waits without a packet before 'disconnected' (~2.5-5 s)


def peer_connections(driver) -> int:
    """How many RTCPeerConnections the component's iframe has made so far (live_stream.RECORD_CAMERAS_JS)."""
    from .live_stream import in_iframe

    return in_iframe(driver, lambda: driver.execute_script("return (window.__ferPeers || []).length"))


@pytest.fixture
def stalling_server(tmp_path):
    """A server of its own for the test that stops it for seconds (as test_e2e_turn's relay_server)."""
    server = StreamlitServer(REPO, sys.executable, tmp_path / "streamlit.log").start()
    yield server
    server.stop()
    assert "Traceback (most recent call last)" not in server.log_tail(200_000), server.log_tail()


def test_stream_reconnects_by_itself_after_the_server_stalls(stalling_server, make_browser, fake_camera):
    server = stalling_server
    driver = make_browser(fake_video=fake_camera)
    record_cameras(driver)  # counts the peer connections the page opens
    open_page(driver, server, "live")
    assert_no_exception(driver)
    start_stream(driver, timeout=180)
    wait_until(lambda: connection_status(driver).get("route") == "direct", 30,
               f"the page never said it is connected directly: {connection_status(driver)}")
    first = peer_connections(driver)
    assert first >= 1

    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(STALL_SECONDS)
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    resumed = time.monotonic()
    # A new connection (the frontend starts one as soon as the old one ended), labelled frames again.
    wait_until(lambda: peer_connections(driver) > first, 60,
               f"the page made no new connection after the stall: {connection_status(driver)}")
    wait_until_streaming(driver, min_fps=3, timeout=120)
    status = wait_until(lambda: (s := connection_status(driver)).get("state") == "connected" and s, 30,
                        f"the page does not say it is connected again: {connection_status(driver)}")
    print(f"\nlabelled video again {time.monotonic() - resumed:.1f} s after the server resumed; "
          f"{peer_connections(driver) - first} new connection(s); {status}")
    assert button(driver, "Stop") is not None  # still the person's stream, no Start to press
    stop_stream(driver)
    assert_no_exception(driver)


def _go_to(driver, title: str) -> None:
    """Follow the sidebar's link to a page (in the same session, as a person does)."""
    from selenium.webdriver.common.by import By

    links = [a for a in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a') if a.text.strip().splitlines()[-1:] == [title]]
    assert links, f"no sidebar link {title!r}"
    links[0].click()
    app_idle(driver, 90)


def test_coming_back_to_the_page_does_not_start_the_camera_by_itself(app_server, make_browser, fake_camera):
    driver = make_browser(fake_video=fake_camera)
    open_page(driver, app_server, "live")
    start_stream(driver, timeout=180)
    _go_to(driver, "Home")
    _go_to(driver, "Live camera")
    wait_until(lambda: button(driver, "Start"), 30, f"no Start on the live page after coming back: "
               f"{connection_status(driver)}")
    time.sleep(5)  # long enough for a stream that started by itself to show
    assert connection_status(driver).get("state") == "idle", connection_status(driver)
    video = _safe_video_state(driver)
    assert not (video and video["live"]), f"the camera started by itself: {video}"
    start_stream(driver, timeout=180)  # and Start works as before
    stop_stream(driver)
    assert_no_exception(driver)


def _safe_video_state(driver):
    from .live_stream import video_state

    try:
        return video_state(driver)
    except Exception:  # noqa: BLE001 - no iframe yet counts as no video
        return None


# The browser refuses the camera (as when a person blocked it for the site before), counting the tries.
REFUSE_CAMERA_JS = """
(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  window.__ferCameraTries = 0;
  md.getUserMedia = async () => {
    window.__ferCameraTries++;
    throw new DOMException('Permission denied', 'NotAllowedError');
  };
})();
"""


def test_a_refused_camera_says_so_and_stops_trying(app_server, make_browser):
    from .live_stream import in_iframe

    driver = make_browser()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": REFUSE_CAMERA_JS})
    open_page(driver, app_server, "live")
    click_on_page(driver, "Start")
    status = wait_until(lambda: (s := connection_status(driver)).get("state") == "no-camera" and s, 30,
                        f"the page never said the camera did not start: {connection_status(driver)}")
    assert "camera did not start" in status["text"] and "Allow this page to use the camera" in status["text"]
    wait_until(lambda: button(driver, "Start"), 30, "no Start after the camera was refused")
    tries = lambda: in_iframe(driver, lambda: driver.execute_script("return window.__ferCameraTries"))  # noqa: E731
    first = tries()
    time.sleep(3)
    assert tries() == first, f"the page went on asking for the camera: {first} tries, then {tries()}"
    print(f"\nthe camera was asked for {first} times before the page stopped trying")
    assert first < 400  # well before Chromium's 500 peer connections
    assert_no_exception(driver)
