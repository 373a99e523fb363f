"""Model names and the engine's one runtime (issue 14's review).

- A model name always means models/<name>: once, a folder of the current directory with that name was
  loaded instead (`predict --model seed` run from a folder holding a `seed/` of photos loaded nothing
  the user meant).
- The .tflite models run with ai-edge-litert only. When it is missing the engine says so; it once fell
  back to TensorFlow, whose import in the app's process, next to streamlit-webrtc, crashes the server.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fer_core import EmotionRecognizer, ModelError
from fer_core.registry import MODELS_DIR, model_dir, read_json

from .conftest import REPO


@pytest.fixture()
def decoy_cwd(tmp_path, monkeypatch):
    """A working directory holding folders named like the shipped models, with a wrong model inside."""
    for name in ("seed", "default"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.tflite").write_bytes(b"not this one")
        (tmp_path / name / "info.json").write_text('{"name": "decoy"}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_model_name_means_the_models_folder_whatever_the_current_folder_holds(decoy_cwd):
    assert model_dir("seed") == MODELS_DIR / "seed"
    assert read_json("seed", "info.json")["name"] == "seed"
    rec = EmotionRecognizer.load("seed")
    assert rec.classify(np.zeros((1, 48, 48), np.uint8)).shape == (1, 7)


def test_a_folder_is_given_by_its_path(decoy_cwd):
    assert model_dir("./seed").resolve() == (decoy_cwd / "seed").resolve()
    assert model_dir(decoy_cwd / "seed") == decoy_cwd / "seed"
    with pytest.raises(ModelError, match="damaged"):  # the decoy, loaded because its path was given
        EmotionRecognizer.load("./seed")
    with pytest.raises(ModelError, match="There is no model folder at"):
        EmotionRecognizer.load("./nowhere")
    with pytest.raises(ModelError, match=r"no model 'nowhere'.*\./nowhere"):
        EmotionRecognizer.load("nowhere")


def test_the_command_line_takes_the_shipped_model_by_name(decoy_cwd, astronaut_bgr):
    import cv2

    photo = decoy_cwd / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FER_MODELS_DIR", None)
    out = subprocess.run([sys.executable, "-m", "fer_core", "predict", str(photo), "--model", "seed"], cwd=decoy_cwd,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Happy" in out.stdout


MISSING_LITERT = """
import sys
sys.modules["ai_edge_litert"] = None          # as if ai-edge-litert were not installed
sys.modules["ai_edge_litert.interpreter"] = None
from fer_core import EmotionRecognizer, ModelError
try:
    EmotionRecognizer.load("seed")
except ModelError as exc:
    print("ModelError:", exc)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_without_ai_edge_litert_the_engine_says_so_and_never_imports_tensorflow():
    out = subprocess.run([sys.executable, "-c", MISSING_LITERT], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert "ModelError: The package ai-edge-litert, which runs the .tflite models, is not installed." in out.stdout
    assert "pip install -r requirements.txt" in out.stdout and "damaged" not in out.stdout
    assert "tensorflow imported: False" in out.stdout, out.stdout
