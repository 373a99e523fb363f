"""Evaluating a model file on PublicTest and PrivateTest, exactly as the app runs it (TFLite)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from .classifier import TFLiteClassifier
from .data import SPLITS, FaceDataset
from .calibration import apply_temperature
from .metrics import expected_calibration_error, score


def predict_in_batches(classify, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([classify(images[i : i + batch]) for i in range(0, len(images), batch)])


TTA_MODES = ("flip", "tencrop")


def ten_crops(faces: np.ndarray, crop: int = 44) -> list[np.ndarray]:
    """Ten views of each face: the four corner and the centre crops (44 of 48 pixels, resized back
    to 48×48), each also mirrored."""
    n, size = len(faces), faces.shape[1]
    m, c = size - crop, (size - crop) // 2
    views = []
    for y, x in ((0, 0), (0, m), (m, 0), (m, m), (c, c)):
        cut = faces[:, y : y + crop, x : x + crop]
        resized = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in cut]) if n else faces
        views += [resized, resized[:, :, ::-1]]
    return views


def with_tta(classify, mode: str | None):
    """``classify`` averaged over test-time views: None (one crop), "flip" (the face and its
    mirror image, twice the cost) or "tencrop" (ten views, ten times the cost)."""
    if mode is None:
        return classify
    if mode == "flip":
        return lambda f: (classify(f) + classify(f[:, :, ::-1])) / 2
    if mode == "tencrop":
        return lambda f: np.mean([classify(np.ascontiguousarray(v)) for v in ten_crops(f)], axis=0)
    raise ValueError(f"unknown test-time augmentation '{mode}' (choose from {', '.join(TTA_MODES)})")


def ferplus_majority(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows with a FER+ majority among the seven emotions, that majority): rows without an
    emotion vote (FER+ "not a face", "unknown", "contempt" only) and tied tops are left out."""
    top = votes.max(1)
    single_top = (votes == top[:, None]).sum(1) == 1
    keep = (top > 0) & single_top
    return keep, votes.argmax(1)


def evaluate_model_file(path: str | os.PathLike, data: FaceDataset, splits=("PublicTest", "PrivateTest"),
                        tta: bool | str | None = None, ferplus: np.ndarray | None = None) -> dict:
    """Figures per split for the .tflite model at ``path``: the content of metrics.json.

    ``tta``: test-time augmentation, "flip" (True means "flip") or "tencrop"; metrics.json and
    the app use single crops. ``ferplus``: FER+ votes [N, 7] aligned with ``data``'s rows (see
    load_ferplus_votes); adds each split's accuracy against the FER+ majority label.
    """
    single = TFLiteClassifier(path, threads=os.cpu_count() or 1)
    temperature, single.temperature = single.temperature, 1.0  # raw outputs; calibrated below
    classify = with_tta(single, "flip" if tta is True else (tta or None))
    out = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split}")
        x, y = data.split(split)
        if len(x):
            raw = predict_in_batches(classify, x)
            out[split] = score(apply_temperature(raw, temperature), y)
            out[split]["ece_uncalibrated"] = round(expected_calibration_error(raw, y), 4)
            out[split]["temperature"] = temperature
            if ferplus is not None:
                keep, majority = ferplus_majority(ferplus[data.usage == SPLITS.index(split)])
                hit = raw.argmax(1)[keep] == majority[keep]
                out[split]["ferplus_majority_accuracy"] = round(float(hit.mean()), 4)
                out[split]["ferplus_n"] = int(keep.sum())
    return out


# --- Real photos, through the whole pipeline --------------------------------------------------------


PHOTO_PARTS = ("test", "val", "train", "all")


def default_part(photos) -> str:
    """The part of a photo set that is scored: the held-out ``test`` people / clips of a set whose
    other parts may be trained on (the npz sets), every photo (``all``) of a user's own folder."""
    return "test" if Path(photos.source).suffix.lower() == ".npz" else "all"


class PhotoCrops:
    """One part of a photo set as the pipeline reads it with one detector: each photo's main face
    found, cropped and resized to 48×48 (``realfaces.pipeline_faces``). Computed once, scored for
    any number of models."""

    from .realfaces import SPLIT  # split_groups' shares, recorded with every figure

    def __init__(self, photos, detector=None, part: str | None = None):
        from .faces import default_still_detector, make_detector
        from .realfaces import PAD, pipeline_faces, split_groups

        part = part or default_part(photos)
        if part not in PHOTO_PARTS:
            raise ValueError(f"unknown part '{part}' of a photo set (choose from {', '.join(PHOTO_PARTS)})")
        if detector is None:
            detector = default_still_detector()
        self.detector_name = detector if isinstance(detector, str) else repr(detector)
        detector = make_detector(detector) if isinstance(detector, str) else detector
        chosen = photos if part == "all" else photos.subset(split_groups(photos.groups, **self.SPLIT) == part)
        if not len(chosen):
            raise ValueError(f"{photos.name}: its '{part}' part holds no photo.")
        self.name, self.source, self.part, self.pad = photos.name, photos.source, part, PAD
        self.labels = chosen.labels
        self.groups = chosen.groups
        self.skipped = list(photos.skipped)
        self.faces, self.found, _ = pipeline_faces(chosen, detector)
        self._description = None

    def __len__(self) -> int:
        return len(self.labels)

    def describe(self) -> dict:
        """What a stored figure says about the photos it was measured on (no path of this machine)."""
        from .data import describe_data_file
        from .realfaces import SPLIT_SALT

        if self._description is None:  # hashing the data once, however many models are scored
            out = {"source": describe_data_file(self.source), "part": self.part}
            if self.part != "all":
                out["split"] = {"by": _grouped_by(self.source), **self.SPLIT, "salt": SPLIT_SALT,
                                "groups": int(len(np.unique(self.groups)))}
            out["detector"], out["pad"] = self.detector_name, self.pad
            self._description = out
        return json.loads(json.dumps(self._description))  # a copy: figures are edited by their users


