"""Video clips the tests make themselves with PyAV: real faces (NASA's astronaut portrait,
scikit-image) moving across a plain background, encoded as H.264 MP4 or VP8 WebM."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .fixtures import face_crop

Placement = tuple[int, int, int]  # x, y, size of one face in a frame


def face_tile(size: int) -> np.ndarray:
    """The astronaut's head (BGR) scaled to size×size."""
    return cv2.resize(face_crop(0.45), (size, size), interpolation=cv2.INTER_AREA)


def scene(width: int, height: int, faces: Sequence[Placement], noise: int = 0,
          rng: np.random.Generator | None = None) -> np.ndarray:
    """A grey frame with a faint gradient and the given faces pasted in (clipped at the edges);
    ``noise`` adds that much random grain to the background (which makes big files)."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = np.linspace(150, 190, width, dtype=np.uint8)[None, :, None]
    if noise:
        grain = (rng or np.random.default_rng(0)).integers(-noise, noise + 1, frame.shape)
        frame[:] = np.clip(frame.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    for x, y, size in faces:
        tile = face_tile(size)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + size, width), min(y + size, height)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]
    return frame


def slide(start: tuple[int, int], end: tuple[int, int], size: int, frames: int) -> Callable[[int], list]:
    """One face moving in a straight line from ``start`` to ``end`` over ``frames`` frames."""
    def at(i: int) -> list[Placement]:
        f = i / max(1, frames - 1)
        return [(round(start[0] + f * (end[0] - start[0])), round(start[1] + f * (end[1] - start[1])), size)]
    return at


def make_clip(target, frames: int, faces: Callable[[int], Sequence[Placement]], *, size=(320, 240),
              fps: int = 30, codec: str = "libx264", container: str | None = None,
              times_ms: Sequence[int] | None = None, rotation: int | None = None, noise: int = 0) -> bytes | Path:
    """Encode ``frames`` frames of ``scene(..., faces(i))``. ``target`` a path (returned) or None
    (the bytes are returned). ``times_ms`` gives each frame's own timestamp; ``rotation`` stores the
    frames turned by that many degrees clockwise with a display matrix that turns them back, as a
    phone does."""
    fmt = container or ("webm" if codec in ("libvpx", "libvpx-vp9") else "mp4")
    buf = io.BytesIO() if target is None else None
    out = av.open(buf if buf is not None else str(target), "w", format=fmt)
    width, height = size
    # Fast settings: libvpx's default ("good") takes ~70 ms a frame even at 320×240.
    options = {"libvpx": {"deadline": "realtime", "cpu-used": "8"}, "libx264": {"preset": "veryfast"},
               "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8"}}
    stream = out.add_stream(codec, rate=fps, options=options.get(codec, {}))
    turned = rotation is not None and rotation % 180 == 90
    stream.width, stream.height = (height, width) if turned else (width, height)
    stream.pix_fmt = "yuv420p"
    if times_ms is not None:
        stream.codec_context.time_base = Fraction(1, 1000)
    if rotation is not None:
        stream.set_display_rotation(rotation)  # counter-clockwise: undoes the clockwise turn below
    rng = np.random.default_rng(0)
    for i in range(frames):
        image = scene(width, height, faces(i), noise, rng)
        if rotation:
            image = np.ascontiguousarray(np.rot90(image, -round(rotation / 90)))  # clockwise
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        if times_ms is not None:
            frame.pts, frame.time_base = int(times_ms[i]), Fraction(1, 1000)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue() if buf is not None else Path(target)


def loop_clip(source: Path, times: int, target: Path) -> Path:
    """``source`` played ``times`` times over, in one file: its packets are copied (not encoded again)
    with their times shifted by one clip length per loop, so even a clip of many minutes takes a moment
    to make. Each loop starts with the source's first (key) frame, so every frame decodes."""
    with av.open(str(source)) as src:
        packets = [p for p in src.demux(video=0) if p.size]
        stream_in = src.streams.video[0]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        with av.open(str(target), "w", format="mp4") as out:
            stream = out.add_stream_from_template(stream_in)
            for loop in range(times):
                for p in packets:  # the same packets every loop, each time one clip length later
                    p.stream = stream
                    if loop:
                        p.pts += span
                        p.dts += span
                    out.mux(p)
    return Path(target)
