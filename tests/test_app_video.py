"""The video page under AppTest: a clip of the astronaut's real face goes in, the progress bar, the
timeline, the per-face summary, the annotated video and both downloads come out; bad files get a
message naming them, and the page still works afterwards."""

from __future__ import annotations

import io
import json
import sys

import av
import numpy as np
import pandas as pd
import pytest

from fer_core import EMOTION_COLORS, EMOTIONS
from fer_core.records import CSV_COLUMNS

from .conftest import plotly_values
from .video_clips import make_clip, slide

PAGE = "app_pages/video.py"


@pytest.fixture(scope="module")
def one_face() -> bytes:
    return make_clip(None, 45, slide((20, 40), (160, 70), 130, 45))


@pytest.fixture(scope="module")
def two_faces() -> bytes:
    left, right = slide((10, 10), (10, 100), 110, 30), slide((190, 110), (190, 20), 110, 30)
    return make_clip(None, 30, lambda i: left(i) + right(i), codec="libvpx")


@pytest.fixture
def video_page(open_page):
    at = open_page(PAGE)
    assert at.title[0].value == "Analyze a video"
    assert at.sidebar.selectbox(key="video_detector").value == "haar-fast"
    return at


def upload(at, name: str, data: bytes, mime: str = "video/mp4"):
    at.file_uploader(key="video_upload").set_value((name, data, mime))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def timelines(at) -> list[dict]:
    return [c for c in charts(at) if c["data"][0]["type"] == "scatter"]


def share_bars(at) -> list[dict]:
    return [c for c in charts(at) if c["data"][0]["type"] == "bar"]


def test_page_states_the_upload_limit(video_page):
    uploader = video_page.file_uploader(key="video_upload")
    assert {".mp4", ".webm", ".mov", ".avi", ".mkv"} <= set(uploader.allowed_type)
    assert "up to 20 MB" in uploader.label
    assert any("never written to disk" in c.value for c in video_page.caption)


