"""LiveAnalyzer on real frames: it follows a moving face between full detections, survives odd
frame sizes and formats, and one failing frame neither stops the stream nor reaches the viewer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks import scenes
from fer_core import EmotionRecognizer, LiveAnalyzer
from fer_core.faces import HaarFaceDetector, make_detector
from fer_core.registry import list_models


def iou(a, b) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / float(a[2] * a[3] + b[2] * b[3] - iw * ih)


class CountingDetector:
    """A real detector that counts its full-frame passes."""

    def __init__(self, detector):
        self.inner, self.full_passes = detector, 0
        self.detect_near = getattr(detector, "detect_near", None)
        if self.detect_near is None:
            del self.detect_near

    def detect(self, image, gray=None):
        self.full_passes += 1
        return self.inner.detect(image, gray=gray)


def recognizer(detector=None) -> EmotionRecognizer:
    return EmotionRecognizer.load(list_models()[0], detector=detector)


@pytest.fixture(scope="module")
def moving_face():
    """90 frames of the astronaut's head gliding 4–10 px a frame across a coffee-table photo."""
    return scenes.clip(90, n_faces=1, seed=0, faces=scenes.face_pictures(n_fer=0, n_lfw=0)[:1])


@pytest.mark.parametrize("name", ["haar", "haar-fast"])
def test_tracking_follows_a_moving_face(moving_face, name):
    detector = CountingDetector(make_detector(name))
    live = LiveAnalyzer(recognizer(detector), smoothing=5, track_every=10)
    travelled = np.hypot(*np.subtract(moving_face[0].placed[0][:2], moving_face[-1].placed[0][:2]))
    assert travelled > 50  # the face really moves (the clip bounces it around)
    for k, scene in enumerate(moving_face):
        out, report = live.process(scene.frame)
        assert report.error is None
        assert len(report.faces) == 1, f"frame {k}: {len(report.faces)} faces"
        assert iou(report.faces[0].box, scene.placed[0]) > 0.4, f"frame {k}: lost the face"
        assert out.shape == scene.frame.shape and not np.array_equal(out, scene.frame)  # drawn
    # A full-frame pass every 10th frame; the frames between only looked near the face.
    assert detector.full_passes == 9


def test_without_tracking_every_frame_is_a_full_pass(moving_face):
    detector = CountingDetector(make_detector("haar-fast"))
    live = LiveAnalyzer(recognizer(detector), track_every=1)
    for scene in moving_face[:12]:
        live.process(scene.frame)
    assert detector.full_passes == 12


def test_a_face_that_leaves_is_dropped_and_a_new_one_found(moving_face):
    live = LiveAnalyzer(recognizer(make_detector("haar-fast")), track_every=10)
    blank = scenes.backgrounds()[0]
    for scene in moving_face[:5]:
        assert len(live.process(scene.frame)[1].faces) == 1
    # The face is gone: kept at most 2 frames (so one missed detection doesn't blink), then dropped.
    counts = [len(live.process(blank)[1].faces) for _ in range(4)]
    assert counts[-1] == 0 and counts[0] <= 1
    # It comes back elsewhere: found on the next frame, since nothing is tracked.
    _, report = live.process(moving_face[60].frame)
    assert len(report.faces) == 1 and iou(report.faces[0].box, moving_face[60].placed[0]) > 0.4


@pytest.fixture(scope="module")
def live_frames(astronaut_bgr):
    return {
        "1x1": np.zeros((1, 1, 3), np.uint8),
        "3x5": np.full((3, 5, 3), 200, np.uint8),
        "huge 4096x4096": cv2.resize(astronaut_bgr, (4096, 4096), interpolation=cv2.INTER_LINEAR),
        "grayscale 2-D": np.ascontiguousarray(astronaut_bgr[:, :, 1]),
        "BGRA": np.dstack([astronaut_bgr, np.full(astronaut_bgr.shape[:2], 255, np.uint8)]),
    }


@pytest.mark.parametrize("name", ["haar", "haar-fast"])
def test_odd_frames_go_through(live_frames, name):
    live = LiveAnalyzer(recognizer(make_detector(name)))
    for _ in range(3):  # twice more: the tracker's step runs on them too
        for label, frame in live_frames.items():
            out, report = live.process(frame)
            assert report.error is None, label
            assert out.shape == frame.shape and out.dtype == np.uint8, label
            expected = 0 if min(frame.shape[:2]) < 24 else 1
            assert len(report.faces) == expected, label


def test_an_exception_in_one_frame_returns_it_unannotated(moving_face, monkeypatch):
    rec = recognizer(make_detector("haar-fast"))
    live = LiveAnalyzer(rec)
    assert live.process(moving_face[0].frame)[1].faces

    def broken(faces):
        raise RuntimeError("the model failed")

    monkeypatch.setattr(rec, "classify", broken)
    frame = moving_face[1].frame
    before = frame.copy()
    out, report = live.process(frame)
    assert report.error == "This frame could not be analysed: the model failed"
    assert report.faces == [] and report.main_face is None
    np.testing.assert_array_equal(out, before)  # the viewer sees the plain frame
    np.testing.assert_array_equal(frame, before)  # and the caller's frame was not drawn on

    monkeypatch.undo()  # the next frame is fine again
    out, report = live.process(moving_face[2].frame)
    assert report.error is None and len(report.faces) == 1


@pytest.mark.parametrize("bad", [None, "frame", np.zeros((4, 4, 3), np.float32), np.zeros((2, 2, 2, 3), np.uint8)])
def test_what_is_not_an_image_gets_a_plain_error(bad):
    out, report = LiveAnalyzer(recognizer(HaarFaceDetector())).process(bad)
    assert out is bad
    assert report.error == "This frame could not be analysed: a video frame must be an 8-bit image"