def _grouped_by(source: str) -> str:
    """What one group of a photo set is (realfaces.load_photo_set): a person (LFW's ``person`` key), a
    film clip (SFEW's ``filenames``), or a person sub-folder / a single photo of a user's folder."""
    if Path(source).suffix.lower() == ".npz":
        with np.load(source, allow_pickle=False) as npz:
            return "person" if "person" in npz.files else "clip"
    return "person folder or photo"


def _classifier(model):
    """A path (a model folder or its .tflite) → the app's TFLite classifier; a classifier as it is."""
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        return TFLiteClassifier(path / "model.tflite" if path.is_dir() else path, threads=os.cpu_count() or 1)
    return model


def evaluate_photos(model, photos, detector=None, part: str | None = None) -> dict:
    """A model's figures on a labelled photo set read through the whole pipeline, as the app reads a photo.

    ``model``: a model folder or ``.tflite`` path (run like ``evaluate_model_file``: TFLite, the
    temperature of its info.json applied), or a classifier (uint8 [N, 48, 48] → probabilities).
    ``photos``: a ``realfaces.PhotoSet``, the path of one (``load_photo_set``), or ``PhotoCrops``
    already made (then ``detector`` and ``part`` are theirs). ``detector``: a ``faces.DETECTORS``
    name or a detector; default the best installed for stills. ``part``: "test" (the held-out
    people / clips of ``split_groups``; the default for the npz sets), "all" (the default for a
    user's folder), "val" or "train".

    Figures (JSON-ready, rounded like metrics.json): ``n`` photos, ``found`` faces found and
    ``found_share``; ``accuracy``, ``macro_f1`` (over the emotions the found faces hold), ``ece``,
    ``per_class`` and ``confusion_matrix`` over the photos whose face was found;
    ``accuracy_all_photos`` counts a photo without a found face as wrong.
    """
    from sklearn.metrics import f1_score

    from .emotions import EMOTIONS
    from .realfaces import load_photo_set

    if isinstance(photos, (str, os.PathLike)):
        photos = load_photo_set(photos)
    crops = photos if isinstance(photos, PhotoCrops) else PhotoCrops(photos, detector, part)
    classify = _classifier(model)
    n, found = len(crops), int(crops.found.sum())
    if not found:
        raise ValueError(f"{crops.name}: the detector ({crops.detector_name}) found no face in any of its "
                         f"{n} photos.")
    labels = crops.labels[crops.found]
    probs = predict_in_batches(classify, crops.faces[crops.found])
    figures = score(probs, labels)
    present = sorted(set(labels.tolist()))
    figures["macro_f1"] = round(float(f1_score(labels, probs.argmax(1), labels=present, average="macro",
                                               zero_division=0)), 4)
    hits = int((probs.argmax(1) == labels).sum())
    del figures["n"]
    return {**crops.describe(), "n": n, "found": found, "found_share": round(found / n, 4), **figures,
            "accuracy_all_photos": round(hits / n, 4),
            "macro_f1_over": [EMOTIONS[i] for i in present],
            "temperature": float(getattr(classify, "temperature", 1.0))}


def figure_differences(stored, new, where: str = "", tolerance: float = 0.0, count_tolerance: int = 0) -> list[str]:
    """Every stored figure that ``new`` does not reproduce, as "where: stored → new" lines; figures
    ``new`` adds that were not stored are not differences. By default a figure must be the same
    exactly; ``tolerance`` (for rates, e.g. 0.002) and ``count_tolerance`` (for counts) allow the
    small drift another processor's floating-point rounding can cause (a face box a pixel off)."""
    if isinstance(stored, dict) and isinstance(new, dict):
        out = []
        for key, value in stored.items():
            at = f"{where}.{key}" if where else str(key)
            out += [f"{at}: {_short(value)} stored, missing now"] if key not in new else \
                figure_differences(value, new[key], at, tolerance, count_tolerance)
        return out
    if isinstance(stored, list) and isinstance(new, list) and len(stored) == len(new) and stored != new:
        return [d for i, (a, b) in enumerate(zip(stored, new))
                for d in figure_differences(a, b, f"{where}[{i}]", tolerance, count_tolerance)]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (stored, new))
    if numbers and isinstance(stored, int) and isinstance(new, int):
        close = abs(stored - new) <= count_tolerance
    else:
        close = numbers and abs(stored - new) <= tolerance
    return [] if stored == new or close else [f"{where}: {_short(stored)} stored, {_short(new)} now"]


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
