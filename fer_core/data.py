"""Loading FER-2013 in the forms people have it.

- Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``; 2,304 space-separated grey levels a row),
- Kaggle's image folders (``train/<emotion>/*.jpg`` and ``test/<emotion>/*.jpg``),
- the ``fer2013.npz`` of this project's shared data (keys: images, labels, usage),
- optionally the FER+ crowd votes (``fer2013new.csv``), row i belonging to row i of FER-2013.

Every loader returns a ``FaceDataset``. A malformed file or row raises ``DataError`` naming the
file and the row, before any training starts.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .emotions import EMOTIONS

SPLITS = ("Training", "PublicTest", "PrivateTest")
FACE_SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class DataError(ValueError):
    """A dataset file that cannot be used; the message names the file and, where it can, the row."""


@dataclass
class FaceDataset:
    images: np.ndarray  # uint8 [N, 48, 48]
    labels: np.ndarray  # uint8 [N], index into EMOTIONS
    usage: np.ndarray  # uint8 [N], index into SPLITS
    source: str = ""

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split: 'Training', 'PublicTest' or 'PrivateTest'."""
        mask = self.usage == SPLITS.index(name)
        return self.images[mask], self.labels[mask]

    def counts(self) -> dict[str, list[int]]:
        """Images per emotion for each split present."""
        return {
            s: np.bincount(self.labels[self.usage == i], minlength=len(EMOTIONS)).tolist()
            for i, s in enumerate(SPLITS)
            if (self.usage == i).any()
        }

    def __len__(self) -> int:
        return len(self.labels)


def load_fer2013(path: str | os.PathLike) -> FaceDataset:
    """Load FER-2013 from a .npz, a .csv or a Kaggle folder, whichever ``path`` is."""
    path = Path(path)
    if path.is_dir():
        return load_folders(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.suffix.lower() == ".csv":
        return load_csv(path)
    raise DataError(f"{path}: expected fer2013.csv, fer2013.npz or a folder with train/ and test/.")


def load_npz(path: str | os.PathLike) -> FaceDataset:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, usage = npz["images"], npz["labels"], npz["usage"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a FER-2013 .npz with images, labels and usage ({exc}).") from None
    if images.shape[1:] != (FACE_SIZE, FACE_SIZE) or not (len(images) == len(labels) == len(usage)):
        raise DataError(f"{path}: images must be [N, 48, 48] with one label and usage each.")
    return FaceDataset(images.astype(np.uint8), labels.astype(np.uint8), usage.astype(np.uint8), str(path))


def load_csv(path: str | os.PathLike) -> FaceDataset:
    """Read Kaggle's fer2013.csv. Rows are numbered as a spreadsheet shows them (header = row 1)."""
    path = Path(path)
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot open the file ({exc.strerror}).") from None
    images, labels, usage = [], [], []
    with handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if "emotion" not in header or "pixels" not in header:
            raise DataError(f"{path}, row 1: the header must name the columns emotion,pixels[,Usage].")
        col_e, col_p = header.index("emotion"), header.index("pixels")
        col_u = header.index("usage") if "usage" in header else None
        try:
            for row_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                labels.append(_parse_label(row[col_e], path, row_no))
                images.append(_parse_pixels(row[col_p], path, row_no))
                usage.append(_parse_usage(row[col_u] if col_u is not None else "Training", path, row_no))
        except IndexError:
            raise DataError(f"{path}, row {row_no}: the row has too few columns.") from None
        except UnicodeDecodeError:
            raise DataError(f"{path}: this is not a text CSV file.") from None
    if not labels:
        raise DataError(f"{path}: the file holds no rows of data.")
    return FaceDataset(np.stack(images), np.array(labels, np.uint8), np.array(usage, np.uint8), str(path))


def _parse_label(text: str, path: Path, row_no: int) -> int:
    try:
        label = int(text)
    except ValueError:
        label = -1
    if not 0 <= label < len(EMOTIONS):
        raise DataError(f"{path}, row {row_no}: unknown emotion label '{text}' (expected 0 to 6).")
    return label


def _parse_pixels(text: str, path: Path, row_no: int) -> np.ndarray:
    parts = text.split()
    if len(parts) != FACE_SIZE * FACE_SIZE:
        raise DataError(
            f"{path}, row {row_no}: expected 2304 pixel values (48×48), found {len(parts)}."
        )
    try:
        values = np.array(parts, dtype=np.int32)
    except ValueError:
        raise DataError(f"{path}, row {row_no}: the pixels must be whole numbers from 0 to 255.") from None
    if values.min() < 0 or values.max() > 255:
        raise DataError(f"{path}, row {row_no}: pixel values must lie between 0 and 255.")
    return values.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE)


def _parse_usage(text: str, path: Path, row_no: int) -> int:
    text = text.strip()
    if text not in SPLITS:
        raise DataError(f"{path}, row {row_no}: unknown Usage '{text}' (expected one of {', '.join(SPLITS)}).")
    return SPLITS.index(text)


def load_folders(root: str | os.PathLike) -> FaceDataset:
    """Read Kaggle's folder layout: ``train/<emotion>/`` is Training; ``test/<emotion>/`` holds
    PublicTest and PrivateTest (split by the file-name prefix; a test image without one counts as
    PublicTest)."""
    import cv2

    root = Path(root)
    names = {e.lower(): i for i, e in enumerate(EMOTIONS)}
    images, labels, usage = [], [], []
    for split_dir in ("train", "test"):
        folder = root / split_dir
        if not folder.is_dir():
            if split_dir == "train":
                raise DataError(f"{root}: expected a folder 'train/' with one sub-folder per emotion.")
            continue
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name.lower() not in names:
                raise DataError(
                    f"{class_dir}: unknown emotion folder '{class_dir.name}' "
                    f"(expected {', '.join(e.lower() for e in EMOTIONS)})."
                )
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{class_dir}: the folder holds no images.")
            for file in files:
                img = cv2.imread(str(file), cv2.IMREAD_GRAYSCALE)
                if img is None:
                    raise DataError(f"{file}: this image cannot be read.")
                if img.shape != (FACE_SIZE, FACE_SIZE):
                    img = cv2.resize(img, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
                images.append(img)
                labels.append(names[class_dir.name.lower()])
                if split_dir == "train":
                    usage.append(0)
                else:
                    usage.append(2 if file.name.startswith("PrivateTest") else 1)
    if not images:
        raise DataError(f"{root}: no images found under train/ and test/.")
    return FaceDataset(np.stack(images), np.array(labels, np.uint8), np.array(usage, np.uint8), str(root))


FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ vote columns in FER-2013 label order (contempt, unknown and not-a-face are dropped).
_FERPLUS_TO_FER = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def load_ferplus_votes(path: str | os.PathLike) -> np.ndarray:
    """FER+ crowd votes as float [N, 7] in FER-2013 emotion order (row i = FER-2013 row i)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row_no, row in enumerate(reader, start=2):
            try:
                rows.append([float(row[c]) for c in _FERPLUS_TO_FER])
            except (KeyError, ValueError, TypeError):
                raise DataError(f"{path}, row {row_no}: expected numeric FER+ vote columns.") from None
    return np.array(rows, np.float32)
