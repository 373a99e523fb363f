"""The training & metrics page under AppTest: the shipped models' curves and figures, a test image
through the model, and the training form running real (tiny) trainings in a subprocess."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard.training import JobRegistry, ServerDatasets, training_time, validate_name
from fer_core import EMOTIONS
from fer_core.registry import MODELS_DIR, list_models, read_json

from .conftest import plotly_values
from .fixtures import fer_sample, write_fer_csv

PAGE = "app_pages/training.py"
JOB_TIMEOUT = 900  # seconds a tiny training may take on a busy machine before the test gives up


def titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def shipped() -> list[str]:
    names = list_models(MODELS_DIR)
    assert names, f"no shipped model in {MODELS_DIR}"
    return names


# --- Metrics of the shipped models ---------------------------------------------------------------


def test_metrics_page_shows_every_shipped_model(open_page):
    at = open_page(PAGE)
    names = shipped()
    assert not at.error
    assert [t.label for t in at.tabs][: len(names)] == names

    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heatmaps = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    curves = [s for s in specs if s["layout"].get("title", {}).get("text", "").endswith("per epoch")]
    assert len(heatmaps) == len(names)
    histories = {n: read_json(n, "history.json") for n in names}
    singles = [n for n in names if "epoch" in histories[n]]
    ensembles = [n for n in names if "members" in histories[n]]
    assert sorted(singles + ensembles) == sorted(names)
    assert len(curves) == 2 * len(singles)  # accuracy and loss for each single network

    for name in ensembles:  # an ensemble shows its members' curves, one line each
        title = f"{name}'s members: PublicTest accuracy"
        (chart,) = [s for s in specs if s["layout"].get("title", {}).get("text") == title]
        members = histories[name]["members"]
        assert [t["name"] for t in chart["data"]] == list(members)
        for trace in chart["data"]:
            assert np.allclose(plotly_values(trace["y"]), members[trace["name"]]["val_accuracy"])

    for name in singles:
        history = read_json(name, "history.json")
        acc = next(s for s in curves if s["layout"]["title"]["text"] == "Accuracy per epoch"
                   and len(plotly_values(s["data"][-1]["y"])) == len(history["val_accuracy"])
                   and np.allclose(plotly_values(s["data"][-1]["y"]), history["val_accuracy"]))
        # The training series where history.json has one (a dropped one is explained by its note).
        expected = (["train"] if "accuracy" in history else []) + ["validation (PublicTest)"]
        assert [t["name"] for t in acc["data"]] == expected
        if "accuracy" in history:
            assert np.allclose(plotly_values(acc["data"][0]["y"]), history["accuracy"])
        else:
            assert any(history["note"] == i.value for i in at.info), name
        for trace in acc["data"]:  # every accuracy drawn is a possible one
            assert ((plotly_values(trace["y"]) >= 0) & (plotly_values(trace["y"]) <= 1)).all(), name
    assert not at.warning  # no shipped series is refused

    # PublicTest and PrivateTest side by side for every model, with the figures of metrics.json.
    (compare,) = [s for s in specs if s["layout"].get("title", {}).get("text") == "Test accuracy by model"]
    assert [t["name"] for t in compare["data"]] == ["PublicTest", "PrivateTest"]
    for trace in compare["data"]:
        assert list(trace["x"]) == names
        expected = [read_json(n, "metrics.json")[trace["name"]]["accuracy"] for n in names]
        assert np.allclose(plotly_values(trace["y"]), expected)


def test_training_time_is_said_in_units_that_do_not_round_it_away(open_page):
    """default's head trained in 23 s: the caption said "0 min of training" until seconds were said."""
    assert [training_time(s) for s in (0.4, 23.2, 59.4, 59.6, 383, 2596.7, 7199, 7200, 22000)] == \
        ["1 s", "23 s", "59 s", "1 min", "6 min", "43 min", "120 min", "2.0 h", "6.1 h"]
    at = open_page(PAGE)
    seconds = read_json("default", "info.json")["training_seconds"]
    captions = [c.value for c in at.caption if "of training" in c.value]
    assert any(f"{training_time(seconds)} of training" in c for c in captions), captions
    assert not any(c.startswith("0 min") or " 0 min of training" in c for c in captions), captions