def test_clip_gives_progress_timeline_summary_video_and_downloads(video_page, one_face):
    at = upload(video_page, "astronaut.mp4", one_face)
    assert not at.error
    (bar,) = at.get("progress")
    assert bar.proto.value == 100 and "Analysed 45 frames of astronaut.mp4" in bar.proto.text
    assert at.success[0].value.startswith("astronaut.mp4: 1.5 s, 45 frames (every frame analysed); 1 face: #1 mostly Happy")
    assert not at.get("button")  # Cancel is gone once the analysis ends

    # The timeline: 7 lines in the fixed order and colours, one point per analysed frame, in seconds.
    (spec,) = timelines(at)
    lines = spec["data"]
    assert [t["name"] for t in lines] == list(EMOTIONS)
    assert [t["line"]["color"] for t in lines] == [EMOTION_COLORS[e] for e in EMOTIONS]
    times = plotly_values(lines[0]["x"])
    assert np.allclose(times, np.arange(45) / 30, atol=0.002)
    probs = np.stack([plotly_values(t["y"]) for t in lines], axis=1)
    assert np.allclose(probs.sum(axis=1), 1, atol=2e-3)

    # The summary: one face, in view the whole clip, mostly Happy; shares sum to 1.
    summary = at.dataframe[0].value
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["face"] == 1 and row["dominant emotion"] == "Happy"
    assert row["seconds in view"] == pytest.approx(1.5, abs=0.05)
    assert row[list(EMOTIONS)].sum() == pytest.approx(1.0, abs=1e-6) and row["Happy"] > 0.8
    (bars,) = share_bars(at)  # the same shares as a bar chart beside the video
    assert tuple(bars["data"][0]["y"]) == EMOTIONS
    assert np.allclose(plotly_values(bars["data"][0]["x"]), row[list(EMOTIONS)].astype(float), atol=1e-6)
    assert "Face #1: share of its time" in bars["layout"]["title"]["text"]

    # The annotated video in the page, and the downloads behind the buttons.
    assert len(at.get("video")) == 1
    downloads = {b.label: b for b in at.get("download_button")}
    assert list(downloads) == ["Download annotated video (MP4)", "Download results (CSV)"]
    from dashboard.video import VideoAnalysis

    _, result = at.session_state["_video_analysis"]  # what the buttons serve
    assert isinstance(result, VideoAnalysis)
    with av.open(io.BytesIO(result.annotated)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
        assert sum(1 for _ in c.decode(s)) == 45
    csv = pd.read_csv(io.BytesIO(result.csv_bytes()))
    assert tuple(csv.columns) == CSV_COLUMNS
    assert list(csv["frame"]) == list(range(45)) and set(csv["face"]) == {1} and set(csv["file"]) == {"astronaut.mp4"}
    assert np.allclose(csv[list(EMOTIONS)].to_numpy(), probs, atol=1e-3)  # the chart shows the CSV's numbers


def test_two_faces_get_a_picker_and_their_own_timelines(video_page, two_faces, monkeypatch):
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    at = upload(video_page, "pair.webm", two_faces, "video/webm")
    assert not at.error
    reads = []  # picking a face reruns the page: it must not read (or hash) the whole upload again
    getvalue = UploadedFile.getvalue

    def spy(self):  # AppTest itself reads the upload on every run: only the page's reads count
        if sys._getframe(1).f_code.co_filename.endswith(PAGE):
            reads.append(self.size)
        return getvalue(self)

    monkeypatch.setattr(UploadedFile, "getvalue", spy)
    summary = at.dataframe[0].value
    assert list(summary["face"]) == [1, 2]
    picker = at.selectbox(key="video_face")
    assert picker.options == ["Face #1 (1.0 s in view)", "Face #2 (1.0 s in view)"]
    first = plotly_values(timelines(at)[0]["data"][3]["y"])  # Happy of face 1
    assert "Face #1" in timelines(at)[0]["layout"]["title"]["text"]
    picker.set_value(2).run()
    assert not at.exception
    (spec,) = timelines(at)
    assert "Face #2" in spec["layout"]["title"]["text"]
    assert not np.array_equal(plotly_values(spec["data"][3]["y"]), first)
    assert "Face #2" in share_bars(at)[0]["layout"]["title"]["text"]
    assert at.get("progress") == [] or at.get("progress")[0].proto.value == 100  # not analysed again
    assert reads == []
    (file_id, size), *_ = at.session_state["_video_analysis"][0]  # kept under the upload's id and size
    assert size == len(two_faces) and file_id


def test_every_k_and_the_detector_from_the_sidebar(video_page, one_face):
    video_page.sidebar.number_input(key="video_every").set_value(3).run()
    at = upload(video_page, "astronaut.mp4", one_face)
    assert "every 3rd frame analysed" in at.success[0].value
    (spec,) = timelines(at)
    assert np.allclose(plotly_values(spec["data"][0]["x"]), np.arange(0, 45, 3) / 30, atol=0.002)
    assert "Analysed 15 frames" in at.get("progress")[0].proto.text

    # Another detector: the video is analysed again with it (the thorough Haar pass finds her too).
    at.sidebar.selectbox(key="video_detector").set_value("haar").run()
    assert not at.exception and not at.error
    assert "Analysed 15 frames" in at.get("progress")[0].proto.text  # a new run, not the kept result
    assert at.session_state["_video_analysis"][0][2] == "haar"
    assert at.success[0].value.endswith("1 face: #1 mostly Happy")


@pytest.mark.parametrize("name,data,expected", [
    ("notes.mp4", b"These are my notes, not a video.\n" * 40, "notes.mp4 is not a video this app can read"),
    ("empty.mp4", b"", "empty.mp4 is empty"),
])
def test_bad_file_gives_a_message_and_the_page_stays_usable(video_page, one_face, name, data, expected):
    at = upload(video_page, name, data)
    assert len(at.error) == 1 and at.error[0].value.startswith(expected), at.error[0].value
    assert "Traceback" not in at.error[0].value
    assert not charts(at) and not at.get("video") and not at.get("progress")
    at = upload(at, "astronaut.mp4", one_face)
    assert not at.error and len(timelines(at)) == 1


def test_a_cut_webm_shows_what_was_read_and_says_where_it_ends(video_page):
    data = make_clip(None, 60, slide((20, 40), (160, 70), 130, 60), codec="libvpx")
    at = upload(video_page, "cut.webm", data[: len(data) * 6 // 10], "video/webm")
    assert not at.error
    assert at.warning[0].value.startswith("cut.webm is cut short")
    assert len(timelines(at)) == 1 and len(at.get("video")) == 1


def test_a_video_without_faces_gets_tips_and_still_its_video(video_page):
    at = upload(video_page, "empty-room.mp4", make_clip(None, 20, lambda i: []))
    assert not at.error
    (warning,) = at.warning
    assert warning.value.startswith("No face was found in this video")
    assert len(at.get("video")) == 1 and not charts(at) and not at.dataframe
    assert [b.label for b in at.get("download_button")] == ["Download annotated video (MP4)", "Download results (CSV)"]
