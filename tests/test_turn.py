"""The live page's WebRTC settings (dashboard.turn): short-lived TURN credentials from a shared secret,
static ICE servers, extra RTCConfiguration keys, and plain messages for bad settings.
A real coturn checks the same credentials in tests/e2e/test_e2e_turn.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from dashboard.turn import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TTL, TurnRelay, load_settings, turn_credentials

TURN = {"FER_TURN_URLS": "turn:turn.example.org:3478, turns:turn.example.org:5349",
        "FER_TURN_SECRET": "north-wind"}


def test_credentials_follow_the_turn_rest_api_scheme():
    # Vector computed outside Python: printf '%s' 1700003600:alice | openssl dgst -sha1 -hmac north-wind -binary | base64
    assert turn_credentials("north-wind", "alice", 3600, now=1_700_000_000) == \
        ("1700003600:alice", "iRtTIZ3N38dm9S+dP+UkHfnN9Qo=")
    user, cred = turn_credentials("s3cret", "x", 60, now=1000.9)
    assert user == "1060:x"
    assert base64.b64decode(cred) == hmac.new(b"s3cret", b"1060:x", hashlib.sha1).digest()


def test_each_session_gets_its_own_expiring_credentials_and_never_the_secret():
    settings = load_settings({}, {**TURN, "FER_TURN_TTL": "7200"})
    assert not settings.problems and settings.turn.ttl == 7200
    a = settings.browser("session-a", now=1_000_000)
    b = settings.browser("session-b", now=1_000_000)
    (ta,), (tb,) = a["iceServers"], b["iceServers"]
    assert ta["urls"] == ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]
    assert ta["username"] == "1007200:session-a" and tb["username"] == "1007200:session-b"
    assert ta["credential"] != tb["credential"]
    later = settings.browser("session-a", now=1_000_100)["iceServers"][0]
    assert later["username"] == "1007300:session-a"  # a later issue expires later
    for config in (a, b, settings.server(now=1_000_000)):
        assert "north-wind" not in json.dumps(config)
    assert "north-wind" not in repr(settings)  # nor in a log line that prints the settings
    server = settings.server(now=1_000_000)["iceServers"][0]
    assert server["urls"] == ta["urls"] and server["username"] == "1007200:server"


def test_ice_servers_come_from_secrets_or_the_environment():
    # (Was test_app_live's test of dashboard.live.rtc_configuration, which only wrapped load_settings.)
    turn = {"urls": "turn:t.example:3478", "username": "a", "credential": "b"}

    def browser(secrets, environ):
        return load_settings(secrets, environ).browser("session")

    assert browser(None, {}) == {"iceServers": []}  # nothing set: what a browser on the same machine needs
    assert browser(None, {"FER_ICE_SERVERS": json.dumps([turn])}) == {"iceServers": [turn]}
    assert browser(None, {"FER_ICE_SERVERS": json.dumps({"iceServers": [turn]})}) == {"iceServers": [turn]}
    # Secrets win over the environment; a broken variable falls back to no servers, with a plain message.
    assert browser({"rtc_configuration": {"iceServers": [turn]}}, {"FER_ICE_SERVERS": "[]"}) == {"iceServers": [turn]}
    broken = load_settings(None, {"FER_ICE_SERVERS": "{not json"})
    assert broken.browser("session") == {"iceServers": []}
    assert len(broken.problems) == 1 and broken.problems[0].startswith("FER_ICE_SERVERS is left out")


def test_connect_timeout_is_the_operators_to_set():
    assert load_settings({}, {}).connect_timeout == DEFAULT_CONNECT_TIMEOUT == 30
    assert load_settings({}, {"FER_CONNECT_TIMEOUT": "8"}).connect_timeout == 8.0
    assert load_settings({"FER_CONNECT_TIMEOUT": 12.5}, {"FER_CONNECT_TIMEOUT": "8"}).connect_timeout == 12.5
    for bad in ("soon", "0", "-5", "nan", "100000"):
        settings = load_settings({}, {"FER_CONNECT_TIMEOUT": bad})
        assert settings.connect_timeout == DEFAULT_CONNECT_TIMEOUT, bad
        assert settings.problems == ("FER_CONNECT_TIMEOUT must be a number of seconds from 1 to 600; using 30",), bad


def test_default_ttl_and_static_servers_are_kept_beside_the_relay():
    stun = {"urls": ["stun:stun.example.org:3478"]}
    settings = load_settings({}, {**TURN, "FER_ICE_SERVERS": json.dumps([stun])})
    assert settings.turn.ttl == DEFAULT_TTL == 4 * 3600
    servers = settings.browser("s", now=0)["iceServers"]
    assert servers[0] == stun and servers[1]["username"] == f"{DEFAULT_TTL}:s"
    assert settings.has_turn and not settings.relay_only


def test_rtc_configuration_is_merged_into_the_browser_config_only():
    settings = load_settings({}, {**TURN, "FER_RTC_CONFIGURATION": '{"iceTransportPolicy": "relay"}'})
    assert settings.relay_only and not settings.problems
    browser = settings.browser("s", now=0)
    assert browser["iceTransportPolicy"] == "relay" and len(browser["iceServers"]) == 1
    assert set(settings.server(now=0)) == {"iceServers"}  # aiortc takes ICE servers only


def test_secrets_toml_comes_first_and_may_hold_everything():
    secrets = {"FER_TURN_URLS": "turn:relay.example.org:3478", "FER_TURN_SECRET": "from-secrets",
               "FER_TURN_TTL": 600,
               "rtc_configuration": {"iceTransportPolicy": "relay",
                                     "iceServers": [{"urls": "stun:stun.example.org:3478"}]}}
    settings = load_settings(secrets, {**TURN, "FER_ICE_SERVERS": "[]"})
    assert settings.turn == TurnRelay(("turn:relay.example.org:3478",), "from-secrets", 600)
    assert settings.ice_servers == ({"urls": "stun:stun.example.org:3478"},)
    assert settings.relay_only and not settings.problems


def test_nothing_configured_means_no_ice_servers():
    settings = load_settings({}, {})
    assert settings.browser("s") == {"iceServers": []} == settings.server()
    assert not settings.problems and not settings.has_turn


def test_bad_settings_are_left_out_with_a_plain_message():
    cases = {
        "FER_ICE_SERVERS": ({"FER_ICE_SERVERS": "{not json"}, "FER_ICE_SERVERS is left out"),
        "no urls": ({"FER_ICE_SERVERS": '[{"username": "u"}]'}, "needs 'urls'"),
        "rtc not an object": ({"FER_RTC_CONFIGURATION": "[1]"}, "JSON object"),
        "unknown key": ({"FER_RTC_CONFIGURATION": '{"certificates": []}'}, "unknown key 'certificates'"),
        "bad policy": ({"FER_RTC_CONFIGURATION": '{"iceTransportPolicy": "nohost"}'}, "must be one of all, relay"),
        "http url": ({**TURN, "FER_TURN_URLS": "http://turn.example.org"}, "needs turn: or turns: URLs"),
        "no secret": ({"FER_TURN_URLS": "turn:turn.example.org"}, "FER_TURN_SECRET is not"),
        "bad ttl": ({**TURN, "FER_TURN_TTL": "soon"}, "FER_TURN_TTL must be a number of seconds"),
        "negative ttl": ({**TURN, "FER_TURN_TTL": "-5"}, "FER_TURN_TTL must be a number of seconds"),
        "relay without turn": ({"FER_RTC_CONFIGURATION": '{"iceTransportPolicy": "relay"}'},
                               "no TURN server is configured"),
    }
    for name, (environ, message) in cases.items():
        settings = load_settings({}, environ)  # never raises
        assert any(message in p for p in settings.problems), (name, settings.problems)
        config = settings.browser("s", now=0)
        assert isinstance(config["iceServers"], list), name
    # A bad TTL falls back to the default; the relay itself stays.
    assert load_settings({}, {**TURN, "FER_TURN_TTL": "soon"}).turn.ttl == DEFAULT_TTL
    assert load_settings({}, {**TURN, "FER_TURN_URLS": "http://x"}).turn is None
    # Relay-only with a static TURN server (no shared secret) can connect: no message.
    static = load_settings({}, {"FER_RTC_CONFIGURATION": '{"iceTransportPolicy": "relay"}', "FER_ICE_SERVERS":
                                '[{"urls": ["turns:t.example:5349"], "username": "u", "credential": "c"}]'})
    assert static.relay_only and static.has_turn and not static.problems


def test_an_unreadable_secrets_file_counts_as_none():
    class Broken(dict):
        def __contains__(self, key):
            raise FileNotFoundError("no secrets.toml")

    settings = load_settings(Broken(), TURN)
    assert settings.turn is not None and not settings.problems
