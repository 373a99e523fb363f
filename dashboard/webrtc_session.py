"""What the live page needs from streamlit-webrtc beyond its public API: a stream that reconnects
with the same component, and the kind of route the connection took (direct or through a relay).

The page drives the component with ``desired_playing_state`` (its own Start and Stop buttons): while
it is True, streamlit-webrtc's frontend starts a new connection by itself as soon as its last one
ended ('disconnected', 'failed', 'closed'). Its server side only makes a new worker once the old
one is gone, though, and it learns that the old one is gone only from a script run that sees the
component neither playing nor signalling: when the new offer comes in before such a run (the page's
script is busy in its loop), the old worker stays and the new offer gets the old answer, which
never connects. ``take_new_offer`` closes the superseded worker first. Each step is guarded: where
streamlit-webrtc's layout is not the one this was written for (0.79), it logs a warning once and
does nothing.

aiortc is never imported here (see dashboard/webrtc_tuning.py on TensorFlow and aiortc).
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)
_warned: set[str] = set()
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.M)


def _warn_once(what: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning("streamlit-webrtc is not the version the live page was written for (%s); "
                    "a dropped stream may need Start again", what)


def ice_ufrag(sdp: str | None) -> str | None:
    """The first ICE username fragment of an SDP: it changes with every new connection."""
    m = _UFRAG.search(sdp or "")
    return m.group(1) if m else None


def take_new_offer(session_state, key: str) -> bool:
    """Before ``webrtc_streamer(key=key, ...)``: when the browser has sent a new offer (a reconnection)
    while the server still holds the worker of the previous connection, stop that worker and forget
    its answer, so that this run makes a worker for the new offer. Returns True when it did."""
    try:
        from streamlit_webrtc.component import (_reset_context, compile_state,
                                                generate_frontend_component_key)
    except ImportError:
        _warn_once("no _reset_context")
        return False
    context = session_state.get(key) if key in session_state else None
    frontend_key = generate_frontend_component_key(key)
    value = session_state[frontend_key] if frontend_key in session_state else None
    if context is None or not isinstance(value, dict):
        return False
    offer = value.get("sdpOffer")
    get_worker = getattr(context, "_get_worker", None)
    if not offer or get_worker is None:
        return False
    worker = get_worker()
    pc = getattr(worker, "pc", None)
    remote = getattr(pc, "remoteDescription", None) if pc is not None else None
    if remote is None:  # no worker, or one still taking its offer
        return False
    new, old = ice_ufrag(offer.get("sdp")), ice_ufrag(getattr(remote, "sdp", None))
    if new is None or old is None or new == old:
        return False
    log.info("the browser reconnects: a new worker for its new offer")
    _reset_context(context)
    context._set_state(compile_state(value))  # signalling, as the component says
    return True


def connection_kind(context) -> str | None:
    """'relayed' when the stream's selected ICE candidate pair goes through a TURN relay (either end's
    candidate is a relay candidate), 'direct' when it does not, None when not (yet) known. Read on
    the server from aiortc's ICE transport."""
    try:
        worker = context._get_worker()
        pc = getattr(worker, "pc", None)
        if pc is None:
            return None
        for transceiver in pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            pairs = list(getattr(ice._connection, "_nominated", {}).values())
            if pairs:
                pair = pairs[0]
                types = {pair.local_candidate.type, pair.remote_candidate.type}
                return "relayed" if "relay" in types else "direct"
    except AttributeError:
        _warn_once("no ICE candidate pair to read")
    except Exception:  # noqa: BLE001 - a connection closing meanwhile: not known
        return None
    return None
