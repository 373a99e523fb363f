"""Analyze a video, as a person uses it: a clip of a real face goes in through the browser's file
input; the progress bar, the annotated video (which Chromium must decode and play), the timeline and
the summary come out. Cancel stops a long analysis, and a bad file gets a message naming it."""

from __future__ import annotations

import re

import pytest

from fer_core import EMOTIONS

from ..video_clips import loop_clip, make_clip, slide
from .conftest import assert_no_exception, open_page, page_text, plotly_charts, screenshot, wait_for, wait_until

VIDEO_STATE_JS = """
const v = document.querySelector('[data-testid="stVideo"] video, video');
if (!v) return null;
if (v.paused && !v.ended) { v.muted = true; v.play().catch(() => {}); }
return {ready: v.readyState, width: v.videoWidth, height: v.videoHeight, time: v.currentTime,
        duration: v.duration, error: v.error && v.error.code};
"""


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "astronaut.mp4"
    return make_clip(path, 60, slide((20, 40), (160, 70), 130, 60))


def _upload(driver, path) -> None:
    file_input = wait_for(driver, '[data-testid="stFileUploader"] input[type="file"]', 60, visible=False)
    file_input.send_keys(str(path))


def test_uploaded_video_is_annotated_played_and_charted(app_server, make_browser, short_clip):
    driver = make_browser()
    open_page(driver, app_server, "video")
    wait_until(lambda: "up to 20 MB" in page_text(driver), 60, "the page does not state its upload limit")
    _upload(driver, short_clip)
    wait_until(lambda: "1 face: #1 mostly Happy" in page_text(driver), 120,
               "no 'mostly Happy' summary after the upload")
    assert_no_exception(driver)
    assert "Analysed 60 frames of astronaut.mp4" in page_text(driver)

    # The annotated H.264 MP4 plays in Chromium: frames decoded at the clip's size, time advancing.
    state = wait_until(lambda: (s := driver.execute_script(VIDEO_STATE_JS)) and s["ready"] >= 2 and s, 60,
                       f"the annotated video did not load: {driver.execute_script(VIDEO_STATE_JS)}")
    assert (state["width"], state["height"]) == (320, 240) and not state["error"], state
    assert abs(state["duration"] - 2.0) < 0.1, state
    wait_until(lambda: driver.execute_script(VIDEO_STATE_JS)["time"] > 0.3, 30, "the annotated video does not play")

    # The timeline: 7 lines, the clip's 2 seconds, probabilities summing to 1 at each frame.
    charts = wait_until(lambda: [c for c in plotly_charts(driver) if len(c["traces"]) == 7], 60,
                        "the timeline did not appear")
    (chart,) = charts
    assert [t["name"] for t in chart["traces"]] == list(EMOTIONS)
    times = chart["traces"][0]["x"]
    assert len(times) == 60 and abs(times[-1] - 59 / 30) < 0.01
    sums = [sum(t["y"][i] for t in chart["traces"]) for i in range(60)]
    assert all(abs(s - 1) < 2e-3 for s in sums)
    text = page_text(driver)
    for label in ("Summary per face", "Download annotated video (MP4)", "Download results (CSV)"):
        assert label in text
    screenshot(driver, "video")


def test_cancel_and_a_bad_file_leave_the_page_usable(app_server, make_browser, tmp_path, short_clip):
    from selenium.webdriver.common.by import By

    driver = make_browser()
    open_page(driver, app_server, "video")

    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"These are my notes, not a video.\n" * 40)
    _upload(driver, bad)
    wait_until(lambda: "notes.mp4 is not a video this app can read" in page_text(driver), 60,
               "no message naming the bad file")
    assert_no_exception(driver)

    # A long clip (15,000 frames, 500 s: over a minute to analyse even at 200 frames/s, so it cannot end
    # before Cancel is clicked; looped from a 2 s clip without encoding it again): Cancel while it runs.
    base = make_clip(tmp_path / "base.mp4", 60, slide((20, 40), (160, 70), 130, 60), size=(256, 192))
    long_clip = loop_clip(base, 250, tmp_path / "long.mp4")
    _upload(driver, long_clip)
    wait_until(lambda: "Analysing long.mp4: frame" in page_text(driver), 60, "no progress shown")

    def cancel_button():
        return [b for b in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stButton"] button')
                if b.text.strip() == "Cancel" and b.is_displayed()]

    button = wait_until(cancel_button, 30, "no Cancel button while analysing")[0]
    running = re.search(r"Analysing long\.mp4: frame (\d+) of (\d+)", page_text(driver))  # the progress bar's text
    assert running and int(running[1]) < int(running[2]) == 15000, \
        f"the analysis was not running when Cancel was to be clicked: {page_text(driver)[:300]}"
    button.click()
    wait_until(lambda: "The analysis of long.mp4 was cancelled." in page_text(driver), 30, "Cancel did not stop it")
    assert "Summary per face" not in page_text(driver) and "Analysing long.mp4" not in page_text(driver)
    assert_no_exception(driver)

    # The page still works: the short clip is analysed next.
    _upload(driver, short_clip)
    wait_until(lambda: "1 face: #1 mostly Happy" in page_text(driver), 120, "the next video was not analysed")
    assert_no_exception(driver)
