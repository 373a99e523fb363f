"""Evaluating a model file on PublicTest and PrivateTest, exactly as the app runs it (TFLite)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .classifier import TFLiteClassifier
from .data import SPLITS, FaceDataset
from .calibration import apply_temperature
from .metrics import expected_calibration_error, score


def predict_in_batches(classify, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([classify(images[i : i + batch]) for i in range(0, len(images), batch)])


def evaluate_model_file(path: str | os.PathLike, data: FaceDataset, splits=("PublicTest", "PrivateTest"),
                        tta: bool = False) -> dict:
    """Figures per split for the .tflite model at ``path``: the content of metrics.json.

    ``tta`` averages each face with its mirror image (test-time augmentation, twice the cost);
    metrics.json and the app use single crops.
    """
    single = TFLiteClassifier(path, threads=os.cpu_count() or 1)
    temperature, single.temperature = single.temperature, 1.0  # raw outputs; calibrated below
    classify = (lambda f: (single(f) + single(f[:, :, ::-1])) / 2) if tta else single
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
    return out
