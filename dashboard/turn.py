"""The live page's WebRTC settings: ICE servers, TURN credentials that expire, extra RTCConfiguration keys.

Free of Streamlit (the page passes ``st.secrets`` and ``os.environ`` in), so it is tested on its own.

Sources, each looked up in ``.streamlit/secrets.toml`` first (top-level keys, or today's
``[rtc_configuration]`` table) and then in the environment:

- ``FER_ICE_SERVERS``: JSON, a list of ICE servers or a whole ``{"iceServers": [...]}`` object
  (static servers with fixed usernames and passwords, handed to the browser as they are).
- ``FER_TURN_URLS``: comma-separated ``turn:``/``turns:`` URLs of a TURN server run with a shared
  secret (coturn's ``use-auth-secret`` / ``static-auth-secret``), and ``FER_TURN_SECRET``, that secret.
  Each browser session gets its own credentials (the TURN REST API scheme, as coturn checks it):
  username ``"<expiry unix time>:<session id>"``, credential ``base64(HMAC-SHA1(secret, username))``.
  The secret stays on the server; the relay refuses the credentials after ``FER_TURN_TTL`` seconds.
- ``FER_TURN_TTL``: the credentials' lifetime in seconds (default 4 hours). A stream that runs longer
  keeps its relay: coturn checks the credentials when a browser allocates, and refreshes of an existing
  allocation go on; a reconnection after that gets fresh credentials from the page.
- ``FER_RTC_CONFIGURATION``: JSON object merged into the browser's RTCConfiguration, e.g.
  ``{"iceTransportPolicy": "relay"}`` (everything through the relay).
- ``FER_CONNECT_TIMEOUT``: seconds the live page waits, from the browser's offer, for a connection
  before it says it could not connect (default 30; 1 to 600).

Nothing set means no ICE servers at all, which is what a browser on the same machine needs.
A bad value is left out with a plain message (``RtcSettings.problems``) for the page and the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

ENV_ICE = "FER_ICE_SERVERS"
ENV_TURN_URLS = "FER_TURN_URLS"
ENV_TURN_SECRET = "FER_TURN_SECRET"
ENV_TURN_TTL = "FER_TURN_TTL"
ENV_RTC = "FER_RTC_CONFIGURATION"
ENV_CONNECT_TIMEOUT = "FER_CONNECT_TIMEOUT"
SECRETS_TABLE = "rtc_configuration"  # .streamlit/secrets.toml: [rtc_configuration] with iceServers = [...]
DEFAULT_TTL = 4 * 3600
MIN_TTL, MAX_TTL = 1, 7 * 24 * 3600
DEFAULT_CONNECT_TIMEOUT = 30.0
MIN_CONNECT_TIMEOUT, MAX_CONNECT_TIMEOUT = 1.0, 600.0
TURN_SCHEMES = ("turn:", "turns:")
# Browser RTCConfiguration keys FER_RTC_CONFIGURATION may set (iceServers come from the settings above).
RTC_KEYS = {"iceTransportPolicy": {"all", "relay"}, "bundlePolicy": {"balanced", "max-compat", "max-bundle"},
            "rtcpMuxPolicy": {"require"}, "iceCandidatePoolSize": None}


def turn_credentials(secret: str, name: str, ttl: int, now: float | None = None) -> tuple[str, str]:
    """(username, credential) for a TURN server with this shared secret, valid for ``ttl`` seconds
    from ``now``: the TURN REST API scheme that coturn's ``use-auth-secret`` checks."""
    expiry = int(time.time() if now is None else now) + int(ttl)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True)
class TurnRelay:
    """A TURN server with a shared secret; ``ice_server`` issues credentials, the secret stays here."""

    urls: tuple[str, ...]
    secret: str = field(repr=False)
    ttl: int = DEFAULT_TTL

    def ice_server(self, name: str, now: float | None = None) -> dict:
        username, credential = turn_credentials(self.secret, name, self.ttl, now)
        return {"urls": list(self.urls), "username": username, "credential": credential}


@dataclass(frozen=True)
class RtcSettings:
    """Everything the live page needs to configure WebRTC in the browser and on the server."""

    ice_servers: tuple[dict, ...] = ()  # static ones, passed on as configured
    turn: TurnRelay | None = None
    extra: Mapping = field(default_factory=dict)  # merged into the browser's RTCConfiguration
    problems: tuple[str, ...] = ()  # plain messages about settings that were left out
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT  # seconds from the browser's offer: "could not connect"

    def browser(self, session: str, now: float | None = None) -> dict:
        """The RTCConfiguration for one browser session: its own short-lived TURN credentials."""
        servers = [dict(s) for s in self.ice_servers]
        if self.turn is not None:
            servers.append(self.turn.ice_server(session, now))
        return {**self.extra, "iceServers": servers}

    def server(self, now: float | None = None) -> dict:
        """The server's own RTCConfiguration (aiortc): the same ICE servers, credentials of its own."""
        servers = [dict(s) for s in self.ice_servers]
        if self.turn is not None:
            servers.append(self.turn.ice_server("server", now))
        return {"iceServers": servers}

    @property
    def relay_only(self) -> bool:
        return self.extra.get("iceTransportPolicy") == "relay"

    @property
    def has_turn(self) -> bool:
        """A TURN server is configured: the relay with a shared secret, or a static turn:/turns: server."""
        return self.turn is not None or any(
            str(u).startswith(TURN_SCHEMES) for s in self.ice_servers for u in _urls(s))


