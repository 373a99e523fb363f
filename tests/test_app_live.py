"""The live page under AppTest (it renders; the webrtc component gets its settings) and the plumbing
between the WebRTC thread and the page, driven with real video frames of a real face."""

from __future__ import annotations

import json
import re
import threading

import av
import numpy as np
import pytest

from dashboard.live import MEDIA_CONSTRAINTS, LiveSession, Timeline, emotion_text, fps_text
from fer_core import EMOTIONS, EmotionRecognizer, FrameReport
from fer_core.registry import MODELS_DIR, list_models

from .conftest import REPO
from .fixtures import ASTRONAUT_FACE, astronaut_bgr

PAGE = "app_pages/live.py"


def webcam_frame() -> np.ndarray:
    """A 640×480 camera-like frame with the astronaut's face in it."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:480, 64:576] = astronaut_bgr()[:480]
    return frame


@pytest.fixture(scope="module")
def recognizer():
    names = list_models(MODELS_DIR)
    assert names, f"no shipped model in {MODELS_DIR}"
    return EmotionRecognizer.load(names[0])


def webrtc_args(at) -> dict:
    """The arguments the page gave the streamlit-webrtc frontend component."""
    (component,) = [e for e in at.get("component_instance")]
    return json.loads(component.proto.json_args)


def test_live_page_renders_with_camera_settings(open_page):
    at = open_page(PAGE)
    assert at.title[0].value == "Live camera"
    assert not at.error
    args = webrtc_args(at)
    assert args["mode"] == "SENDRECV"
    assert args["media_stream_constraints"]["audio"] is False
    assert args["media_stream_constraints"]["video"]["width"]["max"] <= 640
    assert args["rtc_configuration"] == {"iceServers": []}  # localhost: no STUN/TURN needed
    # The smoothing option and the placeholders that the e2e test reads.
    assert at.sidebar.slider(key="live_smoothing").value == 5
    html = "\n".join(m.value for m in at.markdown)
    assert 'id="fer-live-emotion"' in html and "Waiting for the camera" in html
    assert 'id="fer-live-fps"' in html and "Frames per second: 0.0" in html
    assert html.count('class="fer-bar"') == len(EMOTIONS)


def test_live_page_takes_ice_servers_from_secrets(monkeypatch):
    import streamlit_webrtc.component
    from streamlit.testing.v1 import AppTest

    turn = {"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "c"}
    monkeypatch.setattr(streamlit_webrtc.component, "get_this_session_info", lambda: None)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.secrets["rtc_configuration"] = {"iceServers": [turn]}
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert webrtc_args(at)["rtc_configuration"] == {"iceServers": [turn]}


def test_frame_callback_annotates_and_reports(recognizer):
    live = LiveSession(recognizer, smoothing=3)
    image = webcam_frame()
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    for _ in range(3):
        out = live.on_frame(frame)
    assert isinstance(out, av.VideoFrame)
    assert (out.width, out.height) == (640, 480)
    annotated = out.to_ndarray(format="bgr24")
    assert not np.array_equal(annotated, image)  # box and label drawn
    reports = live.next_reports(timeout=5)
    assert len(reports) == 3
    face = reports[-1].main_face
    assert face is not None and face.label == "Happy"
    x, y, w, h = face.box
    fx, fy, fw, fh = ASTRONAUT_FACE
    assert abs((x - 64) - fx) < fw / 3 and abs(y - fy) < fh / 3  # the face, shifted by the padding
    assert reports[-1].fps > 0
    assert re.fullmatch(r"Happy · \d{1,3}%", emotion_text(reports[-1]))
    assert re.fullmatch(r"Frames per second: \d+\.\d", fps_text(reports[-1]))


def test_callback_survives_odd_frames(recognizer):
    live = LiveSession(recognizer)
    for shape in [(1, 1, 3), (7, 640, 3), (480, 3, 3), (2000, 64, 3)]:
        frame = av.VideoFrame.from_ndarray(np.zeros(shape, np.uint8), format="bgr24")
        out = live.on_frame(frame)
        assert (out.height, out.width) == (frame.height, frame.width)
    reports = live.next_reports(timeout=5)
    assert len(reports) == 4 and all(r.main_face is None for r in reports)
    assert emotion_text(reports[-1]) == "No face in view"


def test_queue_is_bounded_and_drops_the_oldest(recognizer):
    live = LiveSession(recognizer, maxsize=5)
    for i in range(50):
        live.publish(FrameReport(time=float(i)))
    got = live.next_reports(timeout=1)
    assert [r.time for r in got] == [45.0, 46.0, 47.0, 48.0, 49.0]
    assert live.next_reports(timeout=0.05) == []  # empty: returns after the timeout, no report


def test_reader_blocks_until_a_report_arrives(recognizer):
    live = LiveSession(recognizer)
    got = []
    reader = threading.Thread(target=lambda: got.extend(live.next_reports(timeout=30)))
    reader.start()
    live.process(webcam_frame())  # as the WebRTC thread would
    reader.join(timeout=30)
    assert not reader.is_alive()
    assert len(got) == 1 and got[0].main_face.label == "Happy"


def test_changing_model_or_smoothing_replaces_the_analyzer(recognizer):
    live = LiveSession(recognizer, smoothing=5)
    first = live.analyzer
    live.configure(recognizer, 5)
    assert live.analyzer is first
    live.configure(recognizer, 1)
    assert live.analyzer is not first and live.analyzer.smoothing == 1


def test_timeline_keeps_the_last_30_seconds(recognizer):
    live = LiveSession(recognizer)
    live.process(webcam_frame())
    (report,) = live.next_reports(timeout=5)
    timeline = Timeline(seconds=30)
    for t in range(0, 61):
        timeline.add(FrameReport(time=1000.0 + t, faces=report.faces))
    timeline.add(FrameReport(time=1061.0))  # no face: a gap
    times, probs = timeline.arrays()
    assert times[0] == 1031.0 and times[-1] == 1061.0
    assert probs.shape == (31, len(EMOTIONS))
    assert np.isnan(probs[-1]).all() and np.allclose(probs[:-1].sum(axis=1), 1.0, atol=1e-3)


def test_media_constraints():
    assert MEDIA_CONSTRAINTS["audio"] is False
    assert MEDIA_CONSTRAINTS["video"]["width"]["max"] == 640


# --- The face detector selector ----------------------------------------------------------------


def test_live_page_detector_defaults_to_the_fast_haar(open_page):
    from fer_core.faces import DETECTORS, available_detectors

    at = open_page(PAGE)
    box = at.sidebar.selectbox(key="live_detector")
    assert box.label == "Face detector" and box.value == "haar-fast"
    assert box.options == [DETECTORS[n].label for n in available_detectors()]
    analyzer = at.session_state["live_session"].analyzer
    assert analyzer.recognizer.detector.max_side == 320  # the half-size copy: haar-fast's detector


def test_live_page_accepts_another_detector(open_page):
    from fer_core.faces import available_detectors

    at = open_page(PAGE)
    live = at.session_state["live_session"]
    first = live.analyzer
    choice = "blazeface" if "blazeface" in available_detectors() else "haar"
    at.sidebar.selectbox(key="live_detector").set_value(choice).run()
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="live_detector").value == choice
    assert at.session_state["live_session"] is live  # the same stream and queue…
    assert live.analyzer is not first  # …with a new analyzer for the new detector
    assert live.analyzer.recognizer.detector is not first.recognizer.detector
    assert live.analyzer.recognizer.classifier is first.recognizer.classifier  # the model is shared, not reloaded
    again = live.analyzer
    at.run()  # a rerun with nothing changed keeps the analyzer (its smoothing and tracking state)
    assert live.analyzer is again


def test_each_page_keeps_its_own_detector(open_page):
    at = open_page("app_pages/photo.py")
    assert at.sidebar.selectbox(key="photo_detector").value == "blazeface"  # the most accurate for photos
    at.sidebar.selectbox(key="photo_detector").set_value("haar-fast").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="live_detector").value == "haar-fast"  # the live page's own default
    at.sidebar.selectbox(key="live_detector").set_value("haar").run()
    at.switch_page("app_pages/photo.py").run()
    assert at.sidebar.selectbox(key="photo_detector").value == "haar-fast"  # kept across the page change
    at.switch_page(PAGE).run()
    assert at.sidebar.selectbox(key="live_detector").value == "haar"


def test_switching_detector_replaces_the_analyzer_and_frames_keep_coming(recognizer):
    from fer_core.faces import available_detectors, make_detector

    fast = EmotionRecognizer(recognizer.classifier, make_detector("haar-fast"), name=recognizer.name)
    other = "blazeface" if "blazeface" in available_detectors() else "haar"
    second = EmotionRecognizer(recognizer.classifier, make_detector(other), name=recognizer.name)
    live = LiveSession(fast, smoothing=3)
    frame = av.VideoFrame.from_ndarray(webcam_frame(), format="bgr24")

    def feed(n: int) -> list[FrameReport]:
        for _ in range(n):
            live.on_frame(frame)
        reports = live.next_reports(timeout=5)
        assert len(reports) == n
        return reports

    before = feed(3)
    first = live.analyzer
    live.configure(fast, 3)
    assert live.analyzer is first  # nothing changed: the same analyzer
    live.configure(second, 3)
    assert live.analyzer is not first and live.analyzer.recognizer is second
    assert first.recognizer is fast  # the old analyzer was not mutated (another thread may hold it)
    after = feed(3)
    for reports in (before, after):
        assert all(r.error is None for r in reports)
        face = reports[-1].main_face
        assert face is not None and face.label == "Happy"
        x, y, w, h = face.box
        fx, fy, fw, fh = ASTRONAUT_FACE
        assert abs((x - 64) - fx) < fw / 3 and abs(y - fy) < fh / 3
    # The new analyzer's first frame is a whole-frame search with the new detector (a fresh tracker):
    # its box is that detector's own box, not haar-fast's.
    boxes = second.detector.detect(webcam_frame())
    assert after[0].main_face.box == max(boxes, key=lambda b: b[2] * b[3])
    assert before[0].main_face.box != after[0].main_face.box
    live.configure(second, 1)  # smoothing still replaces it too
    assert live.analyzer.smoothing == 1 and live.analyzer.recognizer is second


def test_switching_detector_while_another_thread_streams(recognizer):
    """The WebRTC thread keeps calling on_frame while the page swaps detectors: no frame fails."""
    from fer_core.faces import make_detector

    recs = [EmotionRecognizer(recognizer.classifier, make_detector(n), name=recognizer.name)
            for n in ("haar-fast", "haar")]
    live = LiveSession(recs[0], smoothing=3, maxsize=1000)
    frame = av.VideoFrame.from_ndarray(webcam_frame(), format="bgr24")
    stop = threading.Event()

    def stream():
        while not stop.is_set():
            live.on_frame(frame)

    worker = threading.Thread(target=stream)
    worker.start()
    reports, analyzers = [], []
    try:
        for i in range(6):
            live.configure(recs[i % 2], 3)
            analyzers.append(live.analyzer)
            got = live.next_reports(timeout=30)
            assert got  # frames keep being processed after each change
            reports += got
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    reports += live.next_reports(timeout=1)
    assert all(r.error is None for r in reports)
    assert reports[-1].main_face is not None and reports[-1].main_face.label == "Happy"
    assert len({id(a) for a in analyzers}) == 6  # every change of detector gave a new analyzer
    assert [a.recognizer for a in analyzers] == [recs[i % 2] for i in range(6)]
