"""Loading FER-2013 in the forms people have it.

- Kaggle's ``fer2013.csv`` (``emotion,pixels,Usage``; 2,304 space-separated grey levels a row),
- Kaggle's image folders (``train/<emotion>/*.jpg`` and ``test/<emotion>/*.jpg``),
- the ``fer2013.npz`` of this project's shared data (keys: images, labels, usage),
- optionally the FER+ crowd votes (``fer2013new.csv``), row i belonging to row i of FER-2013.

Every loader returns a ``FaceDataset``. A malformed file or row raises ``DataError`` naming the
file and the row (or the image file), before any training starts.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .emotions import EMOTIONS

SPLITS = ("Training", "PublicTest", "PrivateTest")
FACE_SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# A face image in a dataset folder larger than this is not a FER-style crop (and may be a bomb).
MAX_FACE_PIXELS = 4096 * 4096


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


# --- fer2013.npz ----------------------------------------------------------------------------------


def load_npz(path: str | os.PathLike) -> FaceDataset:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in ("images", "labels", "usage") if k not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: not a FER-2013 .npz: it has no {', '.join(repr(k) for k in missing)} array "
                    "(needs images, labels and usage)."
                )
            images, labels, usage = npz["images"], npz["labels"], npz["usage"]
    except DataError:
        raise
    except Exception as exc:  # not a zip, truncated, damaged (BadZipFile, EOFError, zlib.error, ...)
        raise DataError(f"{path}: not a readable FER-2013 .npz file ({type(exc).__name__}: {exc}).") from None
    if images.ndim != 3 or images.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise DataError(f"{path}: images must be [N, 48, 48], found {list(images.shape)}.")
    if not (len(images) == len(labels) == len(usage)):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels and {len(usage)} usage values.")
    if images.dtype != np.uint8:
        if images.size and (images.min() < 0 or images.max() > 255):
            raise DataError(f"{path}: images must hold grey levels 0 to 255.")
    for name, values, limit in (("labels", labels, len(EMOTIONS)), ("usage", usage, len(SPLITS))):
        bad = np.flatnonzero((values < 0) | (values >= limit))
        if len(bad):
            raise DataError(f"{path}: {name}[{bad[0]}] is {values[bad[0]]}, expected 0 to {limit - 1}.")
    return FaceDataset(images.astype(np.uint8), labels.astype(np.uint8), usage.astype(np.uint8), str(path))


# --- fer2013.csv ----------------------------------------------------------------------------------


def _utf8_lines(handle, path: Path) -> Iterator[str]:
    """The file's lines as text; a line that is not UTF-8 is named by its row number."""
    for line_no, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8")  # a BOM from Excel is fine
        except UnicodeDecodeError:
            raise DataError(
                f"{path}, row {line_no}: this is not UTF-8 text; fer2013.csv must be a UTF-8 text file "
                "with the columns emotion,pixels,Usage."
            ) from None


