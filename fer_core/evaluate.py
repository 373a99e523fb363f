"""Evaluating a model file on PublicTest and PrivateTest, exactly as the app runs it (TFLite)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .classifier import TFLiteClassifier
from .data import SPLITS, FaceDataset
from .metrics import score


def predict_in_batches(classify, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([classify(images[i : i + batch]) for i in range(0, len(images), batch)])


def evaluate_model_file(path: str | os.PathLike, data: FaceDataset, splits=("PublicTest", "PrivateTest")) -> dict:
    """Figures per split for the .tflite model at ``path``: the content of metrics.json."""
    classify = TFLiteClassifier(path, threads=os.cpu_count() or 1)
    out = {}
    for split in splits:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split}")
        x, y = data.split(split)
        if len(x):
            out[split] = score(predict_in_batches(classify, x), y)
    return out
