"""Issue 11's shipped `default`: two frozen trunks (the `ensemble`'s wide mixup member's and realfaces-v1's)
and a head trained on their features (experiments/two_trunk.py). What the model card says of it is checked on the real model
files and real FER-2013 faces: its trunks are those two networks unchanged, the head starts as the mean
of their logits, and with --fer-targets keep a FER-2013 face's target is what that start reads in it.

This module imports TensorFlow (through Keras): the app never does."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fer_core.registry import read_json

from .conftest import REPO
from .fixtures import fer_sample

keras = pytest.importorskip("keras", reason="the two-trunk model is built with Keras (tensorflow-cpu)")
sys.path.insert(0, str(REPO / "experiments"))
two_trunk = pytest.importorskip("two_trunk")


@pytest.fixture(scope="module")
def faces():
    return fer_sample({"PrivateTest": 10})["images"][..., None].astype(np.float32) / 255.0  # 70 real faces


def logits(model, x):
    """The network's logits: its last Dense layer's input times its weights (softmax undone)."""
    dense = next(layer for layer in reversed(model.layers) if isinstance(layer, keras.layers.Dense))
    features = keras.Model(model.inputs[0], dense.input)
    w, b = dense.get_weights()
    return features.predict(x, verbose=0) @ w + b


FER_TRUNK = "models/ensemble/members/long2_wide_mixup.keras"


def test_the_shipped_default_is_its_two_trunks_unchanged_and_a_head():
    info = read_json("default", "info.json")
    assert info["config"]["architecture"] == "two_trunk"
    assert info["config"]["extra"]["trunks"] == ["long2_wide_mixup", "realfaces-v1"]
    model = keras.models.load_model(REPO / "models" / "default" / "model.keras", compile=False)
    for inner, source in (("fer_trunk", FER_TRUNK), ("real_trunk", "realfaces-v1")):
        _, trunk = two_trunk.trunk(source)
        got, want = model.get_layer(inner).get_weights(), trunk.get_weights()
        assert len(got) == len(want) > 0
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)  # frozen: only the head was trained
    head = model.get_layer("head").get_weights()
    assert head[0].shape == (384 + 256, 7)
    start, _ = two_trunk.head_init(FER_TRUNK, "realfaces-v1")
    assert np.abs(head[0] - start).max() > 1e-3  # the head did learn something


def test_the_starting_head_is_the_mean_of_the_two_networks_logits(faces):
    init = two_trunk.head_init(FER_TRUNK, "realfaces-v1")
    model = two_trunk.two_trunk_model(FER_TRUNK, "realfaces-v1", init)
    a, _ = two_trunk.trunk(FER_TRUNK)
    b, _ = two_trunk.trunk("realfaces-v1")
    mean = (logits(a, faces) + logits(b, faces)) / 2
    want = np.exp(mean - mean.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(faces, verbose=0), want, atol=1e-4)


def test_kept_targets_are_the_starting_heads_readings_and_photos_keep_their_labels():
    rng = np.random.default_rng(0)
    n = {"fer": 40, "lfw_expressions": 12, "sfew_train": 5}
    feats = {"fer/train/labels": np.arange(n["fer"]) % 7}
    for name in ("lfw_expressions", "sfew_train"):
        feats[f"{name}/train/labels"] = rng.integers(0, 7, n[name])
    for v in range(two_trunk.VIEWS + 1):
        for key, m in (("fer", n["fer"]), ("lfw_expressions", n["lfw_expressions"]), ("sfew_train", n["sfew_train"])):
            feats[f"{key}/train/{v}"] = rng.normal(size=(m, 8)).astype(np.float16)
    init = (rng.normal(size=(8, 7)).astype(np.float32), rng.normal(size=7).astype(np.float32))
    x, y, w = two_trunk.head_data(feats, init, photo_weight=2.0, sfew_weight=6.0, fer_targets="keep")
    per_view = sum(n.values())
    assert len(x) == len(y) == len(w) == per_view * (two_trunk.VIEWS + 1)
    fer = x[:n["fer"]]
    np.testing.assert_allclose(y[:n["fer"]], two_trunk.softmax(fer @ init[0] + init[1]), atol=1e-6)
    assert (w[:n["fer"]] == 1).all()
    photo = slice(n["fer"], n["fer"] + n["lfw_expressions"])
    np.testing.assert_array_equal(y[photo].argmax(1), feats["lfw_expressions/train/labels"])
    assert (y[photo].max(1) == 1).all()  # one-hot labels
    # With labels, FER-2013's faces are one-hot too, weighted by 1/sqrt(frequency) like the photos.
    _, y_labels, _ = two_trunk.head_data(feats, init, 2.0, 6.0, fer_targets="labels")
    np.testing.assert_array_equal(y_labels[:n["fer"]].argmax(1), feats["fer/train/labels"])


def test_floor_score_ranks_every_candidate_meeting_the_floors_first():
    floors = (0.8237, 0.5233)
    meets = {"PublicTest": 0.60, "lfw": 0.83, "sfew": 0.53}
    misses = {"PublicTest": 0.71, "lfw": 0.80, "sfew": 0.60}
    assert two_trunk.passes(meets, floors) and not two_trunk.passes(misses, floors)
    assert two_trunk.floor_score(meets, floors) == 0.60 > two_trunk.floor_score(misses, floors)


def test_the_recorded_command_names_no_machine_path():
    cmd = read_json("default", "info.json")["config"]["extra"]["command"]
    assert cmd.startswith("python experiments/two_trunk.py publish ") and cmd.endswith("--out models/default")
    assert "/work" not in cmd and "--real realfaces-v1" in cmd and f"--fer {FER_TRUNK}" in cmd
