"""Evaluation beyond single crops: ten-crop and flip test-time augmentation, FER+ majority labels."""

import subprocess
import sys

import numpy as np
import pytest

from fer_core.data import load_ferplus_votes
from fer_core.evaluate import evaluate_model_file, ferplus_majority, ten_crops, with_tta
from fer_core.registry import model_dir, read_json

from .conftest import REPO


def test_ten_crops_are_corners_and_centre_each_mirrored(fer_data):
    faces = fer_data.split("PrivateTest")[0][:5]
    views = ten_crops(faces)
    assert len(views) == 10 and all(v.shape == faces.shape and v.dtype == np.uint8 for v in views)
    for plain, mirrored in zip(views[::2], views[1::2]):
        assert np.array_equal(mirrored, plain[:, :, ::-1])
    # The top-left crop shows the face's top-left 44×44 pixels, stretched to 48×48.
    import cv2

    expected = cv2.resize(faces[0, :44, :44], (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(views[0][0], expected)
    # Distinct crops: the four corners and the centre are different views of the face.
    assert len({v[0].tobytes() for v in views[::2]}) == 5


def test_tta_averages_the_views():
    calls = []

    def fake(f):  # a "classifier" that reports the mean grey level of what it saw
        calls.append(f.copy())
        return np.repeat(f.reshape(len(f), -1).mean(1, keepdims=True), 7, axis=1)

    faces = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    out = with_tta(fake, "tencrop")(faces)
    assert len(calls) == 10 and out.shape == (3, 7)
    np.testing.assert_allclose(out[:, 0], np.mean([c.reshape(3, -1).mean(1) for c in calls], axis=0))
    calls.clear()
    with_tta(fake, "flip")(faces)
    assert len(calls) == 2 and np.array_equal(calls[1], faces[:, :, ::-1])
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        with_tta(fake, "rotate")


def test_ferplus_majority_drops_rows_without_a_clear_emotion():
    votes = np.array([[0, 0, 0, 8, 0, 0, 2],   # Happy
                      [0, 0, 0, 0, 0, 0, 0],   # not a face / unknown only
                      [0, 0, 0, 0, 5, 0, 5],   # a tie: Sad or Neutral
                      [1, 0, 0, 0, 0, 0, 0]], np.float32)
    keep, majority = ferplus_majority(votes)
    assert keep.tolist() == [True, False, False, True]
    assert majority[keep].tolist() == [3, 0]


@pytest.fixture(scope="module")
def default_scores(fer_data, ferplus_path):
    votes = load_ferplus_votes(ferplus_path, expected_rows=len(fer_data))
    path = model_dir("default") / "model.tflite"
    # PrivateTest only: ten-crop runs the network ten times a face.
    return {mode: evaluate_model_file(path, fer_data, splits=("PrivateTest",), tta=mode, ferplus=votes)
            for mode in (None, "flip", "tencrop")}


def test_tta_scores_are_close_to_the_single_crop(default_scores):
    single = default_scores[None]["PrivateTest"]
    assert single["accuracy"] == read_json("default", "metrics.json")["PrivateTest"]["accuracy"]
    for mode in ("flip", "tencrop"):
        # Views of the same face: within a couple of points of the single crop, never a collapse.
        assert abs(default_scores[mode]["PrivateTest"]["accuracy"] - single["accuracy"]) < 0.03


def test_ferplus_majority_accuracy_is_reported(default_scores):
    for mode in (None, "flip", "tencrop"):
        m = default_scores[mode]["PrivateTest"]
        # Rows with a clear FER+ majority: most of the 3,589 (not-a-face, unknown and ties left out).
        assert 3000 < m["ferplus_n"] < 3589
        # FER+ relabelled ~37% of faces, and the model learned FER-2013's labels: its agreement with
        # the crowd majority is well above chance (~25% for always-Neutral) but differs from FER-2013.
        assert 0.6 < m["ferplus_majority_accuracy"] < 0.9
        assert m["ferplus_majority_accuracy"] != m["accuracy"]


def test_cli_evaluate_prints_tta_and_ferplus(fer_path, ferplus_path):
    out = subprocess.run([sys.executable, "-m", "fer_core", "evaluate", "seed", "--data", fer_path,
                          "--ferplus", ferplus_path, "--tta", "--tta", "tencrop"],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "FER+ majority" in out.stdout and "matches metrics.json" in out.stdout
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("seed")]
    assert [r[0] for r in rows] == ["seed"] * 2 + ["seed+flip"] * 2 + ["seed+tencrop"] * 2
    assert all(len(r) == 6 for r in rows)  # model, split, accuracy, macro-F1, ECE, FER+ majority


def test_cli_evaluate_refuses_ferplus_with_a_kaggle_folder(tmp_path, ferplus_path):
    from .fixtures import fer_sample, write_kaggle_folders

    write_kaggle_folders(tmp_path / "fer", fer_sample(2))
    out = subprocess.run([sys.executable, "-m", "fer_core", "evaluate", "seed", "--data", str(tmp_path / "fer"),
                          "--ferplus", ferplus_path], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "Kaggle folder has another order" in out.stderr and "Traceback" not in out.stderr