def _urls(server: Mapping) -> list:
    urls = server.get("urls", [])
    return [urls] if isinstance(urls, str) else list(urls)


def _ice_servers(value) -> list[dict]:
    if isinstance(value, Mapping):
        value = value.get("iceServers", [])
    if not isinstance(value, (list, tuple)):
        raise ValueError("expected a list of ICE servers or an object with 'iceServers'")
    servers = []
    for s in value:
        if not isinstance(s, Mapping) or not s.get("urls"):
            raise ValueError("every ICE server needs 'urls'")
        servers.append({k: (list(v) if k == "urls" and not isinstance(v, str) else v) for k, v in s.items()})
    return servers


def _extra(value) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, Mapping):
        raise ValueError("expected a JSON object such as {\"iceTransportPolicy\": \"relay\"}")
    extra = {}
    for key, v in value.items():
        if key == "iceServers":
            continue  # ICE servers have settings of their own
        if key not in RTC_KEYS:
            raise ValueError(f"unknown key {key!r} (known: {', '.join(sorted(RTC_KEYS))})")
        allowed = RTC_KEYS[key]
        if allowed is not None and v not in allowed:
            raise ValueError(f"{key} must be one of {', '.join(sorted(allowed))}, not {v!r}")
        if allowed is None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 255):
            raise ValueError(f"{key} must be a whole number from 0 to 255")
        extra[key] = v
    return extra


def _seconds(raw, name: str, low, high, default, problems: list, kind=float):
    """A setting in seconds within [low, high]: ``default`` when unset, and when it is no such number (which
    is added to ``problems`` as a plain sentence)."""
    if raw is None:
        return default
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if not low <= value <= high:
            raise ValueError
        return value
    except (ValueError, TypeError):
        problems.append(f"{name} must be a number of seconds from {low:g} to {high:g}; using {default:g}")
        return default


def load_settings(secrets: Mapping | None = None, environ: Mapping | None = None) -> RtcSettings:
    """Read the settings from ``secrets`` (st.secrets) and then ``environ`` (os.environ); never raises."""
    import os

    secrets = secrets or {}
    environ = os.environ if environ is None else environ
    problems: list[str] = []

    def get(name):
        try:
            if name in secrets:
                return secrets[name]
        except Exception:  # noqa: BLE001 - an unreadable secrets file counts as none
            pass
        value = environ.get(name, "")
        return value.strip() or None

    ice: list[dict] = []
    try:
        table = secrets[SECRETS_TABLE] if SECRETS_TABLE in secrets else None
    except Exception:  # noqa: BLE001
        table = None
    source, raw = (f"[{SECRETS_TABLE}] in secrets.toml", table) if table is not None else (ENV_ICE, get(ENV_ICE))
    if raw is not None:
        try:
            ice = _ice_servers(json.loads(raw) if isinstance(raw, str) else raw)
        except (ValueError, TypeError) as exc:
            problems.append(f"{source} is left out: {exc}")
    extra: dict = {}
    if isinstance(table, Mapping):  # the table may carry other RTCConfiguration keys too
        try:
            extra.update(_extra({k: v for k, v in table.items() if k != "iceServers"}))
        except (ValueError, TypeError) as exc:
            problems.append(f"[{SECRETS_TABLE}] in secrets.toml: {exc}")
    raw = get(ENV_RTC)
    if raw is not None:
        try:
            extra.update(_extra(raw))
        except (ValueError, TypeError) as exc:
            problems.append(f"{ENV_RTC} is left out: {exc}")

    turn = None
    urls_raw, secret = get(ENV_TURN_URLS), get(ENV_TURN_SECRET)
    if urls_raw is not None or secret is not None:
        urls = [u.strip() for u in (urls_raw if isinstance(urls_raw, (list, tuple)) else str(urls_raw or "").split(","))
                if u.strip()]
        ttl = _seconds(get(ENV_TURN_TTL), ENV_TURN_TTL, MIN_TTL, MAX_TTL, DEFAULT_TTL, problems, int)
        bad = [u for u in urls if not u.startswith(TURN_SCHEMES)]
        if not urls or bad:
            problems.append(f"{ENV_TURN_URLS} needs turn: or turns: URLs"
                            + (f" (not {', '.join(bad)})" if bad else "") + "; the TURN relay is left out")
        elif not secret:
            problems.append(f"{ENV_TURN_URLS} is set but {ENV_TURN_SECRET} is not; the TURN relay is left out")
        else:
            turn = TurnRelay(tuple(urls), str(secret), ttl)

    connect_timeout = _seconds(get(ENV_CONNECT_TIMEOUT), ENV_CONNECT_TIMEOUT, MIN_CONNECT_TIMEOUT,
                               MAX_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, problems, float)

    settings = RtcSettings(tuple(ice), turn, extra, connect_timeout=connect_timeout)
    if settings.relay_only and not settings.has_turn:
        problems.append("iceTransportPolicy is 'relay' but no TURN server is configured: no stream can connect")
    return replace(settings, problems=tuple(problems))
