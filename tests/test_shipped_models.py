"""The shipped models, scored again on FER-2013, give exactly the figures in their metrics.json."""

import subprocess
import sys

import numpy as np
import pytest

from fer_core.evaluate import evaluate_model_file
from fer_core.registry import SHIPPED, model_dir, read_json

from .conftest import REPO


@pytest.fixture(scope="module")
def recomputed(fer_data):
    return {name: evaluate_model_file(model_dir(name) / "model.tflite", fer_data) for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_metrics_json_is_reproduced(recomputed, name):
    stored = read_json(name, "metrics.json")
    assert stored is not None, f"models/{name}/metrics.json is missing"
    for split in ("PublicTest", "PrivateTest"):
        got, want = recomputed[name][split], stored[split]
        assert got["n"] == want["n"] == 3589
        assert got["accuracy"] == want["accuracy"]
        assert got["macro_f1"] == want["macro_f1"]
        assert got["confusion_matrix"] == want["confusion_matrix"]
        assert np.trace(got["confusion_matrix"]) / got["n"] == pytest.approx(got["accuracy"], abs=1e-4)


@pytest.mark.parametrize("name", SHIPPED)
def test_model_folder_is_complete(name):
    folder = model_dir(name)
    history = read_json(name, "history.json")
    info = read_json(name, "info.json")
    # An ensemble keeps one Keras file per member (members/NAME.keras) instead of one large model.keras.
    keras_files = [f"members/{m['name']}.keras" for m in info["members"]] if "members" in info else ["model.keras"]
    for f in keras_files + ["model.tflite", "history.json", "metrics.json", "info.json"]:
        assert (folder / f).is_file(), f"{folder / f} is missing"
    # A single network: its curves; an ensemble: each member's curves and configuration.
    members = history["members"] if "members" in history else {name: history}
    configs = {m["name"]: m["config"] for m in info["members"]} if "members" in info else {name: info["config"]}
    assert sorted(members) == sorted(configs)
    for member, h in members.items():
        epochs = len(h["epoch"])
        assert epochs == configs[member]["epochs"] + configs[member].get("polish_epochs", 0)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # train-side ones may be dropped, with a note
            assert len(h[key]) == epochs if key in h or key.startswith("val_") else h["note"]
        # The epoch kept is the one with the best selection figure: PublicTest accuracy, or (trained with
        # real photos) its mean with the photos' validation people, as info.json says.
        best = info["members"][list(members).index(member)]["best_epoch"] if "members" in info else info["best_epoch"]
        select = info.get("selected_on", "val_accuracy")
        assert h[select][best - 1] == max(h[select])


def test_default_beats_the_models_it_replaced_on_privatetest(recomputed):
    default = recomputed["default"]["PrivateTest"]
    for older in ("compact-v1", "seed"):
        assert default["accuracy"] > recomputed[older]["PrivateTest"]["accuracy"]
        assert default["macro_f1"] > recomputed[older]["PrivateTest"]["macro_f1"]
    # The ensemble of three networks (compact-v2 among them) is the most accurate model shipped on FER-2013.
    assert recomputed["ensemble"]["PrivateTest"]["accuracy"] > default["accuracy"]


def test_cli_evaluate_says_figures_match(fer_path):
    out = subprocess.run([sys.executable, "-m", "fer_core", "evaluate", "seed", "--data", fer_path],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "matches metrics.json" in out.stdout and "DIFFERS" not in out.stdout
    acc = read_json("seed", "metrics.json")["PrivateTest"]["accuracy"]
    assert f"{acc:.4f}" in out.stdout


def test_cli_predict_writes_csv(tmp_path, astronaut_bgr):
    import cv2

    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    out_csv = tmp_path / "out.csv"
    out = subprocess.run([sys.executable, "-m", "fer_core", "predict", str(tmp_path), "--csv", str(out_csv)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Happy" in out.stdout
    assert "broken.jpg: This file is not an image" in out.stdout
    import pandas as pd

    table = pd.read_csv(out_csv)
    assert list(table["emotion"]) == ["Happy"]
    assert table.loc[0, ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]].sum() == pytest.approx(1, abs=1e-3)
