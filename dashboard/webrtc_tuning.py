"""How the live page tunes streamlit-webrtc and aiortc for a live view: the newest frame rather than
every frame, each frame's own result without blocking the event loop, and a video frame passed on
as soon as its last packet is in. Each is a small, guarded replacement of one class of those
libraries; before replacing anything it checks every private member it relies on, and where a
library's layout differs from the one these were written for (requirements.txt pins the versions
the tests cover), it logs a warning naming what is missing and leaves that library as it is.

``install_webrtc_tunings()`` installs all three once per server process (app.py calls it at start-up;
later calls return the same result) and logs the library versions it was installed on.

aiortc is imported inside the functions, never at the top: importing it after TensorFlow in one
process crashes, and tests import these modules next to training code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import re
import threading
from dataclasses import dataclass
from importlib import metadata

log = logging.getLogger(__name__)


def _missing(owner, names, what: str) -> list[str]:
    """The attributes of ``names`` that ``owner`` lacks, as "what.name" (empty when all are there)."""
    return [f"{what}.{n}" for n in names if not hasattr(owner, n)]


def _missing_parameters(function, names, what: str) -> list[str]:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return [f"{what}()"]
    return [f"{what}({n}=)" for n in names if n not in parameters]


def _init_sets(cls, names, what: str) -> list[str]:
    """The instance attributes of ``names`` ("self.x") that no ``__init__`` in ``cls``'s MRO assigns."""
    try:
        source = "".join(inspect.getsource(c.__init__) for c in cls.__mro__ if "__init__" in c.__dict__
                         and c.__module__.split(".")[0] != "builtins" and c is not object)
    except (OSError, TypeError):
        return [f"{what}'s source"]
    return [f"{what} ({n} =)" for n in names if not re.search(rf"{re.escape(n)}\s*(:[^=\n]*)?=[^=]", source)]


def _refuse(missing: list[str], warning: str) -> bool:
    """True when nothing is missing; else log ``warning`` with what is missing and return False."""
    if missing:
        log.warning("%s (missing: %s)", warning, ", ".join(missing))
        return False
    return True


def _replace_class(module, name: str, subclass: type, warning: str) -> bool:
    """Let ``module`` build ``subclass`` where it builds ``module.name``, if that is still the class
    ``subclass`` derives from (another version of the library may differ: then warn, change nothing)."""
    current = getattr(module, name, None)
    if current is subclass:
        return True
    if current is None or current is not subclass.__bases__[0]:
        log.warning(warning)
        return False
    setattr(module, name, subclass)
    return True


def install_latest_frame_relay() -> bool:
    """Make streamlit-webrtc relay only the newest video frame between the camera, the frame callback
    and the encoder, dropping the frames that could not be handled in time. Returns True when the
    server's relay is (now) one of these.

    streamlit-webrtc passes every stream through one aiortc MediaRelay per server, whose default
    ``subscribe(buffered=True)`` queues every frame without limit. The outgoing track yields one frame
    per incoming frame (30 fps), so whenever encoding the annotated frames back to the browser is
    slower than that (a busy CPU, several streams) ~1 MB frames pile up: the server grew by 50-100 MB
    a minute on a loaded 2-core machine. Unbuffered, each consumer takes the latest frame, as a live
    view should. Installed at start-up (install_webrtc_tunings), before the process's first stream; a
    no-op outside a Streamlit server (AppTest, scripts).
    """
    from aiortc.contrib.media import MediaRelay
    from streamlit.runtime.runtime import Runtime
    from streamlit_webrtc import eventloop
    from streamlit_webrtc import relay as webrtc_relay

    if not _refuse(_missing(webrtc_relay, ["_SERVER_GLOBAL_RELAY_ATTR_NAME_"], "streamlit_webrtc.relay")
                   + _missing(eventloop, ["get_global_event_loop", "loop_context"], "streamlit_webrtc.eventloop")
                   + _missing(Runtime, ["exists", "instance"], "streamlit Runtime")
                   + _missing_parameters(MediaRelay.subscribe, ["track", "buffered"], "MediaRelay.subscribe"),
                   "streamlit-webrtc's relay is not the expected one: video frames stay buffered"):
        return False
    if not Runtime.exists():
        return False
    runtime = Runtime.instance()
    attr = webrtc_relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
    relay_class = _latest_frame_relay_class()
    get_global_event_loop, loop_context = eventloop.get_global_event_loop, eventloop.loop_context
    current = getattr(runtime, attr, None)
    if isinstance(current, relay_class):
        return True
    if current is not None:  # a buffered relay carries streams already: replacing it would cut them
        log.warning("streamlit-webrtc's relay was created before the live page could make it unbuffered")
        return False
    loop = get_global_event_loop()
    if not isinstance(loop, asyncio.AbstractEventLoop):  # AppTest's runtime has a mock loop: no streams
        return False
    with loop_context(loop):
        setattr(runtime, attr, relay_class())
    return True


