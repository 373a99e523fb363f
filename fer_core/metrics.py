"""Scoring predictions: accuracy, macro-F1, per-emotion precision/recall/F1, confusion matrix."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from .emotions import EMOTIONS


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """How far the shown confidence is from the real hit rate, averaged over confidence bins."""
    conf = probs.max(1)
    hit = probs.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(ece)


def score(probs: np.ndarray, labels: np.ndarray) -> dict:
    """All figures for one split, as plain JSON-ready Python values."""
    pred = probs.argmax(1)
    idx = list(range(len(EMOTIONS)))
    p, r, f, support = precision_recall_fscore_support(labels, pred, labels=idx, zero_division=0)
    return {
        "n": int(len(labels)),
        "accuracy": round(float(accuracy_score(labels, pred)), 4),
        "macro_f1": round(float(f1_score(labels, pred, labels=idx, average="macro", zero_division=0)), 4),
        "ece": round(expected_calibration_error(probs, labels), 4),
        "per_class": {
            e: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4), "support": int(support[i])}
            for i, e in enumerate(EMOTIONS)
        },
        "confusion_matrix": confusion_matrix(labels, pred, labels=idx).tolist(),
    }
