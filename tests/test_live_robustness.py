"""The live page's plumbing under stress, without a browser: the frame callback (as streamlit-webrtc
calls it, with av.VideoFrame objects as the camera sends them) survives odd frame sizes and a failing
frame, and the relay between camera, callback and encoder keeps only the newest frame instead of
queueing every frame when the server falls behind (the memory growth of a long stream)."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import numpy as np
import pytest

from dashboard.live import LiveSession, emotion_text
from dashboard.webrtc_tuning import (_last_packet_jitter_buffer_class, _latest_frame_relay_class, _off_loop_track_class,
                                     install_last_packet_frames, install_latest_frame_relay, install_off_loop_frames,
                                     install_webrtc_tunings)
from fer_core import EmotionRecognizer
from fer_core.registry import list_models

from .conftest import REPO
from .fixtures import astronaut_bgr


@pytest.fixture(scope="module")
def recognizer():
    names = list_models()
    assert names, "no shipped model in models/"
    return EmotionRecognizer.load(names[0])


def camera_frame(width: int = 640, height: int = 480) -> av.VideoFrame:
    """A camera-like frame with the astronaut's face, as WebRTC delivers it: yuv420p."""
    image = np.full((height, width, 3), 90, np.uint8)
    face = astronaut_bgr()
    h, w = min(height, 512), min(width, 512)
    image[:h, :w] = face[:h, :w]
    return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")


@pytest.mark.parametrize("size", [(641, 481), (639, 479), (513, 17), (17, 513), (2, 2), (1281, 721)])
def test_callback_takes_odd_sized_camera_frames(recognizer, size):
    """Odd widths and heights (4:2:0 chroma rounds up), slivers and a frame larger than asked for."""
    live = LiveSession(recognizer)
    frame = camera_frame(*size)
    out = live.on_frame(frame)
    assert isinstance(out, av.VideoFrame)
    assert (out.width, out.height) == size
    (report,) = live.next_reports(timeout=5)
    assert report.error is None
    if size in [(641, 481), (639, 479)]:  # a webcam's frame with the face in full
        assert report.main_face is not None and report.main_face.label == "Happy"


def test_callback_survives_a_size_change_mid_stream(recognizer):
    """A camera switching resolution (another camera picked, a phone turned) mid-stream."""
    live = LiveSession(recognizer)
    for size in [(640, 480)] * 3 + [(1281, 721)] * 3 + [(321, 241)] * 2 + [(640, 480)] * 2:
        out = live.on_frame(camera_frame(*size))
        assert (out.width, out.height) == size
    reports = live.next_reports(timeout=5)
    assert len(reports) == 10 and all(r.error is None for r in reports)
    assert reports[-1].main_face is not None


def test_one_failing_frame_is_passed_on_plain_and_the_stream_goes_on(recognizer, monkeypatch):
    live = LiveSession(recognizer)
    frame = camera_frame()
    plain = frame.to_ndarray(format="bgr24")
    assert not np.array_equal(live.on_frame(frame).to_ndarray(format="bgr24"), plain)  # annotated

    def broken(faces):
        raise RuntimeError("the model failed")

    monkeypatch.setattr(recognizer, "classify", broken)
    out = live.on_frame(frame)
    np.testing.assert_array_equal(out.to_ndarray(format="bgr24"), plain)  # the frame as it came
    monkeypatch.undo()
    assert not np.array_equal(live.on_frame(frame).to_ndarray(format="bgr24"), plain)

    ok, failed, ok_again = live.next_reports(timeout=5)
    assert ok.error is None and ok_again.error is None
    assert failed.error == "This frame could not be analysed: the model failed"
    assert failed.main_face is None and emotion_text(failed) == "No face in view"


def test_a_frame_that_cannot_be_converted_is_passed_on(recognizer):
    class Undecodable:
        def to_ndarray(self, format=None):
            raise ValueError("unsupported pixel format")

    frame = Undecodable()
    live = LiveSession(recognizer)
    assert live.on_frame(frame) is frame
    assert live.next_reports(timeout=0.05) == []


# --------------------------------------------------------------------------------------------- the relay

