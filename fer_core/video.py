"""Recorded video: read a file frame by frame, follow and read every face, write an annotated copy.

    from fer_core import EmotionRecognizer
    from fer_core.video import analyze_video
    rec = EmotionRecognizer.load()
    for frame in analyze_video("clip.mp4", rec, annotated="clip-emotions.mp4"):
        for face in frame.faces:
            print(frame.frame, f"{frame.time_s:.2f}", face.face_id, face.label, f"{face.confidence:.0%}")

Decoding goes through PyAV (FFmpeg): whatever it reads (MP4/H.264, WebM/VP8/VP9, MOV, AVI, MKV, ...)
is read one frame at a time, so a long video costs no more memory than a short one, and the
annotated copy is encoded as it goes. Faces are found and followed by fer_core.live.LiveAnalyzer,
as on the live page: each keeps an id while it stays in view and its probabilities are smoothed
over its recent frames. Times come from the stream's own timestamps (pts × time base), so a
variable-frame-rate phone video is timed right; phone rotation metadata (the display matrix) is
applied, so faces are analysed upright.

Problems with the file itself raise VideoError with a plain message that names the file.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Union

import av
import cv2
import numpy as np

from .drawing import draw_results
from .images import MAX_PIXELS  # frames above it are refused before decoding, as photos are (8K UHD is 33.2 million)
from .live import LiveAnalyzer, TrackedFace
from .recognizer import EmotionRecognizer

log = logging.getLogger(__name__)

# File names the command line treats as videos (anything else is read as a photo).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")
# The annotated copy is scaled down to this many pixels on its longer side (a 4K phone video
# would make a copy of several hundred MB; 1280 keeps labels readable).
MAX_OUTPUT_SIDE = 1280
# A face not found for this long (seconds of video) gets a new id when it is found again.
KEEP_LOST_SECONDS = 0.5
# The face detector videos are read with unless one is chosen (the video page's default and predict's):
# with tracking between its full-frame searches it keeps up with 30 fps on one core and follows every face
# of the moving-face clips (benchmarks/bench_video.py, benchmarks/bench_detection.py); the thorough Haar
# pass is about 3x slower.
DEFAULT_DETECTOR = "haar-fast"
# H.264 encoders to try for the annotated copy, best first (PyAV's wheels carry libx264).
H264_ENCODERS = ("libx264", "libopenh264", "h264")

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


class VideoError(ValueError):
    """A video that cannot be (fully) read, with a message meant for the person who supplied it.

    ``frames_done`` > 0 means the file broke off after that many frames: the results up to there
    were already yielded and stay valid."""

    def __init__(self, message: str, frames_done: int = 0):
        super().__init__(message)
        self.frames_done = frames_done


@dataclass
class VideoInfo:
    name: str
    codec: str
    width: int  # as stored (before rotation)
    height: int
    frames: int | None  # frame count from the container's index, or an estimate from the duration
    frames_exact: bool  # True when ``frames`` comes from the container's own count
    duration_s: float | None
    fps: float | None  # average frame rate, when the container knows it


@dataclass
class VideoFrameResult:
    """One analysed frame."""

    frame: int  # 0-based number of the frame in the video (all frames count, analysed or not)
    time_s: float  # from the frame's timestamp, counted from the start of the stream
    faces: list[TrackedFace] = field(default_factory=list)
    done: int = 0  # frames read so far
    total: int | None = None  # frames in the video, when known (may be an estimate: VideoInfo)

    @property
    def progress(self) -> float | None:
        """Share of the video read so far (0–1), or None when the length is unknown."""
        return min(1.0, self.done / self.total) if self.total else None


def _describe(source: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return str(getattr(source, "name", "") or "the video")


class VideoReader:
    """The frames of one video file, one at a time: ``for index, time_s, frame in reader.frames()``.

    ``source`` is a path, the file's bytes or a binary file object (an upload). Frames come as
    upright BGR arrays (rotation metadata applied). Use it as a context manager, or call close()."""

    def __init__(self, source: Source, name: str | None = None):
        self.name = _describe(source, name)
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file():
                raise VideoError(f"There is no video file at '{path}'." if not path.exists()
                                 else f"'{path}' is a folder, not a video file.")
            if path.stat().st_size == 0:
                raise VideoError(f"{self.name} is empty (0 bytes).")
            opened = str(path)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            if len(source) == 0:
                raise VideoError(f"{self.name} is empty (0 bytes).")
            opened = io.BytesIO(bytes(source))
        else:
            try:
                empty = source.seek(0, io.SEEK_END) == 0
                source.seek(0)  # an upload read before starts over
            except (AttributeError, OSError, ValueError):  # not seekable (a pipe): FFmpeg reads it as it comes
                empty = False
            if empty:
                raise VideoError(f"{self.name} is empty (0 bytes).")
            opened = source
        try:
            self._container = av.open(opened, mode="r")
        except av.FFmpegError as exc:
            log.info("cannot open %s: %s", self.name, exc)
            raise VideoError(f"{self.name} is not a video this app can read: it may be another kind of file, "
                             "or a video that is damaged or cut short.") from None
        try:
            self._stream = self._pick_stream()
            self.info = self._info()
        except BaseException:
            self.close()
            raise

    def _pick_stream(self):
        streams = self._container.streams
        if not streams.video:
            if not streams:  # no track at all: an MP4 cut short before its index ends
                raise VideoError(f"{self.name} is not a video this app can read: it is damaged or cut short.")
            what = " (it holds only sound)" if streams.audio else ""
            raise VideoError(f"{self.name} has no video track{what}.")
        stream = streams.video[0]
        if stream.codec_context is None:  # FFmpeg has no decoder for it (or its header is cut short)
            raise VideoError(f"The video of {self.name} cannot be decoded: its format is not supported here, or "
                             "the file is damaged. Convert it to MP4 (H.264) or WebM, or try another copy.")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > MAX_PIXELS:  # a forged header would make every decoded frame huge
            raise VideoError(f"{self.name} is {width}×{height} pixels; videos up to {MAX_PIXELS // 1_000_000} "
                             "megapixels a frame (8K) can be analysed.")
        stream.thread_type = "AUTO"  # frame threads: decoding keeps up on a second core when there is one
        return stream

    def _info(self) -> VideoInfo:
        s = self._stream
        duration = None
        if s.duration is not None and s.time_base:
            duration = float(s.duration * s.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        fps = float(s.average_rate) if s.average_rate else None
        frames, exact = (int(s.frames), True) if s.frames else (None, False)
        if frames is None and duration and fps:
            frames = max(1, round(duration * fps))
        return VideoInfo(self.name, s.codec_context.name, s.codec_context.width, s.codec_context.height,
                         frames, exact, duration, fps)

    def frames(self, every: int = 1, convert_all: bool = True) -> Iterator[tuple[int, float, np.ndarray | None]]:
        """(frame number, seconds, upright BGR image) per decoded frame. With ``convert_all=False``
        only every ``every``-th frame is converted to an image (the others come as None: cheaper)."""
        s = self._stream
        start = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
        step = 1.0 / self.info.fps if self.info.fps else 1 / 30
        index, last_time = 0, None
        try:
            for frame in self._container.decode(s):
                t = frame.time
                t = (last_time + step if last_time is not None else 0.0) if t is None else t - start
                last_time = t
                image = None
                if convert_all or index % every == 0:
                    image = _upright(frame.to_ndarray(format="bgr24"), frame.rotation)
                yield index, t, image
                index += 1
        except av.FFmpegError as exc:
            log.info("decoding %s stopped at frame %d: %s", self.name, index, exc)
            if index == 0:
                raise VideoError(f"{self.name} could not be decoded: it is damaged, or its video format "
                                 "is not supported.") from None
            raise VideoError(f"{self.name} is damaged or cut short: it could be read up to frame {index} "
                             f"({last_time:.1f} s); the results stop there.", frames_done=index) from None
        expected = self.info.duration_s
        if index == 0:
            if expected:  # the header promised frames
                raise VideoError(f"{self.name} is damaged or cut short: none of its frames could be read.")
            raise VideoError(f"{self.name} holds no video frames.")
        if expected and last_time + step < 0.9 * expected - step:  # the file ends before its header says
            raise VideoError(f"{self.name} is cut short: it ends after {last_time:.1f} s (frame {index}) of the "
                             f"{expected:.1f} s its header announces; the results stop there.", frames_done=index)

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _upright(image: np.ndarray, rotation: int | float | None) -> np.ndarray:
    """Apply a display matrix's rotation (PyAV: degrees counter-clockwise, -180..180)."""
    turns = round((rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def h264_encoder() -> str:
    """The name of an H.264 encoder this PyAV build has (RuntimeError if none)."""
    for name in H264_ENCODERS:
        try:
            av.Codec(name, "w")
            return name
        except Exception:  # not in this build
            continue
    raise RuntimeError("This PyAV build has no H.264 encoder, so no annotated video can be written.")


class AnnotatedWriter:
    """An H.264 MP4 (yuv420p, which every browser plays) written frame by frame to a path or a
    binary file object; frames keep the times they are given."""

    def __init__(self, target: str | os.PathLike | BinaryIO, fps: float | None):
        self._target = str(target) if isinstance(target, (str, os.PathLike)) else target
        self._fps = Fraction(fps).limit_denominator(1001) if fps else Fraction(30)
        self._container = None
        self._stream = None
        self._last_pts = -1
        self._size = None

    def _open(self, width: int, height: int) -> None:
        scale = min(1.0, MAX_OUTPUT_SIDE / max(width, height))
        w, h = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2  # yuv420p needs even sides
        size = (max(2, w), max(2, h))
        encoder = h264_encoder()  # before the file is created: without one, no empty MP4 is left behind
        # faststart (the index before the data, for playing while downloading) needs a file it can reopen
        options = {"movflags": "+faststart"} if isinstance(self._target, str) else {}
        container = av.open(self._target, mode="w", format="mp4", options=options)
        try:
            stream = container.add_stream(
                encoder, rate=self._fps,
                options={"crf": "23", "preset": "veryfast"} if encoder == "libx264" else {})
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)  # milliseconds: the source's own times
        except BaseException:
            container.close()
            raise
        self._container, self._stream, self._size = container, stream, size

    def write(self, image_bgr: np.ndarray, time_s: float) -> None:
        if self._container is None:
            self._open(image_bgr.shape[1], image_bgr.shape[0])
        pts = max(self._last_pts + 1, int(round(time_s * 1000)))
        self._last_pts = pts
        if (image_bgr.shape[1], image_bgr.shape[0]) != self._size:
            image_bgr = cv2.resize(image_bgr, self._size, interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(image_bgr, format="bgr24")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._container is None:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None


def analyze_video(source: Source, recognizer: EmotionRecognizer, *, every: int = 1, smoothing: int = 5,
                  track_every: int = 10, annotated: str | os.PathLike | BinaryIO | None = None,
                  name: str | None = None) -> Iterator[VideoFrameResult]:
    """Analyse every ``every``-th frame of a video; yield one VideoFrameResult per analysed frame.

    Faces are followed as on the live page (a full search every ``track_every`` analysed frames,
    a local one in between) and each face's probabilities are averaged over its last
    ``smoothing`` analysed frames. With ``annotated`` (a path or a binary file object) an H.264
    MP4 of every frame with the faces' boxes and labels is written as the frames go by (frames
    between two analysed ones show the last analysed frame's faces).

    Raises VideoError for a file that cannot be read; if it breaks off part-way, the frames
    before the break have been yielded and the annotated copy holds them. Closing the generator
    early (a cancel) closes the file and finishes the annotated copy up to there.
    """
    every = max(1, int(every))
    with VideoReader(source, name) as reader:
        info = reader.info
        fps = info.fps or 30.0
        keep_lost = max(2, round(KEEP_LOST_SECONDS * fps / every))
        analyzer = LiveAnalyzer(recognizer, smoothing=smoothing, track_every=track_every, keep_lost=keep_lost)
        writer = AnnotatedWriter(annotated, info.fps) if annotated is not None else None
        faces: list[TrackedFace] = []
        total = info.frames
        try:
            for index, t, image in reader.frames(every, convert_all=writer is not None):
                analysed = index % every == 0
                if analysed:
                    faces = analyzer.analyze(image)
                if writer is not None:
                    writer.write(draw_results(image, faces, copy=False), t)
                if analysed:
                    if total is not None and index + 1 > total:  # an estimate that was short
                        total = index + 1
                    yield VideoFrameResult(index, t, faces, index + 1, total)
        finally:
            if writer is not None:
                writer.close()