def load_csv(path: str | os.PathLike) -> FaceDataset:
    """Read Kaggle's fer2013.csv. Rows are numbered as a spreadsheet shows them (header = row 1).

    The Usage column is optional: without it every row is Training."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except IsADirectoryError:
        raise DataError(f"{path}: this is a folder, not a CSV file.") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open the file ({exc.strerror or exc}).") from None
    images, labels, usage = [], [], []
    with handle:
        reader = csv.reader(_utf8_lines(handle, path))
        try:
            header_row = next(reader, None)
            if header_row is None:
                raise DataError(f"{path}: the file is empty; expected a header emotion,pixels,Usage and one row per face.")
            header = [h.strip().lower() for h in header_row]
            missing = [c for c in ("emotion", "pixels") if c not in header]
            if missing:
                shown = ",".join(header_row)[:60]
                raise DataError(
                    f"{path}, row 1: the header must name the columns emotion,pixels,Usage; "
                    f"'{', '.join(missing)}' is missing (found '{shown}')."
                )
            col_e, col_p = header.index("emotion"), header.index("pixels")
            col_u = header.index("usage") if "usage" in header else None
            needed = max(c for c in (col_e, col_p, col_u) if c is not None) + 1
            for row in reader:
                row_no = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < needed:
                    raise DataError(
                        f"{path}, row {row_no}: the row has {len(row)} column(s), expected {needed} "
                        f"({','.join(header_row)})."
                    )
                labels.append(_parse_label(row[col_e], path, row_no))
                images.append(_parse_pixels(row[col_p], path, row_no))
                usage.append(_parse_usage(row[col_u], path, row_no) if col_u is not None else 0)
        except csv.Error as exc:
            raise DataError(f"{path}, row {reader.line_num}: this row is not valid CSV ({exc}).") from None
        except OSError as exc:
            raise DataError(f"{path}: the file could not be read ({exc.strerror or exc}).") from None
    if not labels:
        raise DataError(f"{path}: the file has a header but no rows of data.")
    return FaceDataset(np.stack(images), np.array(labels, np.uint8), np.array(usage, np.uint8), str(path))


def _parse_label(text: str, path: Path, row_no: int) -> int:
    try:
        label = int(text)
    except ValueError:
        label = -1
    if not 0 <= label < len(EMOTIONS):
        raise DataError(
            f"{path}, row {row_no}: unknown emotion label '{text.strip()[:20]}' "
            f"(expected a number from 0 to 6: {', '.join(f'{i} {e}' for i, e in enumerate(EMOTIONS))})."
        )
    return label


def _parse_pixels(text: str, path: Path, row_no: int) -> np.ndarray:
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")  # fast; whitespace-separated integers
    except ValueError:
        bad = next((t for t in text.split() if not t.lstrip("+-").isdigit() or not t.isascii()), "?")
        raise DataError(
            f"{path}, row {row_no}: the pixels must be whole numbers from 0 to 255 separated by spaces; "
            f"found '{bad[:20]}'."
        ) from None
    if len(values) != FACE_SIZE * FACE_SIZE:
        raise DataError(
            f"{path}, row {row_no}: expected 2304 pixel values (48×48), found {len(values)}."
        )
    if values.min() < 0 or values.max() > 255:
        bad = values[(values < 0) | (values > 255)][0]
        raise DataError(f"{path}, row {row_no}: pixel values must lie between 0 and 255; found {bad}.")
    return values.astype(np.uint8).reshape(FACE_SIZE, FACE_SIZE)


def _parse_usage(text: str, path: Path, row_no: int) -> int:
    text = text.strip()
    if text not in SPLITS:
        raise DataError(
            f"{path}, row {row_no}: unknown Usage '{text[:20]}' (expected one of {', '.join(SPLITS)})."
        )
    return SPLITS.index(text)


# --- Kaggle's image folders -----------------------------------------------------------------------


def _visible_entries(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{folder}: the folder cannot be read ({exc.strerror or exc}).") from None


def _read_face(file: Path) -> np.ndarray:
    """A grayscale 48×48 face from an image file, or a DataError naming the file."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            if img.size[0] * img.size[1] > MAX_FACE_PIXELS:
                raise DataError(f"{file}: this image is far too large for a face crop ({img.size[0]}×{img.size[1]}).")
            gray = np.asarray(img.convert("L"))  # loads all pixels: a truncated file fails here
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{file}: this file is not an image that can be read.") from None
    except Exception as exc:  # truncated, damaged, unreadable (permissions)
        raise DataError(f"{file}: this image is damaged or cannot be read ({exc}).") from None
    if gray.shape != (FACE_SIZE, FACE_SIZE):
        interp = cv2.INTER_AREA if gray.shape[0] > FACE_SIZE else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (FACE_SIZE, FACE_SIZE), interpolation=interp)
    return gray