class BurstCamera:
    """An aiortc video track that delivers ``n`` camera frames as fast as it is read, then stalls."""

    def __new__(cls, n: int):
        from aiortc.mediastreams import MediaStreamTrack

        class Track(MediaStreamTrack):
            kind = "video"

            def __init__(self):
                super().__init__()
                self.sent = 0
                self.image = camera_frame(320, 240).to_ndarray(format="bgr24")

            async def recv(self):
                if self.sent >= n:
                    await asyncio.sleep(3600)  # the camera has nothing new (cancelled at the end)
                await asyncio.sleep(0)
                self.sent += 1
                frame = av.VideoFrame.from_ndarray(self.image, format="bgr24")  # a new frame each time
                frame.pts, frame.time_base = self.sent, Fraction(1, 30)
                return frame

        return Track()


async def _fall_behind(relay, n: int = 60):
    """The consumer (the frame callback, the encoder) reads one frame, is busy while the camera sends
    the other ``n - 1``, then reads again. Returns the two frames' numbers and how many wait."""
    camera = BurstCamera(n)
    proxy = relay.subscribe(camera)
    first = (await proxy.recv()).pts  # starts the relay
    while camera.sent < n:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    second = (await asyncio.wait_for(proxy.recv(), 5)).pts
    waiting = proxy._queue.qsize() if proxy._queue is not None else 0
    proxy.stop()
    return (first, second), waiting


def test_plain_relay_queues_every_frame_the_consumer_misses():
    """The reason for install_latest_frame_relay: aiortc's default relay keeps every frame (~1 MB each at
    640x480) for a consumer that falls behind."""
    from aiortc.contrib.media import MediaRelay

    got, waiting = asyncio.run(_fall_behind(MediaRelay()))
    assert got == (1, 2) and waiting == 58


def test_latest_frame_relay_keeps_only_the_newest_video_frame():
    got, waiting = asyncio.run(_fall_behind(_latest_frame_relay_class()()))
    assert got == (1, 60) and waiting == 0  # the newest frame, nothing queued behind it


def test_latest_frame_relay_is_a_no_op_outside_a_streamlit_server():
    assert install_latest_frame_relay() is False


class SlowMarker:
    """A frame callback as streamlit-webrtc's processor calls it: takes ``seconds``, runs in some
    thread, and returns a new frame that says which camera frame it came from (pixel value = pts)."""

    def __init__(self, seconds: float):
        self.seconds, self.threads = seconds, set()

    def recv(self, frame):
        import threading
        import time

        self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        image = np.full((24, 32, 3), frame.pts % 256, np.uint8)
        return av.VideoFrame.from_ndarray(image, format="bgr24")


async def _run_off_loop_track(n: int = 5, seconds: float = 0.05):
    """Read ``n`` frames through the off-loop track while a heartbeat task ticks every 5 ms."""
    processor = SlowMarker(seconds)
    track = _off_loop_track_class()(track=BurstCamera(100), processor=processor)
    ticks, results, stop = [], [], asyncio.Event()

    async def heartbeat():
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            ticks.append(loop.time())
            await asyncio.sleep(0.005)

    beat = asyncio.create_task(heartbeat())
    for _ in range(n):
        frame = await track.recv()
        results.append((frame.pts, int(frame.to_ndarray(format="bgr24")[0, 0, 0])))
    stop.set()
    await beat
    track.stop()
    return results, processor.threads, np.diff(ticks)


def test_frames_are_analysed_off_the_event_loop_and_return_their_own_result():
    """The live page's video track (install_off_loop_frames): each frame comes back with the result
    of its own analysis, not the previous frame's (one camera interval less lag), the analysis runs
    in the stream's own thread, and the event loop, which all streams' packets and ICE checks share,
    keeps running while a frame is analysed."""
    results, threads, gaps = asyncio.run(_run_off_loop_track())
    assert [pts for pts, _ in results] == [1, 2, 3, 4, 5]
    assert all(value == pts for pts, value in results), results  # the frame's own result
    assert len(threads) == 1 and next(iter(threads)).startswith("fer-frames-"), threads
    # 5 frames x 50 ms of analysis: a blocked loop would show 50 ms gaps between heartbeats.
    assert len(gaps) >= 20 and gaps.max() < 0.04, (len(gaps), gaps.max())


def test_streamlit_webrtc_builds_the_off_loop_track():
    from streamlit_webrtc import webrtc as webrtc_module

    assert install_off_loop_frames() is True
    assert webrtc_module.VideoProcessTrack is _off_loop_track_class()
    assert install_off_loop_frames() is True  # idempotent


class FailsOnFrame:
    """A frame callback that raises ``error`` on the frames numbered in ``bad`` and marks the others."""

    def __init__(self, bad, error):
        self.bad, self.error = set(bad), error

    def recv(self, frame):
        if frame.pts in self.bad:
            raise self.error
        return av.VideoFrame.from_ndarray(np.full((24, 32, 3), 200, np.uint8), format="bgr24")


