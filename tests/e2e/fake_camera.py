"""A fake webcam for Chromium: a .y4m video of a real face (NASA's astronaut portrait) moving across the frame.

Chromium plays the file in a loop through ``--use-file-for-fake-video-capture=FILE.y4m``.
The format is YUV4MPEG2: a one-line text header, then per frame ``FRAME\\n`` and the raw
I420 planes (Y at full resolution, then U and V at half resolution each way).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut portrait (Eileen Collins, public domain), 512×512, as BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def moving_face_frames(width: int = 640, height: int = 480, fps: int = 30, seconds: float = 10.0):
    """Yield BGR frames: the astronaut's head and shoulders sliding left and right over a plain wall."""
    portrait = astronaut_bgr()[10:270, 95:355]  # head and neck: the face is about a third of the crop
    side = int(height * 0.65)
    portrait = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    background = np.full((height, width, 3), (200, 190, 180), np.uint8)  # a light grey-blue wall
    # a gentle horizontal gradient so that the wall is not perfectly flat
    background[:] = (background.astype(np.int16) + np.linspace(-20, 20, width)[None, :, None]).clip(0, 255).astype(np.uint8)
    n = int(round(fps * seconds))
    travel = width - side
    top = (height - side) // 2
    for i in range(n):
        phase = i / max(1, n - 1)
        # there and back once: the face ends where it starts, so the loop has no jump
        x = int(round(travel * (1 - abs(2 * phase - 1))))
        frame = background.copy()
        frame[top:top + side, x:x + side] = portrait
        yield frame


def write_y4m(path: str | Path, frames, width: int, height: int, fps: int) -> Path:
    """Write BGR frames as a YUV4MPEG2 (4:2:0, 8-bit) file."""
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs an even width and height")
    path = Path(path)
    count = 0
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in frames:
            if frame.shape != (height, width, 3):
                raise ValueError(f"frame {count} is {frame.shape}, expected {(height, width, 3)}")
            i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)  # (H*3/2, W): Y, then U, then V
            out.write(b"FRAME\n")
            out.write(np.ascontiguousarray(i420).tobytes())
            count += 1
    if not count:
        raise ValueError("no frames")
    return path


def read_y4m(path: str | Path) -> list[np.ndarray]:
    """Read a file written by write_y4m back as BGR frames (used to check the writer)."""
    raw = Path(path).read_bytes()
    header, _, body = raw.partition(b"\n")
    fields = header.decode("ascii").split()
    assert fields[0] == "YUV4MPEG2", fields
    width = int(next(f[1:] for f in fields if f.startswith("W")))
    height = int(next(f[1:] for f in fields if f.startswith("H")))
    size = width * height * 3 // 2
    frames, pos = [], 0
    while pos < len(body):
        assert body[pos:pos + 6] == b"FRAME\n", f"bad frame marker at {pos}"
        pos += 6
        plane = np.frombuffer(body[pos:pos + size], np.uint8).reshape(height * 3 // 2, width)
        frames.append(cv2.cvtColor(plane, cv2.COLOR_YUV2BGR_I420))
        pos += size
    return frames


def build_fake_camera(path: str | Path, width: int = 640, height: int = 480, fps: int = 30,
                      seconds: float = 10.0) -> Path:
    """The test camera: ``seconds`` of the astronaut moving across a ``width``×``height`` frame."""
    return write_y4m(path, moving_face_frames(width, height, fps, seconds), width, height, fps)


if __name__ == "__main__":  # python tests/e2e/fake_camera.py out.y4m
    import sys

    print(build_fake_camera(sys.argv[1] if len(sys.argv) > 1 else "fake_camera.y4m"))
