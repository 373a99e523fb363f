"""Temperature scaling: one number, fitted on PublicTest, that makes the shown confidence honest.

Dividing the log-probabilities by T > 1 softens over-confident outputs without changing which
emotion wins, so accuracy is untouched and only the confidence moves.
"""

from __future__ import annotations

import numpy as np


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.5, 5] that minimises the negative log-likelihood of ``labels`` (grid + refine)."""

    def nll(t: float) -> float:
        p = apply_temperature(probs, t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, 1.0))))

    grid = np.arange(0.5, 5.001, 0.05)
    best = float(grid[np.argmin([nll(t) for t in grid])])
    fine = np.arange(max(0.5, best - 0.05), best + 0.0501, 0.005)
    return round(float(fine[np.argmin([nll(t) for t in fine])]), 3)