async def _through_failing_track(error, n: int = 4):
    track = _off_loop_track_class()(track=BurstCamera(100), processor=FailsOnFrame({2}, error))
    out = []
    for _ in range(n):
        frame = await asyncio.wait_for(track.recv(), 10)
        out.append((frame.pts, frame.width, frame.to_ndarray(format="bgr24")[0, 0, 0]))
    track.stop()
    return out


@pytest.mark.parametrize("error", [RuntimeError("the model could not run"), ValueError("bad frame")],
                         ids=["RuntimeError", "ValueError"])
def test_a_failing_frame_comes_back_unannotated_and_the_stream_goes_on(error, caplog):
    """The track once caught RuntimeError as 'the executor was shut down' and ended the stream: a frame
    callback's own RuntimeError (TFLite raises them) stopped the live video for good."""
    out = asyncio.run(_through_failing_track(error))
    assert [pts for pts, _, _ in out] == [1, 2, 3, 4]  # the stream went on
    corner = camera_frame(320, 240).to_ndarray(format="bgr24")[0, 0, 0]
    assert out[1][1:] == (320, corner), out[1]  # frame 2 as the camera sent it
    assert all(o[1:] == (32, 200) for o in (out[0], out[2], out[3])), out  # the others analysed
    assert "the frame callback failed" in caplog.text


def test_a_stopped_track_ends_the_stream():
    from aiortc.mediastreams import MediaStreamError

    async def run():
        track = _off_loop_track_class()(track=BurstCamera(100), processor=FailsOnFrame((), RuntimeError()))
        await track.recv()
        track.stop()
        with pytest.raises(MediaStreamError):
            await track.recv()

    asyncio.run(run())


def _rtp(sequence_number: int, timestamp: int, marker: bool, data: bytes):
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(payload_type=96, marker=int(marker), sequence_number=sequence_number, timestamp=timestamp)
    packet._data = data  # what aiortc's receiver stores after depayloading
    return packet


def _frames_released(buffer, packets) -> list:
    """Feed ``packets`` in order; after each, the frame released (its data), or None."""
    return [(f.data if (f := buffer.add(p)[1]) is not None else None) for p in packets]


# Two video frames of three packets each (the last one marked), then the first packet of a third.
TWO_FRAMES = [_rtp(100, 3000, False, b"a1"), _rtp(101, 3000, False, b"a2"), _rtp(102, 3000, True, b"a3"),
              _rtp(103, 6000, False, b"b1"), _rtp(104, 6000, False, b"b2"), _rtp(105, 6000, True, b"b3"),
              _rtp(106, 9000, False, b"c1")]


def test_aiortc_holds_a_video_frame_until_the_next_one_starts():
    """The reason for install_last_packet_frames: aiortc's own jitter buffer releases frame k only
    when frame k+1's first packet arrives, one camera interval after frame k was complete."""
    from aiortc.jitterbuffer import JitterBuffer

    released = _frames_released(JitterBuffer(capacity=512, is_video=True), TWO_FRAMES)
    assert released == [None, None, None, b"a1a2a3", None, None, b"b1b2b3"]


def test_a_video_frame_is_released_with_its_last_packet():
    released = _frames_released(_last_packet_jitter_buffer_class()(capacity=512, is_video=True), TWO_FRAMES)
    assert released == [None, None, b"a1a2a3", None, None, b"b1b2b3", None]


def test_a_frame_with_a_missing_packet_waits_for_it():
    """Out of order: the marked packet comes before the one in the middle; the frame is released,
    whole and in order, when the gap is filled."""
    a1, a2, a3, b1, *_ = TWO_FRAMES
    released = _frames_released(_last_packet_jitter_buffer_class()(capacity=512, is_video=True), [a1, a3, a2, b1])
    assert released == [None, None, b"a1a2a3", None]


def test_audio_keeps_aiortcs_own_rule_and_the_receiver_builds_the_new_buffer():
    from aiortc import rtcrtpreceiver

    audio = _last_packet_jitter_buffer_class()(capacity=16, prefetch=4)
    assert _frames_released(audio, TWO_FRAMES[:3]) == [None, None, None]  # audio waits for its prefetch
    assert install_last_packet_frames() is True
    assert rtcrtpreceiver.JitterBuffer is _last_packet_jitter_buffer_class()
    assert install_last_packet_frames() is True  # idempotent