def _impossible_model(models, name: str):
    """A copy of a shipped single network under ``name`` whose history.json has the accumulator bug's
    curves: 'loss' and 'accuracy' the same series, accuracy up to 210% (as models/default had)."""
    import shutil

    source = next(n for n in shipped() if "epoch" in read_json(n, "history.json"))
    shutil.copytree(MODELS_DIR / source, models / name)
    history = read_json(name, "history.json", models)
    summed = [round(1.0 + a, 5) + 0.1 * (i % 3) for i, a in enumerate(history["val_accuracy"])]
    history["loss"], history["accuracy"] = summed, list(summed)
    history.pop("note", None)
    (models / name / "history.json").write_text(json.dumps(history))
    return history


def test_impossible_curves_are_not_drawn_and_the_page_says_why(open_page, tmp_models):
    history = _impossible_model(tmp_models, "summed")
    at = open_page(PAGE)
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Not drawn for summed: its training accuracy goes outside 0–100%") for w in warnings), warnings
    assert any("training loss and training accuracy are one and the same series" in w for w in warnings), warnings
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    drawn = [plotly_values(t["y"]) for s in specs for t in s["data"] if t.get("type") == "scatter"]
    assert drawn and all(len(y) != len(history["accuracy"]) or not np.allclose(y, history["accuracy"]) for y in drawn)
    assert any(np.allclose(y, history["val_accuracy"]) for y in drawn if len(y) == len(history["val_accuracy"]))


def test_charts_refuse_impossible_series_and_keep_the_rest():
    from dashboard import charts

    good = {"epoch": [1, 2], "loss": [1.2, 0.9], "accuracy": [0.4, 0.5], "val_loss": [1.1, 1.0], "val_accuracy": [0.45, 0.5]}
    assert charts.refused_series(good) == {}
    assert [t.name for t in charts.training_curves(good, "accuracy").data] == ["train", "validation (PublicTest)"]
    bad = {**good, "accuracy": [0.4, 1.6], "val_loss": [1.1, float("nan")], "loss": [-0.1, 0.2]}
    refused = charts.refused_series(bad)
    assert set(refused) == {"accuracy", "val_loss", "loss"}
    assert "from 40% to 160%" in refused["accuracy"] and "not finite" in refused["val_loss"] and "negative" in refused["loss"]
    assert [t.name for t in charts.training_curves(bad, "accuracy").data] == ["validation (PublicTest)"]
    assert charts.training_curves(bad, "loss").data == ()
    assert [t.name for t in charts.compare_curves({"a": good, "b": bad}, "accuracy").data] == ["a"]
    assert len(charts.refusal_notes(bad, "b")) == 3


def test_learning_curves_of_all_models_side_by_side(open_page):
    at = open_page(PAGE)
    names = [n for n in shipped() if "epoch" in read_json(n, "history.json")]  # single networks
    assert len(names) >= 3  # the default, the model it replaced, the seed
    specs = {json.loads(c.proto.spec)["layout"].get("title", {}).get("text", ""): json.loads(c.proto.spec)
             for c in at.get("plotly_chart")}
    for title, key in (("PublicTest accuracy per epoch, all models", "val_accuracy"),
                       ("PublicTest loss per epoch, all models", "val_loss")):
        traces = specs[title]["data"]
        assert [t["name"] for t in traces] == names
        for trace in traces:
            history = read_json(trace["name"], "history.json")
            assert np.allclose(plotly_values(trace["y"]), history[key])
            assert list(plotly_values(trace["x"])) == history["epoch"]


def test_confusion_matrix_counts_and_per_emotion_table(open_page):
    at = open_page(PAGE)
    name = shipped()[0]
    metrics = read_json(name, "metrics.json")

    def heatmap():
        return next(s for s in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                    if s["data"][0]["type"] == "heatmap"
                    and s["layout"]["title"]["text"].startswith(at.radio(key=f"cm-split-{name}").value))

    # Normalized by default: each row sums to 1.
    z = plotly_values(heatmap()["data"][0]["z"]).reshape(7, 7)
    assert np.allclose(z.sum(axis=1), 1.0)
    assert list(heatmap()["data"][0]["x"]) == list(EMOTIONS)

    # Counts: exactly the confusion matrix of metrics.json, on either split.
    at.toggle(key=f"cm-norm-{name}").set_value(False).run()
    for split in ("PublicTest", "PrivateTest"):
        at.radio(key=f"cm-split-{name}").set_value(split).run()
        z = plotly_values(heatmap()["data"][0]["z"]).reshape(7, 7)
        assert np.array_equal(z, np.array(metrics[split]["confusion_matrix"]))
        assert z.sum() == metrics[split]["n"]

    table = next(d.value for d in at.dataframe if "precision" in d.value.columns)
    assert list(table["emotion"]) == list(EMOTIONS)
    per_class = metrics["PrivateTest"]["per_class"]
    assert np.allclose(table["recall"], [per_class[e]["recall"] for e in EMOTIONS])
    assert np.allclose(table["f1"], [per_class[e]["f1"] for e in EMOTIONS])


