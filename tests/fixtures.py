"""Test inputs built at run time from real sources: NASA's astronaut portrait (scikit-image) and
real FER-2013 rows read from $FER2013_PATH. Nothing from the dataset is committed to the repo.

Import from a test module with ``from .fixtures import ...`` (pytest.ini: importlib mode).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_core.data import SPLITS
from fer_core.emotions import EMOTIONS

# --- Real photos --------------------------------------------------------------------------------

# Where OpenCV's Haar cascade finds the astronaut's face in skimage.data.astronaut() (x, y, w, h).
ASTRONAUT_FACE = (177, 67, 93, 93)


def astronaut_rgb() -> np.ndarray:
    from skimage import data

    return data.astronaut()  # uint8 [512, 512, 3], RGB, one smiling face


def astronaut_bgr() -> np.ndarray:
    return np.ascontiguousarray(astronaut_rgb()[:, :, ::-1])


def encode(image, fmt: str = "PNG", **params) -> bytes:
    """Bytes of a PIL image or an RGB/gray uint8 array saved in ``fmt``."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of width×height black pixels, compressed to a few tens of KB.

    Built by hand, row by row, so that making it never allocates the full image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def exif_rotated_jpeg(upright_rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG whose pixels are stored turned, with the EXIF Orientation tag that makes them upright
    again, as phone cameras write them."""
    # What a camera stores for each tag: the inverse of the turn the viewer must apply.
    stored = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: np.rot90(a, 2),
        6: lambda a: np.rot90(a, 1),  # viewer turns 90° clockwise
        8: lambda a: np.rot90(a, 3),  # viewer turns 90° counter-clockwise
    }[orientation](upright_rgb)
    img = Image.fromarray(np.ascontiguousarray(stored))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def face_crop(margin: float = 0.3) -> np.ndarray:
    """The astronaut's face (BGR) with ``margin`` × its size of context on each side."""
    x, y, w, h = ASTRONAUT_FACE
    m = int(round(w * margin))
    return astronaut_bgr()[y - m : y + h + m, x - m : x + w + m]


def group_photo(rows: list[tuple[int, int]], background: int = 200, margin: float = 0.3):
    """A 'group photo' of real faces: for each (count, size) in ``rows`` a row of ``count`` copies of
    the astronaut's face scaled to size×size pixels, side by side (sizes vary between rows).

    Returns the BGR image and the tiles' boxes (x, y, w, h)."""
    face = face_crop(margin)
    width = max(n * s for n, s in rows)
    height = sum(s for _, s in rows)
    canvas = np.full((height, width, 3), background, np.uint8)
    tiles, y = [], 0
    for n, s in rows:
        tile = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
        x0 = (width - n * s) // 2
        for i in range(n):
            canvas[y : y + s, x0 + i * s : x0 + (i + 1) * s] = tile
            tiles.append((x0 + i * s, y, s, s))
        y += s
    return canvas, tiles


def box_center_in(box, tile) -> bool:
    x, y, w, h = box
    tx, ty, tw, th = tile
    return tx <= x + w / 2 <= tx + tw and ty <= y + h / 2 <= ty + th


@pytest.fixture(scope="session")
def recognizer():
    """The shipped seed model with the thorough Haar pass (the detector these tests were written for).

    Not the still-image default, BlazeFace: it reads a 192 px copy of the image, and in the large
    group photos below (40 faces of 170-220 px in a 1600 px photo) finds 8 (issue 14)."""
    from fer_core import EmotionRecognizer, HaarFaceDetector
    from fer_core.registry import MODELS_DIR

    if not (MODELS_DIR / "seed" / "model.tflite").is_file():
        pytest.skip(f"the seed model is not in {MODELS_DIR} (train it: python -m fer_core train --name seed --preset seed)")
    return EmotionRecognizer.load("seed", detector=HaarFaceDetector())


# --- Real FER-2013 rows -------------------------------------------------------------------------


def fer2013_path() -> Path:
    """$FER2013_PATH, or skip the calling test with the reason."""
    value = os.environ.get("FER2013_PATH")
    if not value:
        pytest.skip("FER2013_PATH is not set: point it at fer2013.npz to run the data-backed tests (CI does).")
    path = Path(value)
    if not path.exists():
        pytest.fail(f"FER2013_PATH={value} does not exist.")
    return path


_NPZ_CACHE: dict[str, dict] = {}


def fer2013_arrays() -> dict:
    """The npz arrays (images, labels, usage, kaggle_path), loaded once per test session."""
    path = fer2013_path()
    if path.suffix != ".npz":
        pytest.skip(f"these fixtures are built from fer2013.npz; FER2013_PATH is {path}")
    key = str(path.resolve())
    if key not in _NPZ_CACHE:
        with np.load(path, allow_pickle=False) as z:
            _NPZ_CACHE[key] = {k: z[k] for k in ("images", "labels", "usage", "kaggle_path")}
    return _NPZ_CACHE[key]


def fer_sample(per_class: dict[str, int] | int = 3) -> dict:
    """Real rows: the first ``per_class`` rows of each emotion in each split, in file order.

    Returns dict(index, images, labels, usage, kaggle_path), index = row numbers in the npz."""
    arrays = fer2013_arrays()
    if isinstance(per_class, int):
        per_class = {s: per_class for s in SPLITS}
    picked = []
    for u, split in enumerate(SPLITS):
        for label in range(len(EMOTIONS)):
            rows = np.flatnonzero((arrays["usage"] == u) & (arrays["labels"] == label))
            picked.extend(rows[: per_class.get(split, 0)])
    index = np.sort(np.array(picked, dtype=np.int64))
    return {"index": index, **{k: v[index] for k, v in arrays.items()}}


def write_fer_csv(path: Path, sample: dict, header: str = "emotion,pixels,Usage") -> Path:
    """Kaggle's fer2013.csv layout: emotion,pixels,Usage, one row per face."""
    lines = [header]
    for img, label, usage in zip(sample["images"], sample["labels"], sample["usage"]):
        lines.append(f"{int(label)},{' '.join(map(str, img.ravel().tolist()))},{SPLITS[int(usage)]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_kaggle_folders(root: Path, sample: dict, suffix: str = ".jpg") -> dict[str, int]:
    """Kaggle's folder layout (train/<emotion>/Training_*.jpg, test/<emotion>/{Public,Private}Test_*.jpg),
    with the file names the npz records. Returns {relative path: npz row}."""
    where = {}
    for row, img, rel in zip(sample["index"], sample["images"], sample["kaggle_path"]):
        rel = str(Path(str(rel)).with_suffix(suffix))
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        params = {"quality": 100} if suffix == ".jpg" else {}
        file.write_bytes(encode(img, "JPEG" if suffix == ".jpg" else "PNG", **params))
        where[rel] = int(row)
    return where


def message_names_row(message: str, row: int) -> bool:
    return re.search(rf"\brow {row}\b", message) is not None
