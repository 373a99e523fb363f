"""How the live page tunes streamlit-webrtc and aiortc for a live view: the newest frame rather than
every frame, each frame's own result without blocking the event loop, and a video frame passed on
as soon as its last packet is in. Each is a small, guarded replacement of one class of those
libraries; where a library's layout differs from the one these were written for, it logs a
warning and leaves that library as it is.

aiortc is imported inside the functions, never at the top: importing it after TensorFlow in one
process crashes, and tests import these modules next to training code.
"""

from __future__ import annotations

import asyncio
import functools
import logging

log = logging.getLogger(__name__)


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


def latest_frame_relay() -> bool:
    """Make streamlit-webrtc relay only the newest video frame between the camera, the frame callback
    and the encoder, dropping the frames that could not be handled in time. Returns True when the
    server's relay is (now) one of these.

    streamlit-webrtc passes every stream through one aiortc MediaRelay per server, whose default
    ``subscribe(buffered=True)`` queues every frame without limit. The outgoing track yields one frame
    per incoming frame (30 fps), so whenever encoding the annotated frames back to the browser is
    slower than that (a busy CPU, several streams) ~1 MB frames pile up: the server grew by 50-100 MB
    a minute on a loaded 2-core machine. Unbuffered, each consumer takes the latest frame, as a live
    view should. Called before every webrtc_streamer call, so it is in place before the process's
    first stream; a no-op outside a Streamlit server (AppTest, scripts).
    """
    from streamlit.runtime.runtime import Runtime
    from streamlit_webrtc import relay as webrtc_relay
    from streamlit_webrtc.eventloop import get_global_event_loop, loop_context

    if not Runtime.exists():
        return False
    runtime = Runtime.instance()
    attr = webrtc_relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
    relay_class = _latest_frame_relay_class()
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


def frames_off_the_event_loop() -> bool:
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
    (latest_frame_relay), not queued.
    """
    from streamlit_webrtc import webrtc as webrtc_module

    return _replace_class(webrtc_module, "VideoProcessTrack", _off_loop_track_class(),
                          "streamlit-webrtc's VideoProcessTrack is not the expected class: frames stay asynchronous")


@functools.cache
def _off_loop_track_class():
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
                new_frame = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self.processor.recv, frame)
            except RuntimeError:  # the executor was shut down: the stream ended meanwhile
                raise MediaStreamError from None
            except Exception:  # noqa: BLE001 - a failing callback must not end the stream
                log.exception("the frame callback failed; the frame is passed on as it came")
                new_frame = frame
            new_frame.pts, new_frame.time_base = frame.pts, frame.time_base
            return new_frame

        def stop(self):
            super().stop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    return OffLoopVideoProcessTrack


def frames_on_their_last_packet() -> bool:
    """Make aiortc pass a received video frame to its decoder as soon as the frame's last packet has
    arrived (the RTP marker bit, which VP8 and H.264 senders set on it), instead of when the first
    packet of the next frame arrives, as its jitter buffer otherwise does: that waits one camera
    interval (33 ms at 30 fps) for every frame. Returns True when in place. Audio is unchanged.

    Measured in the browser (tests/e2e/test_e2e_live.py, 26 Nov, 2-core AVX-512 VM): the labelled
    video was 33-43 ms behind the camera (medians of three runs) with this, 69-78 ms without.
    """
    from aiortc import rtcrtpreceiver

    return _replace_class(rtcrtpreceiver, "JitterBuffer", _last_packet_jitter_buffer_class(),
                          "aiortc's JitterBuffer is not the expected class: video frames wait for the next one")


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
