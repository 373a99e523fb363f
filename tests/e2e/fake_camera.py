"""A fake webcam for Chromium: a .y4m video of a real face (NASA's astronaut portrait) moving across the frame.

Chromium plays the file in a loop through ``--use-file-for-fake-video-capture=FILE.y4m``.
The format is YUV4MPEG2: a one-line text header, then per frame ``FRAME\\n`` and the raw
I420 planes (Y at full resolution, then U and V at half resolution each way).

Every frame carries its own number in a strip of black and white blocks in the top-left corner
(``draw_frame_index`` / ``read_frame_index``), above the face and its label, so that a test can
tell which camera frame a video frame in the browser shows, even after VP8 compression both ways.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def astronaut_bgr() -> np.ndarray:
    """scikit-image's astronaut portrait (Eileen Collins, public domain), 512×512, as BGR."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


# The frame-number strip, in pixels of a 640x480 frame (scaled with the frame): blocks of BLOCK px on
# VP8's 16 px macroblock grid, from (INDEX_X, INDEX_Y): a black and a white reference block, the
# frame number's INDEX_BITS bits in Gray code (consecutive frames differ in one block, so a frame
# the encoder only half updated reads as its neighbour, not as a random number), and a parity block.
BLOCK = 32
INDEX_X, INDEX_Y = 16, 16
INDEX_BITS = 9  # up to 512 frames; the camera plays 300
INDEX_BLOCKS = 2 + INDEX_BITS + 1
INDEX_REF = 640  # the frame width the positions above are for


def _index_blocks(index: int) -> list[int]:
    """0 (black) or 1 (white) for each block of the strip of frame ``index``."""
    gray = index ^ (index >> 1)
    bits = [(gray >> b) & 1 for b in reversed(range(INDEX_BITS))]
    return [0, 1, *bits, sum(bits) % 2]


def draw_frame_index(frame: np.ndarray, index: int) -> np.ndarray:
    """Draw frame number ``index`` (0 <= index < 2**INDEX_BITS) into ``frame`` (BGR, in place)."""
    if not 0 <= index < 2 ** INDEX_BITS:
        raise ValueError(f"frame index {index} does not fit in {INDEX_BITS} bits")
    s = frame.shape[1] / INDEX_REF
    for k, value in enumerate(_index_blocks(index)):
        x0, y0 = round((INDEX_X + k * BLOCK) * s), round(INDEX_Y * s)
        frame[y0:y0 + round(BLOCK * s), x0:x0 + round(BLOCK * s)] = 255 if value else 0
    return frame


def read_frame_index(frame: np.ndarray) -> int | None:
    """The frame number drawn by draw_frame_index, or None when the strip is not readable.

    Works on frames of any size with the camera's aspect (the browser may scale the video): each
    block is read as the mean brightness of its inner half, compared with the two reference
    blocks. None when the references are not clearly black and white, when a block is neither
    (the encoder smeared it), or when the parity is wrong.
    """
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    s = gray.shape[1] / INDEX_REF
    levels = []
    for k in range(INDEX_BLOCKS):
        x0, y0 = (INDEX_X + k * BLOCK + BLOCK / 4) * s, (INDEX_Y + BLOCK / 4) * s
        patch = gray[round(y0):round(y0 + BLOCK * s / 2), round(x0):round(x0 + BLOCK * s / 2)]
        if patch.size == 0:
            return None
        levels.append(float(patch.mean()))
    black, white = levels[0], levels[1]
    if white - black < 100:
        return None
    bits = []
    for level in levels[2:]:
        t = (level - black) / (white - black)
        if 0.3 < t < 0.7:
            return None
        bits.append(int(t >= 0.5))
    if sum(bits[:-1]) % 2 != bits[-1]:
        return None
    gray_code = int("".join(map(str, bits[:-1])), 2)
    index, shift = gray_code, gray_code >> 1
    while shift:  # Gray code back to binary
        index ^= shift
        shift >>= 1
    return index


def face_track(width: int = 640, height: int = 480, fps: int = 30, seconds: float = 10.0):
    """(left edge x of the portrait in each frame, the portrait's top y, its side): where the face is."""
    side = int(height * 0.65)
    n = int(round(fps * seconds))
    travel = width - side
    # there and back once: the face ends where it starts, so the loop has no jump
    xs = [int(round(travel * (1 - abs(2 * (i / max(1, n - 1)) - 1)))) for i in range(n)]
    return xs, (height - side) // 2, side


def moving_face_frames(width: int = 640, height: int = 480, fps: int = 30, seconds: float = 10.0,
                       frame_index: bool = True):
    """Yield BGR frames: the astronaut's head and shoulders sliding left and right over a plain wall,
    each frame with its number in the top-left corner (``frame_index``; see draw_frame_index)."""
    xs, top, side = face_track(width, height, fps, seconds)
    portrait = astronaut_bgr()[10:270, 95:355]  # head and neck: the face is about a third of the crop
    portrait = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
    background = np.full((height, width, 3), (200, 190, 180), np.uint8)  # a light grey-blue wall
    # a gentle horizontal gradient so that the wall is not perfectly flat
    background[:] = (background.astype(np.int16) + np.linspace(-20, 20, width)[None, :, None]).clip(0, 255).astype(np.uint8)
    for i, x in enumerate(xs):
        frame = background.copy()
        frame[top:top + side, x:x + side] = portrait
        if frame_index:
            draw_frame_index(frame, i)
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


def read_y4m(path: str | Path, indices=None) -> list[np.ndarray]:
    """Read a file written by write_y4m back as BGR frames (used to check the writer); only the
    frames numbered in ``indices`` (in that order) when given."""
    raw = Path(path).read_bytes()
    header, _, body = raw.partition(b"\n")
    fields = header.decode("ascii").split()
    assert fields[0] == "YUV4MPEG2", fields
    width = int(next(f[1:] for f in fields if f.startswith("W")))
    height = int(next(f[1:] for f in fields if f.startswith("H")))
    size = width * height * 3 // 2
    starts, pos = [], 0
    while pos < len(body):
        assert body[pos:pos + 6] == b"FRAME\n", f"bad frame marker at {pos}"
        starts.append(pos + 6)
        pos += 6 + size
    frames = []
    for i in range(len(starts)) if indices is None else indices:
        plane = np.frombuffer(body[starts[i]:starts[i] + size], np.uint8).reshape(height * 3 // 2, width)
        frames.append(cv2.cvtColor(plane, cv2.COLOR_YUV2BGR_I420))
    return frames


def build_fake_camera(path: str | Path, width: int = 640, height: int = 480, fps: int = 30,
                      seconds: float = 10.0) -> Path:
    """The test camera: ``seconds`` of the astronaut moving across a ``width``×``height`` frame."""
    return write_y4m(path, moving_face_frames(width, height, fps, seconds), width, height, fps)


if __name__ == "__main__":  # python tests/e2e/fake_camera.py out.y4m
    import sys

    print(build_fake_camera(sys.argv[1] if len(sys.argv) > 1 else "fake_camera.y4m"))