@functools.cache
def _latest_frame_relay_class():
    from aiortc.contrib.media import MediaRelay

    class LatestFrameRelay(MediaRelay):
        """A MediaRelay whose video subscribers get the newest frame instead of a growing queue
        (audio would keep its buffer: dropped audio frames are audible gaps)."""

        def subscribe(self, track, buffered: bool = True):
            return super().subscribe(track, buffered=buffered and track.kind != "video")

    return LatestFrameRelay


def install_off_loop_frames() -> bool:
    """Make streamlit-webrtc's synchronous video track run the frame callback in a thread of its own
    stream while the event loop waits for it. Returns True when it does; the page then passes
    ``async_processing=False`` (and True otherwise).

    Measured in the browser (tests/e2e/test_e2e_live.py, 26 Nov, 2-core AVX-512 VM): the labelled
    video was 126-155 ms behind the camera with ``async_processing=True``, 82-89 ms with the plain
    synchronous track and 69-78 ms with this one (medians of single runs). The
    asynchronous track hands each frame to its worker thread and returns at once whatever the worker
    finished before, i.e. the previous frame's result: every frame waits one more camera interval
    (33 ms), plus the time until the worker notices. The synchronous track returns the frame's own
    result but runs the callback on the event loop, which every stream's packets and ICE checks
    share: on a slow machine a few ms to tens of ms a frame, per stream, starve the connections
    (a browser that gets no answer for ~2.5 s reports "disconnected" and streamlit-webrtc's
    frontend then ends the stream). Awaiting the callback in a thread gives the frame's own result
    without blocking the loop; frames that arrive meanwhile are dropped by the relay
    (install_latest_frame_relay), not queued.
    """
    from streamlit_webrtc import process
    from streamlit_webrtc import webrtc as webrtc_module

    warning = "streamlit-webrtc's VideoProcessTrack is not the expected class: frames stay asynchronous"
    track = getattr(process, "VideoProcessTrack", None)
    if not _refuse(_missing(process, ["VideoProcessTrack"], "streamlit_webrtc.process")
                   + _missing(webrtc_module, ["VideoProcessTrack"], "streamlit_webrtc.webrtc")
                   + (_missing(track, ["recv", "stop", "readyState"], "VideoProcessTrack")
                      + _missing_parameters(track.__init__, ["track", "processor"], "VideoProcessTrack.__init__")
                      + _init_sets(track, ["self.track", "self.processor"], "VideoProcessTrack.__init__")
                      if track is not None else []), warning):
        return False
    return _replace_class(webrtc_module, "VideoProcessTrack", _off_loop_track_class(), warning)


@functools.cache
def _off_loop_track_class():
    import concurrent.futures
    import itertools
    from concurrent.futures import ThreadPoolExecutor

    from aiortc.mediastreams import MediaStreamError
    from streamlit_webrtc.process import VideoProcessTrack

    numbers = itertools.count()

    class OffLoopVideoProcessTrack(VideoProcessTrack):
        """streamlit-webrtc's VideoProcessTrack with the processor (our frame callback) run in one
        thread per stream (its TFLite interpreter and cascade are per thread), awaited, not called."""

        def __init__(self, track, processor):
            super().__init__(track, processor)
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"fer-frames-{next(numbers)}")

        async def recv(self):
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.track.recv()
            try:
                job = self._executor.submit(self.processor.recv, frame)
            except RuntimeError:  # the executor was shut down (stop()): the stream ended meanwhile
                raise MediaStreamError from None
            try:
                new_frame = await asyncio.wrap_future(job)
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                if self.readyState != "live":  # stop() cancelled the job: the stream ended
                    raise MediaStreamError from None
                raise
            except Exception:  # noqa: BLE001 - a failing callback (a RuntimeError too) must not end the stream
                log.exception("the frame callback failed; the frame is passed on as it came")
                new_frame = frame
            new_frame.pts, new_frame.time_base = frame.pts, frame.time_base
            return new_frame

        def stop(self):
            super().stop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    return OffLoopVideoProcessTrack


