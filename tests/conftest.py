"""Shared fixtures: real photos and the real FER-2013 data (through $FER2013_PATH)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """NASA's portrait of Eileen Collins (scikit-image): one smiling face, 512×512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


# The astronaut's face lies roughly here (x, y, w, h) in the 512×512 image.
ASTRONAUT_FACE = (170, 30, 120, 140)


@pytest.fixture(scope="session")
def fer_path() -> str:
    path = os.environ.get("FER2013_PATH")
    if not path:
        pytest.skip("FER2013_PATH is not set (CI sets it to the FER-2013 data)")
    if not Path(path).exists():
        pytest.fail(f"FER2013_PATH points to {path}, which does not exist")
    return path


@pytest.fixture(scope="session")
def fer_data(fer_path):
    from fer_core.data import load_fer2013

    return load_fer2013(fer_path)
