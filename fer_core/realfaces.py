"""Labelled real photographs: loading them, splitting them by person or clip, and reading their
faces through the app's whole pipeline (detector → crop → 48×48), as the app would.

Three forms are read (``load_photo_set`` picks by what the path is):

- a folder ``<emotion>/*.jpg`` of a user's own labelled photos (case-insensitive emotion names and
  common synonyms: "happiness", "anger", "sadness", "surprised", "calm", ...);
- ``lfw_expressions.npz`` (keys images, labels, person): real news photographs, one group a person;
- ``sfew_train.npz`` (keys images, labels, filenames): film frames, one group a film clip.

Photos of one group (a person, a film clip) always land on the same side of a split
(``split_groups``), so a held-out figure is about people and clips the model has never seen.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .data import DataError
from .images import PHOTO_SUFFIXES
from .emotions import EMOTIONS
from .preprocess import crop_faces, to_gray

# Folder names accepted for each emotion, lower case (the FER-2013 names come first).
SYNONYMS: dict[str, int] = {}
for _i, _names in enumerate((
    ("angry", "anger", "mad", "annoyed", "rage", "furious"),
    ("disgust", "disgusted", "disgusting"),
    ("fear", "fearful", "afraid", "scared", "fright", "frightened"),
    ("happy", "happiness", "happy face", "joy", "joyful", "smile", "smiling"),
    ("sad", "sadness", "unhappy", "sorrow"),
    ("surprise", "surprised", "surprising", "astonished", "shocked"),
    ("neutral", "neutrality", "calm", "none", "no emotion"),
)):
    for _n in _names:
        SYNONYMS[_n] = _i


def emotion_index(name: str) -> int | None:
    """The FER-2013 index of an emotion named as a folder may name it, or None.

    Case, surrounding spaces, separators (``_``, ``-``) and a leading number (``3_happy``,
    ``03 Happy``) do not matter."""
    key = re.sub(r"[_\-]+", " ", name.strip().lower())
    key = re.sub(r"^\d+\s*", "", key).strip()
    return SYNONYMS.get(key)


class PhotoFiles:
    """Photos in files, read one at a time when asked for (a folder of phone photos would not fit in
    memory at once): a sequence of BGR uint8 arrays, like a list of images."""

    def __init__(self, files):
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i):
        from .images import load_image

        return load_image(self.files[i])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


@dataclass
class PhotoSet:
    """Labelled photos of any size (grey or BGR uint8), each with the group it belongs to."""

    images: list | PhotoFiles  # uint8 arrays [H, W] or [H, W, 3] (BGR), or photo files read when needed
    labels: np.ndarray  # uint8 [N], index into EMOTIONS
    groups: np.ndarray  # str [N]: person / film clip / file; one group never spans both sides of a split
    name: str = ""
    source: str = ""
    skipped: list[str] = field(default_factory=list)  # files that could not be read, with why

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask) -> "PhotoSet":
        idx = np.flatnonzero(mask)
        images = PhotoFiles([self.images.files[i] for i in idx]) if isinstance(self.images, PhotoFiles) \
            else [self.images[i] for i in idx]
        return PhotoSet(images, self.labels[idx], self.groups[idx], self.name, self.source)

    def counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(EMOTIONS)).tolist()


# --- loading -----------------------------------------------------------------------------------


def load_photo_set(path: str | os.PathLike, name: str | None = None) -> PhotoSet:
    """A labelled photo set from a folder ``<emotion>/*`` or one of the npz files named above."""
    path = Path(path)
    if path.is_dir():
        return load_photo_folder(path, name)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path}: expected a folder with one sub-folder per emotion, or an .npz photo set.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if not {"images", "labels"} <= keys or not keys & {"person", "filenames"}:
                raise DataError(f"{path}: not a labelled photo set (needs images, labels and person or filenames).")
            images, labels = npz["images"], npz["labels"]
            groups = npz["person"] if "person" in keys else np.array([clip_of(f) for f in npz["filenames"]])
    except DataError:
        raise
    except Exception as exc:  # not a zip, truncated, damaged
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}).") from None
    if not (len(images) == len(labels) == len(groups)):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels and {len(groups)} groups.")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(EMOTIONS)):
        raise DataError(f"{path}: labels must be 0 to {len(EMOTIONS) - 1} (FER-2013 order).")
    if images.ndim == 4:  # colour photos are stored RGB
        images = images[..., ::-1]
    return PhotoSet(list(np.ascontiguousarray(images)), labels.astype(np.uint8), groups.astype(str),
                    name or path.stem, str(path))


def clip_of(filename: str) -> str:
    """SFEW's ``Train/<Class>/<Film>_<timestamp>_<frame>.png`` → ``<Film>_<timestamp>``, its clip.

    A few of SFEW's names are written differently for frames of the same clip
    (``OceansThirteen-010619400_00000087`` beside ``OceansThirteen_010619400_00000057``,
    ``IAmSam_013827920__00000055`` beside ``IAmSam_013827920_00000034``): any run of ``_`` / ``-``
    between film, timestamp and frame counts as one separator, so those frames are one clip too."""
    stem = Path(str(filename)).stem
    m = re.match(r"^(.*?)[_-]+(\d+)[_-]+\d+$", stem)
    if m:
        return f"{m[1]}_{m[2]}"
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def load_photo_folder(root: str | os.PathLike, name: str | None = None) -> PhotoSet:
    """Photos in ``root/<emotion>/`` (any depth below it). Sub-folders whose name is no emotion are
    a DataError naming them; files that are not readable images are skipped and listed in
    ``skipped``. Each photo is its own group unless the folder holds ``<person>/`` sub-folders
    inside the emotion folders, which then group the photos by person."""
    from .images import ImageError, load_image

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder.")
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DataError(f"{root}: the folder cannot be read ({exc.strerror or exc}).") from None
    expected = "one sub-folder per emotion, named " + ", ".join(e.lower() for e in EMOTIONS)
    if not subdirs:
        raise DataError(f"{root}: no emotion sub-folders found (expected {expected}).")
    unknown = [d.name for d in subdirs if emotion_index(d.name) is None]
    if unknown:
        raise DataError(f"{root}: these folders are not emotions: {', '.join(unknown)} (expected {expected}; "
                        "synonyms such as 'happiness' or 'anger' work too).")
    files, labels, groups, skipped = [], [], [], []
    for d in subdirs:
        label = emotion_index(d.name)
        for f in sorted(d.rglob("*")):
            if not f.is_file() or f.name.startswith(".") or f.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            try:
                load_image(f)  # read once to know it can be; kept as a file, read again when scored
            except (ImageError, OSError) as exc:
                skipped.append(f"{f}: {exc}")
                continue
            files.append(f)
            labels.append(label)
            rel = f.relative_to(d)
            groups.append(f"{rel.parts[0]}" if len(rel.parts) > 1 else f"{d.name}/{f.name}")
    if not files:
        raise DataError(f"{root}: no readable photos in its emotion folders"
                        + (f" ({len(skipped)} files could not be read, e.g. {skipped[0]})" if skipped else "") + ".")
    return PhotoSet(PhotoFiles(files), np.array(labels, np.uint8), np.array(groups, str), name or root.name, str(root),
                    skipped)


# --- splitting by group -------------------------------------------------------------------------

SPLIT_SALT = "fer-core-realfaces-v1"
SPLIT = {"test": 0.3, "val": 0.1}  # the shares of groups held out for testing and for choosing


def split_groups(groups, test: float = SPLIT["test"], val: float = SPLIT["val"], salt: str = SPLIT_SALT) -> np.ndarray:
    """'train' / 'val' / 'test' for each item, decided by a hash of its group alone: every photo of a
    person (or frame of a clip) is on one side, the split does not depend on the order or on the other
    groups, and the same group always lands on the same side. ``val`` is for choosing (epochs,
    settings); ``test`` is the held-out part the figures are reported on."""
    groups = np.asarray(groups).astype(str)
    out = np.empty(len(groups), dtype="<U5")
    for g in np.unique(groups):
        u = int.from_bytes(hashlib.sha256(f"{salt}:{g}".encode()).digest()[:8], "big") / 2**64
        out[groups == g] = "test" if u < test else ("val" if u < test + val else "train")
    return out


# --- the whole pipeline on a photo --------------------------------------------------------------

# A photo set's crops are often framed about as tightly as the face itself (LFW's crops, SFEW's aligned
# frames), where no detector finds the face. A border of this share of the photo's size on each side
# (the edge pixels repeated) gives the detector the context a real photo has.
PAD = 0.3


def pad_photo(image: np.ndarray, pad: float = PAD) -> tuple[np.ndarray, int, int]:
    h, w = image.shape[:2]
    py, px = int(round(h * pad)), int(round(w * pad))
    return cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE), px, py


def main_face(boxes, shape) -> tuple | None:
    """The photo's subject: the largest box, ties broken by closeness to the centre."""
    if not len(boxes):
        return None
    h, w = shape[:2]
    return max(boxes, key=lambda b: (b[2] * b[3], -abs(b[0] + b[2] / 2 - w / 2) - abs(b[1] + b[3] / 2 - h / 2)))


def pipeline_faces(photos: PhotoSet, detector, pad: float = PAD) -> tuple[np.ndarray, np.ndarray, list]:
    """Each photo's main face as the app reads it: detected, cropped and resized to 48×48.

    Returns (faces uint8 [N, 48, 48], found bool [N], boxes in the padded photo or None). A photo where
    the detector finds no face gets a blank crop and ``found`` False."""
    faces = np.zeros((len(photos), 48, 48), np.uint8)
    found = np.zeros(len(photos), bool)
    boxes = []
    for i, image in enumerate(photos.images):
        padded, _, _ = pad_photo(image, pad)
        bgr = padded if padded.ndim == 3 else cv2.cvtColor(padded, cv2.COLOR_GRAY2BGR)
        gray = to_gray(bgr)
        box = main_face(detector.detect(bgr, gray=gray), gray.shape)
        boxes.append(box)
        if box is not None:
            faces[i] = crop_faces(gray, [box])[0]
            found[i] = True
    return faces, found, boxes


@dataclass
class TrainingPhotos:
    """One part ("train" or "val") of a photo set, as 48×48 pipeline crops for training."""

    name: str
    part: str
    faces: np.ndarray  # uint8 [M, 48, 48]
    labels: np.ndarray  # uint8 [M]
    views: int  # crops per photo (one per detector, for "train"); each photo's weight is shared among them
    photos: int  # photos that gave at least one crop
    source: str = ""


def training_photos(photos: PhotoSet, detectors: dict, val_detector: str, test: float = SPLIT["test"],
                    val: float = SPLIT["val"]) -> list[TrainingPhotos]:
    """The "train" and "val" parts of ``photos`` (split_groups; the "test" part is never touched) as
    the pipeline crops them: the train part once per detector in ``detectors`` (name → detector),
    so the network learns the framings of all of them, the val part with ``val_detector`` only.
    Photos where a detector finds no face give no crop for it."""
    side = split_groups(photos.groups, test, val)
    out = []
    for part, names in (("train", list(detectors)), ("val", [val_detector])):
        subset = photos.subset(side == part)
        faces, labels, got = [], [], np.zeros(len(subset), bool)
        for n in names:
            f, found, _ = pipeline_faces(subset, detectors[n])
            faces.append(f[found]), labels.append(subset.labels[found])
            got |= found
        out.append(TrainingPhotos(photos.name, part, np.concatenate(faces), np.concatenate(labels), len(names),
                                  int(got.sum()), photos.source))
    return out