def load_folders(root: str | os.PathLike) -> FaceDataset:
    """Read Kaggle's folder layout: ``train/<emotion>/`` is Training; ``test/<emotion>/`` holds
    PublicTest and PrivateTest (split by the file-name prefix; a test image without one counts as
    PublicTest). Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are skipped, and
    so are files that are not images by their suffix."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder.")
    names = {e.lower(): i for i, e in enumerate(EMOTIONS)}
    expected = ", ".join(e.lower() for e in EMOTIONS)
    images, labels, usage = [], [], []
    for split_dir in ("train", "test"):
        folder = root / split_dir
        if not folder.is_dir():
            if split_dir == "train":
                raise DataError(
                    f"{root}: expected a folder 'train/' with one sub-folder per emotion ({expected}), "
                    "and optionally 'test/'."
                )
            continue
        class_dirs = [p for p in _visible_entries(folder) if p.is_dir()]
        if split_dir == "train" and not class_dirs:
            raise DataError(f"{folder}: the folder has no emotion sub-folders (expected {expected}).")
        for class_dir in class_dirs:
            if class_dir.name.lower() not in names:
                raise DataError(f"{class_dir}: unknown emotion folder '{class_dir.name}' (expected {expected}).")
            files = [p for p in _visible_entries(class_dir) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
            if not files:
                raise DataError(
                    f"{class_dir}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                    "remove it or add its images."
                )
            for file in files:
                images.append(_read_face(file))
                labels.append(names[class_dir.name.lower()])
                if split_dir == "train":
                    usage.append(0)
                else:
                    usage.append(2 if file.name.startswith("PrivateTest") else 1)
    if not images:
        raise DataError(f"{root}: no images found under train/ and test/.")
    return FaceDataset(np.stack(images), np.array(labels, np.uint8), np.array(usage, np.uint8), str(root))


# --- FER+ votes -----------------------------------------------------------------------------------

FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
# FER+ vote columns in FER-2013 label order (contempt, unknown and not-a-face are dropped).
_FERPLUS_TO_FER = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def load_ferplus_votes(path: str | os.PathLike, expected_rows: int | None = None) -> np.ndarray:
    """FER+ crowd votes as float [N, 7] in FER-2013 emotion order (row i = FER-2013 row i).

    Rows whose taggers chose none of the seven emotions (FER+ "not a face", "unknown",
    "contempt") are all zeros. ``expected_rows`` (the length of the FER-2013 data the votes go
    with) makes a file of another length a DataError instead of a silent misalignment."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot open the FER+ vote file ({exc.strerror or exc}).") from None
    rows = []
    with handle:
        reader = csv.DictReader(_utf8_lines(handle, path))
        try:
            if reader.fieldnames is None:
                raise DataError(f"{path}: the file is empty; expected FER+'s fer2013new.csv.")
            missing = [c for c in _FERPLUS_TO_FER if c not in reader.fieldnames]
            if missing:
                raise DataError(f"{path}, row 1: not a FER+ vote file: no column(s) {', '.join(missing)}.")
            for row in reader:
                try:
                    votes = [float(row[c]) for c in _FERPLUS_TO_FER]
                except (ValueError, TypeError):
                    raise DataError(
                        f"{path}, row {reader.line_num}: expected a number of votes in each of "
                        f"{', '.join(_FERPLUS_TO_FER)}."
                    ) from None
                if min(votes) < 0 or not all(np.isfinite(votes)):
                    raise DataError(f"{path}, row {reader.line_num}: vote counts cannot be negative.")
                rows.append(votes)
        except csv.Error as exc:
            raise DataError(f"{path}, row {reader.line_num}: this row is not valid CSV ({exc}).") from None
    if expected_rows is not None and len(rows) != expected_rows:
        raise DataError(
            f"{path}: {len(rows)} rows of votes, but the FER-2013 data has {expected_rows}; "
            "row i of the vote file must belong to row i of FER-2013."
        )
    return np.array(rows, np.float32).reshape(-1, len(_FERPLUS_TO_FER))


def describe_data_file(path: str | os.PathLike) -> dict:
    """What a model's info.json records about its training data instead of a path of the machine it was
    trained on: ``{"name", "bytes", "sha256"}`` of the file (a dataset folder: its name, the total size
    of its files, ``"files"``: how many, and the SHA-256 of its manifest, one ``<sha256>  <relative
    path>`` line a file in sorted order). Anyone with a copy of the data can check it is the same."""
    import hashlib

    path = Path(path)

    def file_sha(file: Path) -> str:
        with open(file, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    if path.is_file():
        return {"name": path.name, "bytes": path.stat().st_size, "sha256": file_sha(path)}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith(".") for part in p.relative_to(path).parts))
        manifest = "".join(f"{file_sha(f)}  {f.relative_to(path).as_posix()}\n" for f in files)
        return {"name": path.name, "bytes": sum(f.stat().st_size for f in files), "files": len(files),
                "sha256": hashlib.sha256(manifest.encode()).hexdigest()}
    raise DataError(f"There is no file or folder at '{path}'.")