def test_a_test_image_gets_its_probability_bars(open_page, fer_data):
    at = open_page(PAGE)
    at.selectbox(key="test-split").set_value("PrivateTest")
    at.selectbox(key="test-emotion").set_value("Happy")
    at.number_input(key="test-index").set_value(3)
    at.run()
    assert not at.exception and not at.error
    images, labels = fer_data.split("PrivateTest")
    face = images[labels == EMOTIONS.index("Happy")][3]

    (caption,) = [i for i in at.image if "True emotion" in (i.proto.imgs[0].caption if i.proto.imgs else "")]
    assert caption.proto.imgs[0].caption == "True emotion: Happy"
    bars = next(s for s in (json.loads(c.proto.spec) for c in at.get("plotly_chart"))
                if s["data"][0].get("orientation") == "h")
    from fer_core import EmotionRecognizer

    expected = EmotionRecognizer.load(at.sidebar.selectbox(key="model_name").value).classify(face[None])[0]
    assert np.allclose(plotly_values(bars["data"][0]["x"]), expected, atol=1e-4)
    verdict = [m.value for m in at.markdown if " reads **" in m.value]
    assert verdict and EMOTIONS[int(np.argmax(expected))] in verdict[0]


# --- The training form ---------------------------------------------------------------------------


def test_model_names_that_would_overwrite_are_refused(tmp_path):
    models, runs = tmp_path / "models", tmp_path / "runs"
    (models / "mine").mkdir(parents=True)
    (runs / "halfway").mkdir(parents=True)
    assert validate_name("new_model-2", models, runs) is None
    for bad, words in [("", "name"), ("my model", "letters"), ("../x", "letters"), ("default", "shipped"),
                       ("Seed", "shipped"), ("mine", "already exists"), ("halfway", "already exists"),
                       ("x" * 41, "40")]:
        message = validate_name(bad, models, runs)
        assert message and words in message, (bad, message)


