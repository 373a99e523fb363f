"""Analyze a photo, as a person uses it: a real photo goes in through the browser's file input, the
annotated image and the probability chart come out."""

from __future__ import annotations

import re
import urllib.request

import cv2
import numpy as np

from fer_core import EMOTIONS
from fer_core.emotions import color_bgr

from .conftest import assert_no_exception, open_page, page_text, plotly_charts, screenshot, wait_for, wait_until
from .fake_camera import astronaut_bgr

FOUND_RE = re.compile(rf"Found 1 face: #1 ({'|'.join(EMOTIONS)}) \((\d+)%\)")


def _color_pixels(image_bgr: np.ndarray, emotion: str, tolerance: int = 30) -> int:
    target = np.array(color_bgr(emotion), np.int16)
    return int((np.abs(image_bgr.astype(np.int16) - target).max(axis=2) <= tolerance).sum())


def _annotated_image(driver) -> np.ndarray | None:
    """The image shown with the 'Faces found' caption, downloaded from the app as the browser got it."""
    src = driver.execute_script("""
        for (const box of document.querySelectorAll('[data-testid="stImage"], [data-testid="stImageContainer"]')) {
            const img = box.querySelector('img');
            const holder = box.closest('[data-testid="stElementContainer"]') || box;
            if (img && img.complete && img.naturalWidth && holder.innerText.includes('Faces found')) return img.src;
        }
        return null;""")
    if not src:
        return None
    with urllib.request.urlopen(src, timeout=30) as r:
        return cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)


def upload_astronaut_and_check(driver, server, astronaut_jpeg) -> None:
    """Upload the astronaut on the photo page of ``server``; check the summary, the annotated image and the chart."""
    open_page(driver, server, "photo")
    assert_no_exception(driver)

    file_input = wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]', 60, visible=False)
    file_input.send_keys(str(astronaut_jpeg))

    # The summary names the one face and its emotion: the astronaut smiles.
    found = wait_until(lambda: FOUND_RE.search(page_text(driver)), 90,
                       "no 'Found 1 face' summary after the upload")
    label, percent = found.group(1), int(found.group(2))
    assert label == "Happy", found.group(0)

    # The annotated image: the photo at its own size, with the Happy box and label plate drawn on the face.
    annotated = wait_until(lambda: _annotated_image(driver), 60, "the annotated image did not appear")
    original = astronaut_bgr()
    assert annotated.shape == original.shape, annotated.shape
    overlay, before = _color_pixels(annotated, label), _color_pixels(original, label)
    assert overlay > before + 400, f"no {label} box on the image ({overlay} pixels of its colour, photo alone {before})"
    changed = np.abs(annotated.astype(int) - original.astype(int)).max(axis=2) > 60
    assert 0.002 < changed.mean() < 0.2, f"{changed.mean():.1%} of the pixels changed: expected just a box and a label"

    # The probability chart: 7 horizontal bars in the fixed emotion order, summing to 1, led by the label.
    def bar_charts():
        charts = [c for c in plotly_charts(driver) if any(t["type"] == "bar" for t in c["traces"])]
        return charts or None

    charts = wait_until(bar_charts, 60, "the probability chart did not appear")
    assert len(charts) == 1, charts
    (bars,) = [t for t in charts[0]["traces"] if t["type"] == "bar"]
    assert bars["orientation"] == "h"
    assert list(bars["y"]) == list(EMOTIONS)
    probs = np.array(bars["x"], dtype=float)
    assert abs(probs.sum() - 1) < 1e-3, probs
    assert EMOTIONS[int(probs.argmax())] == label
    assert abs(probs.max() * 100 - percent) <= 1, (probs.max(), percent)


def test_uploaded_photo_is_annotated_with_a_probability_chart(app_server, make_browser, astronaut_jpeg):
    driver = make_browser()
    upload_astronaut_and_check(driver, app_server, astronaut_jpeg)

    # The table of faces and both downloads are there.
    wait_for(driver, '[data-testid="stDataFrame"]', 30)
    text = page_text(driver)
    assert "Download annotated image (PNG)" in text and "Download results (CSV)" in text
    assert_no_exception(driver)
    screenshot(driver, "photo")
