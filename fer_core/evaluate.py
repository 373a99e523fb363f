"""Evaluating a model file on PublicTest and PrivateTest, exactly as the app runs it (TFLite)."""

from __future__ import annotations

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