def test_a_library_of_another_layout_is_left_as_it_is(caplog):
    """Where a future aiortc or streamlit-webrtc builds something else, the tuning warns and changes nothing."""
    import types

    from dashboard.webrtc_tuning import _replace_class

    class Unexpected:
        pass

    module = types.SimpleNamespace(JitterBuffer=Unexpected)
    assert _replace_class(module, "JitterBuffer", _last_packet_jitter_buffer_class(), "not the expected class") is False
    assert module.JitterBuffer is Unexpected
    assert "not the expected class" in caplog.text


def _owner(path: str):
    import importlib

    module, _, cls = path.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, cls) if cls else owner


@pytest.mark.parametrize("tuning, owner, member", [
    ("buffer", "aiortc.jitterbuffer:JitterBuffer", "_remove_frame"),
    ("buffer", "aiortc.jitterbuffer", "JitterFrame"),
    ("track", "streamlit_webrtc.process", "VideoProcessTrack"),
    ("track", "streamlit_webrtc.process:MediaProcessTrack", "__init__"),  # then nothing sets self.track
    ("relay", "streamlit_webrtc.relay", "_SERVER_GLOBAL_RELAY_ATTR_NAME_"),
    ("relay", "streamlit_webrtc.eventloop", "loop_context"),
])
def test_a_missing_private_member_leaves_the_library_as_it_is(tuning, owner, member, monkeypatch, caplog):
    """Each tuning checks every private member it relies on before it replaces anything: with one missing
    (another library version) it replaces nothing, and its warning names what is missing."""
    from aiortc import jitterbuffer, rtcrtpreceiver
    from streamlit_webrtc import process
    from streamlit_webrtc import webrtc as webrtc_module

    # The libraries as they come (an earlier test may have installed the tunings in this process).
    monkeypatch.setattr(rtcrtpreceiver, "JitterBuffer", jitterbuffer.JitterBuffer)
    monkeypatch.setattr(webrtc_module, "VideoProcessTrack", process.VideoProcessTrack)
    track_class = process.VideoProcessTrack
    monkeypatch.delattr(_owner(owner), member)
    install = {"buffer": install_last_packet_frames, "track": install_off_loop_frames,
               "relay": install_latest_frame_relay}[tuning]
    assert install() is False
    assert rtcrtpreceiver.JitterBuffer is jitterbuffer.JitterBuffer
    assert webrtc_module.VideoProcessTrack is track_class
    assert "missing:" in caplog.text and (member in caplog.text or "self.track" in caplog.text), caplog.text


def test_the_tunings_are_installed_once_and_log_the_library_versions(caplog, monkeypatch):
    import importlib.metadata
    import logging

    from dashboard import webrtc_tuning

    # As in a fresh process: an earlier test in this one (an AppTest of app.py) may have installed them.
    monkeypatch.setattr(webrtc_tuning, "_installed", None)
    caplog.set_level(logging.INFO, logger="dashboard.webrtc_tuning")
    first = install_webrtc_tunings()
    assert first.off_loop_frames and first.last_packet_frames
    assert first.latest_frame_relay is False  # no Streamlit server here
    assert f"aiortc {importlib.metadata.version('aiortc')}" in caplog.text
    assert f"streamlit-webrtc {importlib.metadata.version('streamlit-webrtc')}" in caplog.text
    caplog.clear()
    assert install_webrtc_tunings() is first and "WebRTC tunings" not in caplog.text  # once: the same result, no new log
    app = (REPO / "app.py").read_text()
    assert "install_webrtc_tunings()" in app  # at start-up, before any page runs
    live = (REPO / "app_pages" / "live.py").read_text()
    assert "install_" in live and "frames_off_the_event_loop" not in live


def test_a_streamlit_webrtc_worker_error_reaches_the_server_console(capfd):
    """streamlit-webrtc's logger has only a NullHandler: without show_pipeline_warnings its worker
    errors (which end a stream) are printed nowhere. Each message is printed once, however many
    page runs call it."""
    import logging

    from dashboard.logs import show_pipeline_warnings

    show_pipeline_warnings()
    show_pipeline_warnings()  # every page run calls it
    logging.getLogger("streamlit_webrtc.process").error("Error occurred in the WebRTC thread: boom")
    logging.getLogger("streamlit_webrtc.process").info("chatter below the level")
    err = capfd.readouterr().err
    assert err.count("Error occurred in the WebRTC thread: boom") == 1, err
    assert "chatter" not in err
