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


def overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / float(aw * ah + bw * bh - iw * ih)


def _data_path(variable: str, what: str) -> str:
    """The file an environment variable names: skip when it is unset, fail when it is wrong."""
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is not set (CI sets it to {what})")
    if not Path(path).exists():
        pytest.fail(f"{variable} points to {path}, which does not exist")
    return path


@pytest.fixture(scope="session")
def fer_path() -> str:
    return _data_path("FER2013_PATH", "the FER-2013 data")


@pytest.fixture(scope="session")
def ferplus_path() -> str:
    """FER+'s fer2013new.csv (the crowd votes), row i = FER-2013 row i."""
    return _data_path("FERPLUS_PATH", "FER+'s fer2013new.csv")


@pytest.fixture(scope="session")
def lfw_path() -> str:
    """lfw_expressions.npz: real news photos (LFW) with an expression label and the person's name."""
    return _data_path("LFW_EXPRESSIONS_PATH", "lfw_expressions.npz")


@pytest.fixture(scope="session")
def sfew_path() -> str:
    """sfew_train.npz: SFEW 2.0's labelled film frames, with file names that carry the film clip."""
    return _data_path("SFEW_PATH", "sfew_train.npz")


@pytest.fixture(scope="session")
def fer_data(fer_path):
    from fer_core.data import load_fer2013

    return load_fer2013(fer_path)


# --- The Streamlit app under streamlit.testing.v1.AppTest (tests/test_app_*.py) ------------------


@pytest.fixture
def open_page(monkeypatch):
    """``open_page("app_pages/photo.py")``: an AppTest that has run app.py (navigation and model
    selector) and switched to that page. The webrtc component is told there is no browser session
    (AppTest crashes on webrtc_streamer otherwise)."""
    import streamlit_webrtc.component
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)

    def open_(page: str | None = None, timeout: float = 120) -> AppTest:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
        at.run()
        if page:
            at.switch_page(page).run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return open_


def plotly_values(v):
    """A numeric array of a chart's JSON: a plain list, or plotly 6's typed array
    {"dtype": "f8", "bdata": base64, "shape": "7, 7"}."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        raw = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        return raw.reshape([int(n) for n in str(shape).split(",")]) if shape else raw
    return np.asarray(v, dtype=float)
