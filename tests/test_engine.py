"""The public API on real inputs: the astronaut photo, the shipped models, FER-2013 faces."""

import numpy as np
import pytest

from fer_core import EMOTIONS, EmotionRecognizer, draw_results
from fer_core.preprocess import crop_faces, normalize, to_gray
from fer_core.registry import list_models

from .conftest import ASTRONAUT_FACE, overlap


def test_emotions_in_fer2013_order():
    assert EMOTIONS == ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")


def test_shipped_models_are_listed_default_first():
    names = list_models()
    assert names[:6] == ["default", "ensemble", "realfaces-v1", "compact-v2", "compact-v1", "seed"]


@pytest.mark.parametrize("name", ["default", "ensemble", "realfaces-v1", "compact-v2", "compact-v1", "seed"])
def test_analyze_reads_the_astronauts_smile(astronaut_bgr, name):
    rec = EmotionRecognizer.load(name)
    results = rec.analyze(astronaut_bgr)
    assert len(results) == 1
    face = results[0]
    assert overlap(face.box, ASTRONAUT_FACE) > 0.5
    assert face.probabilities.shape == (7,)
    assert face.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert face.label == "Happy"
    assert face.confidence == pytest.approx(face.probabilities.max())


def test_load_without_name_is_the_default_model():
    assert EmotionRecognizer.load().name == "default"


def test_classify_takes_a_batch_of_fer_faces(fer_data):
    rec = EmotionRecognizer.load()
    faces, labels = fer_data.split("PrivateTest")
    for n in (1, 32, 1, 7):  # batch sizes change between calls, as faces come and go
        probs = rec.classify(faces[:n])
        assert probs.shape == (n, 7) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
    assert rec.classify(faces[:0]).shape == (0, 7)
    # On 500 real test faces, far better than the 25% of always answering "Happy".
    hits = (rec.classify(faces[:500]).argmax(1) == labels[:500]).mean()
    assert hits > 0.5


def test_same_preprocessing_for_crops_and_dataset(fer_data):
    """A FER-2013 face pasted into a larger image and cropped back gives the same input."""
    face = fer_data.images[0]
    big = np.zeros((200, 300), np.uint8)
    big[50:98, 100:148] = face
    crop = crop_faces(big, [(100, 50, 48, 48)])
    np.testing.assert_array_equal(crop[0], face)
    x = normalize(crop)
    assert x.shape == (1, 48, 48, 1) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1


def test_grayscale_of_color_and_gray_images(astronaut_bgr):
    g = to_gray(astronaut_bgr)
    assert g.shape == astronaut_bgr.shape[:2]
    assert to_gray(g) is g


def test_draw_results_marks_the_face_and_keeps_the_input(astronaut_bgr):
    rec = EmotionRecognizer.load()
    results = rec.analyze(astronaut_bgr)
    original = astronaut_bgr.copy()
    drawn = draw_results(astronaut_bgr, results)
    np.testing.assert_array_equal(astronaut_bgr, original)
    x, y, w, h = results[0].box
    assert (drawn[y + h // 2, x] != original[y + h // 2, x]).any()  # the box's left edge
    assert (drawn[:y, :] != original[:y, :]).any()  # the label above the box
    assert (drawn[y + 5 : y + h - 5, x + 5 : x + w - 5] == original[y + 5 : y + h - 5, x + 5 : x + w - 5]).all()


def test_no_face_in_a_landscape():
    from skimage import data

    rec = EmotionRecognizer.load()
    assert rec.analyze(np.ascontiguousarray(data.coffee()[:, :, ::-1])) == []