@pytest.fixture
def tmp_models(tmp_path, monkeypatch):
    """An empty models folder for the app (FER_MODELS_DIR); runs go to its sibling runs/."""
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    return models


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """The operator's data folder ($FER_DATA_DIR), whose FER-2013 files the page offers by name."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("FER_DATA_DIR", str(folder))
    return folder


def shown(at) -> str:
    """Everything the page sends the browser (texts, labels, help, options), as one string."""
    out = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def fill_form(at, data: str | None = None, name: str = "tiny", epochs: int = 1, upload: bytes | None = None):
    if data is not None:
        at.selectbox(key="train-data").set_value(data)  # a dataset the server offers, by name
    if upload is not None:
        at.file_uploader(key="train-upload").set_value(("mine.csv", upload, "text/csv"))
    at.selectbox(key="train-arch").set_value("seed")
    at.number_input(key="train-epochs").set_value(epochs)
    at.selectbox(key="train-batch").set_value(32)
    at.text_input(key="train-name").set_value(name)
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def wait_for_end(at, timeout: float = JOB_TIMEOUT):
    """Rerun the page, as its 2-second refresh does, until the training subprocess has ended."""
    job = the_job()
    deadline = time.monotonic() + timeout
    while job.running:
        if time.monotonic() > deadline:
            job.cancel()
            pytest.fail(f"the training did not end within {timeout} s; its output: {job.stderr()[-2000:]}")
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        time.sleep(2)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def the_job():
    from dashboard.state import training_jobs

    return training_jobs().current()


def test_training_form_trains_a_new_model_that_appears_in_the_selector(open_page, tmp_models, data_dir):
    csv = write_fer_csv(data_dir / "tiny.csv", fer_sample({"Training": 24, "PublicTest": 4, "PrivateTest": 4}))
    at = open_page(PAGE)
    assert not at.sidebar.selectbox  # no model at all yet
    at = fill_form(at, data="tiny.csv", name="tiny")
    job = the_job()
    assert job.name == "tiny" and job.models_dir == tmp_models and Path(job.data_path) == csv.resolve()
    assert "--fresh" in job.command() and "--models-dir" in job.command()

    at = wait_for_end(at)
    assert [s.value for s in at.success] == ["The model 'tiny' is ready. Pick it in the sidebar's model selector."], \
        [e.value for e in at.error] + [job.stderr()[-2000:]]
    assert at.sidebar.selectbox(key="model_name").options == ["tiny"]
    assert (tmp_models / "tiny" / "model.tflite").is_file()
    history = json.loads((tmp_models / "tiny" / "history.json").read_text())
    assert history["epoch"] == [1]
    # The finished run's curves are drawn from its history.
    assert any(t == "Accuracy per epoch" for t in titles(at))
    # The new model is usable on every page.
    at.switch_page("app_pages/photo.py").run()
    assert not at.exception and not at.error


def test_bad_training_csv_fails_with_the_row_and_leaves_models_alone(open_page, tmp_models, tmp_path):
    sample = fer_sample({"Training": 3, "PublicTest": 1, "PrivateTest": 1})
    csv = write_fer_csv(tmp_path / "bad.csv", sample).read_text().splitlines()
    csv[4] = "3,1 2 3 4 5,Training"  # row 5 (the header is row 1): 5 pixels instead of 2304
    (tmp_models / "keep").mkdir()
    (tmp_models / "keep" / "model.tflite").write_bytes(b"placeholder: must not change")

    at = open_page(PAGE)
    at = fill_form(at, upload="\n".join(csv).encode(), name="bad")
    job = the_job()
    assert job.name == "bad" and job.uploaded_file is not None
    at = wait_for_end(at)
    (error,) = [e.value for e in at.error if "Training of" in e.value]
    assert error.startswith("Training of 'bad' failed:") and "row 5" in error and "2304" in error, error
    assert "Traceback" not in error
    assert not (tmp_models / "bad").exists()
    assert not (tmp_models.parent / "runs" / "bad").exists()
    assert not job.uploaded_file.exists()  # the uploaded CSV's temporary copy is gone
    assert (tmp_models / "keep" / "model.tflite").read_bytes() == b"placeholder: must not change"


def test_form_refuses_a_shipped_name_without_starting(open_page, tmp_models, data_dir):
    write_fer_csv(data_dir / "tiny.csv", fer_sample(1))
    at = open_page(PAGE)
    before = the_job()
    at = fill_form(at, data="tiny.csv", name="seed")
    assert any("shipped model" in e.value for e in at.error)
    assert the_job() is before  # no process was started


def test_the_server_offers_its_data_files_by_name_and_refuses_any_other_path(tmp_path):
    data, elsewhere, outside = tmp_path / "data", tmp_path / "elsewhere", tmp_path / "outside"
    for folder in (data / "kaggle" / "train", elsewhere, outside):
        folder.mkdir(parents=True)
    for f in (data / "a.csv", data / "b.npz", data / "notes.txt", data / ".hidden.csv", elsewhere / "fer2013.csv",
              outside / "secret.csv", data / "fer2013.csv"):
        f.write_text("emotion,pixels,Usage\n")
    datasets = ServerDatasets({"FER2013_PATH": str(elsewhere / "fer2013.csv"), "FER_DATA_DIR": str(data)})
    # $FER2013_PATH's file first, then the data folder's FER-2013 files and Kaggle folders; names only
    assert datasets.names() == ["fer2013.csv", "a.csv", "b.npz", "fer2013.csv (2)", "kaggle"]
    assert datasets.path("fer2013.csv") == (elsewhere / "fer2013.csv").resolve()
    assert datasets.path("fer2013.csv (2)") == (data / "fer2013.csv").resolve()
    assert datasets.path("kaggle") == (data / "kaggle").resolve()
    for sent in [str(outside / "secret.csv"), "../outside/secret.csv", "/etc/passwd", str(data / "a.csv"),
                 "notes.txt", ".hidden.csv", "data/a.csv", "", None]:
        with pytest.raises(ValueError, match="not one this server offers"):
            datasets.path(sent)
    assert ServerDatasets({}).names() == []  # nothing set: nothing offered


def test_a_path_sent_instead_of_a_listed_dataset_is_refused(open_page, tmp_models, data_dir, tmp_path, monkeypatch):
    """A crafted form value (the browser sends the widget's value) is not a way to train on a server file."""
    sample = fer_sample(1)
    secret = write_fer_csv(tmp_path / "secret.csv", sample)
    monkeypatch.delenv("FER2013_PATH", raising=False)  # and the data folder is empty: nothing is offered
    at = open_page(PAGE)
    assert "This server offers no dataset" in shown(at) and "train-data" not in [s.key for s in at.selectbox]
    before = the_job()
    at.session_state["train-data"] = str(secret)
    at = fill_form(at, name="fresh_name")
    # (The page also shows how the last job of this process ended: an earlier test's, here.)
    assert "Pick a dataset on this server or upload a CSV." in [e.value for e in at.main.error]
    assert the_job() is before  # nothing was started, on that file or any other

    # With a file in the data folder the page offers it by name; the secret file is neither offered nor named.
    # (A value outside the options never reaches the page: Streamlit replaces it with the first option.)
    write_fer_csv(data_dir / "tiny.csv", sample)
    at = open_page(PAGE)
    assert at.selectbox(key="train-data").options == ["tiny.csv"]
    assert str(secret) not in shown(at) and str(data_dir) not in shown(at) and "secret" not in shown(at)


def test_cancel_stops_the_run_and_writes_no_model(open_page, tmp_models, data_dir):
    write_fer_csv(data_dir / "tiny.csv", fer_sample({"Training": 24, "PublicTest": 4, "PrivateTest": 4}))
    at = open_page(PAGE)
    at = fill_form(at, data="tiny.csv", name="to_cancel", epochs=50)
    job = the_job()
    assert job.name == "to_cancel" and job.running
    at.button(key="train-cancel").click().run()
    assert not at.exception
    assert job.state()[0] == "cancelled" and job.process.returncode is not None
    assert any("was cancelled" in w.value for w in at.warning)
    assert not (tmp_models / "to_cancel").exists()
    assert not (tmp_models.parent / "runs" / "to_cancel").exists()


def test_only_one_training_at_a_time(tmp_path):
    from dashboard.training import TrainingJob

    registry = JobRegistry()
    args = dict(architecture="seed", epochs=1, batch_size=32, data_path=str(tmp_path / "none.csv"),
                models_dir=tmp_path / "models", runs_dir=tmp_path / "runs")
    first = registry.start(TrainingJob(name="a", **args))
    try:
        with pytest.raises(RuntimeError, match="being trained"):
            registry.start(TrainingJob(name="b", **args))
    finally:
        first.cancel()
    assert first.state()[0] in ("cancelled", "failed")


def test_the_full_fer2013_trains_from_its_path_on_the_server(open_page, tmp_models, fer_path):
    """The full fer2013.csv (~290 MB) is larger than the upload limit: the page says so and offers the
    server's own copy ($FER2013_PATH) by its name, never its path, and the training process reads the real data."""
    from dashboard.privacy import upload_limit_bytes

    limit_mb = upload_limit_bytes() // (1024 * 1024)
    assert limit_mb * 1024 * 1024 < 290_000_000  # why the server's copy is needed
    real = Path(fer_path).resolve()
    at = open_page(PAGE)
    picker = at.selectbox(key="train-data")
    assert picker.value == real.name and picker.options[0] == real.name  # $FER2013_PATH, set by CI: by name
    uploader = at.get("file_uploader")[0]
    assert f"up to {limit_mb} MB" in uploader.proto.label and "offered above" in uploader.proto.help
    assert any(f"Uploads are limited to {limit_mb} MB" in c.value and "server's own copy" in c.value for c in at.caption)
    assert str(real.parent) not in shown(at) and str(Path(fer_path).parent) not in shown(at)

    at = fill_form(at, name="full_data", epochs=1)  # the dataset as it came: the real data
    job = the_job()
    assert job.name == "full_data" and Path(job.data_path) == real and job.uploaded_file is None
    assert job.command()[job.command().index("--data") + 1] == str(real)
    deadline = time.monotonic() + JOB_TIMEOUT
    while job.running and "images; per split" not in job.stdout():  # the CLI has read the whole dataset
        assert time.monotonic() < deadline, job.stderr()[-2000:]
        time.sleep(1)
    out = job.stdout()
    at.run()  # the page's training log names the data, not where it lies on the server
    assert f"Loading {real.name}" in shown(at) and str(real.parent) not in shown(at), shown(at)[-3000:]
    job.cancel()  # a whole epoch on the full data is not this test's business
    assert "images; per split" in out, job.stderr()[-2000:]
    assert "35887 images" in out, out[-2000:]  # all of FER-2013
    assert not (tmp_models / "full_data").exists()