def install_last_packet_frames() -> bool:
    """Make aiortc pass a received video frame to its decoder as soon as the frame's last packet has
    arrived (the RTP marker bit, which VP8 and H.264 senders set on it), instead of when the first
    packet of the next frame arrives, as its jitter buffer otherwise does: that waits one camera
    interval (33 ms at 30 fps) for every frame. Returns True when in place. Audio is unchanged.

    Measured in the browser (tests/e2e/test_e2e_live.py, 26 Nov, 2-core AVX-512 VM): the labelled
    video was 33-43 ms behind the camera (medians of three runs) with this, 69-78 ms without.
    """
    from aiortc import jitterbuffer, rtcrtpreceiver

    warning = "aiortc's JitterBuffer is not the expected class: video frames wait for the next one"
    buffer_class = getattr(jitterbuffer, "JitterBuffer", None)
    missing = (_missing(rtcrtpreceiver, ["JitterBuffer"], "aiortc.rtcrtpreceiver")
               + _missing(jitterbuffer, ["JitterBuffer", "JitterFrame"], "aiortc.jitterbuffer"))
    if buffer_class is not None:
        missing += _missing(buffer_class, ["_remove_frame", "remove", "add", "capacity"], "JitterBuffer")
        missing += _missing_parameters(buffer_class.__init__, ["capacity", "is_video"], "JitterBuffer.__init__")
        missing += _missing_parameters(buffer_class._remove_frame, ["sequence_number"], "JitterBuffer._remove_frame") \
            if hasattr(buffer_class, "_remove_frame") else []
        try:  # the instance's private members, on a probe
            probe = buffer_class(capacity=4, is_video=True)
            missing += _missing(probe, ["_is_video", "_packets", "_origin", "_capacity"], "JitterBuffer()")
        except Exception as exc:  # noqa: BLE001 - any other layout: leave it alone
            missing.append(f"JitterBuffer(capacity=4, is_video=True) ({exc})")
    if hasattr(jitterbuffer, "JitterFrame"):
        missing += _missing_parameters(jitterbuffer.JitterFrame.__init__, ["data", "timestamp"], "JitterFrame.__init__")
    if not _refuse(missing + _receiver_sets_packet_data(rtcrtpreceiver), warning):
        return False
    return _replace_class(rtcrtpreceiver, "JitterBuffer", _last_packet_jitter_buffer_class(), warning)


def _receiver_sets_packet_data(rtcrtpreceiver) -> list[str]:
    """The new buffer joins the packets' ``_data``, which aiortc's receiver sets on each packet after
    depayloading it (not an attribute of RtpPacket itself): check that the receiver still does."""
    try:
        source = inspect.getsource(rtcrtpreceiver)
    except (OSError, TypeError):
        return ["aiortc.rtcrtpreceiver's source (to check packet._data)"]
    return [] if "packet._data = " in source else ["packet._data in aiortc.rtcrtpreceiver"]


@functools.cache
def _last_packet_jitter_buffer_class():
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class LastPacketJitterBuffer(JitterBuffer):
        """aiortc's JitterBuffer; for video, the oldest frame also completes on its marker packet."""

        def _remove_frame(self, sequence_number: int):
            if self._is_video:
                packets, timestamp = [], None
                for count in range(self.capacity):
                    packet = self._packets[(self._origin + count) % self._capacity]
                    if packet is None or (timestamp is not None and packet.timestamp != timestamp):
                        break  # a gap, or the next frame: aiortc's own rule below decides
                    timestamp = packet.timestamp
                    packets.append(packet)
                    if packet.marker:
                        self.remove(count + 1)
                        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
            return super()._remove_frame(sequence_number)

    return LastPacketJitterBuffer


@dataclass(frozen=True)
class WebRtcTunings:
    """Which tunings are in place in this server process."""

    latest_frame_relay: bool
    off_loop_frames: bool
    last_packet_frames: bool


_installed: tuple[WebRtcTunings, bool] | None = None  # (the tunings, whether installed in a Streamlit server)
_install_lock = threading.Lock()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _in_server() -> bool:
    from streamlit.runtime.runtime import Runtime

    return Runtime.exists()


def install_webrtc_tunings() -> WebRtcTunings:
    """Install the three tunings once per server process (app.py calls this at start-up, before any
    stream) and log the library versions they were installed on; later calls return the same result.
    Outside a Streamlit server (AppTest, scripts) the relay cannot be installed, and a later call made
    in a server installs it then."""
    global _installed
    with _install_lock:
        in_server = _in_server()
        if _installed is not None and (_installed[1] or not in_server):
            return _installed[0]
        tunings = WebRtcTunings(install_latest_frame_relay(), install_off_loop_frames(), install_last_packet_frames())
        complete = (tunings.latest_frame_relay or not in_server) and tunings.off_loop_frames and tunings.last_packet_frames
        log.log(logging.INFO if complete else logging.WARNING,  # a tuning that is off: the versions say why
                "WebRTC tunings on streamlit %s, streamlit-webrtc %s, aiortc %s: latest-frame relay %s, frames off "
                "the event loop %s, frames on their last packet %s", _version("streamlit"),
                _version("streamlit-webrtc"), _version("aiortc"),
                *("on" if t else "off" for t in (tunings.latest_frame_relay, tunings.off_loop_frames,
                                                  tunings.last_packet_frames)))
        _installed = (tunings, in_server)
        return tunings
