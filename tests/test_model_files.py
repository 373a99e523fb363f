"""A missing or damaged model file gives a ModelError that names the file and says how to restore
it — from the Python API and from the command line — never a crash or a traceback.
The damaged files are made from the real shipped seed model, in a temporary models folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fer_core import EmotionRecognizer, ModelError
from fer_core.registry import MODELS_DIR, list_models

from .fixtures import astronaut_bgr, astronaut_rgb, encode

REPO = Path(__file__).resolve().parent.parent
SEED = MODELS_DIR / "seed"


@pytest.fixture()
def models(tmp_path) -> Path:
    """A models folder holding a copy of the shipped seed model."""
    if not (SEED / "model.tflite").is_file():
        pytest.skip(f"the seed model is not in {MODELS_DIR} (train it: python -m fer_core train --name seed --preset seed)")
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(SEED, root / "seed")
    return root


def assert_helpful(message: str, file: Path):
    assert str(file) in message, message  # names the file
    assert "git checkout" in message and "python -m fer_core train" in message, message  # says how to restore it


def test_the_intact_copy_works(models):
    rec = EmotionRecognizer.load("seed", models_dir=models)
    results = rec.analyze(astronaut_bgr())
    assert len(results) == 1 and np.isfinite(results[0].probabilities).all()


def test_missing_model_file(models):
    file = models / "seed" / "model.tflite"
    file.unlink()
    with pytest.raises(ModelError, match="missing") as err:
        EmotionRecognizer.load("seed", models_dir=models)
    assert_helpful(str(err.value), file)


def test_missing_model_folder(models):
    with pytest.raises(ModelError, match="no model 'default'") as err:
        EmotionRecognizer.load("default", models_dir=models)
    assert "python -m fer_core train --name default" in str(err.value)


@pytest.mark.parametrize("damage", ["truncated to half", "truncated by one byte", "empty", "garbage", "a JPEG renamed"])
def test_damaged_model_file(models, damage):
    file = models / "seed" / "model.tflite"
    good = file.read_bytes()
    file.write_bytes({
        "truncated to half": good[: len(good) // 2],
        "truncated by one byte": good[:-1],
        "empty": b"",
        "garbage": np.random.default_rng(0).integers(0, 256, len(good), dtype=np.uint8).tobytes(),
        "a JPEG renamed": encode(astronaut_rgb(), "JPEG"),
    }[damage])
    with pytest.raises(ModelError, match="damaged") as err:
        EmotionRecognizer.load("seed", models_dir=models)
    assert_helpful(str(err.value), file)


def test_damaged_model_is_still_listed_but_refused_on_load(models):
    """The model selector lists models by their files; loading is what tells a damaged one apart,
    so the app must catch ModelError when it loads the selected model."""
    (models / "broken").mkdir()
    (models / "broken" / "model.tflite").write_bytes(b"\x00" * 100)
    assert list_models(models) == ["seed", "broken"]
    with pytest.raises(ModelError):
        EmotionRecognizer.load("broken", models_dir=models)
    assert EmotionRecognizer.load("seed", models_dir=models).classify(np.zeros((1, 48, 48), np.uint8)).shape == (1, 7)


def run_cli(*args, models_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FER_MODELS_DIR": str(models_dir), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "fer_core", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)


def test_command_line_reports_a_damaged_model_without_a_traceback(models, tmp_path):
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encode(astronaut_rgb(), "PNG"))
    ok = run_cli("predict", str(photo), "--model", "seed", models_dir=models)
    assert ok.returncode == 0, ok.stderr

    file = models / "seed" / "model.tflite"
    file.write_bytes(file.read_bytes()[:1000])
    bad = run_cli("predict", str(photo), "--model", "seed", models_dir=models)
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr and "damaged" in bad.stderr and str(file) in bad.stderr
