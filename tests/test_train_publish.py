"""Training publishes all or nothing: a model is written to a temporary folder and renamed into
place, so a failed or cancelled run never overwrites (or half-writes) a model that exists.

Real training on a tiny slice of FER-2013 (about 400 real rows, the seed architecture, one epoch)
in a temporary models folder. This module imports TensorFlow (fer_core.train), so it lives alone:
the app's modules must never import TensorFlow."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from fer_core.data import FaceDataset
from fer_core.registry import list_models, read_json

from .fixtures import astronaut_bgr, fer_sample

train_mod = pytest.importorskip("fer_core.train", reason="training needs TensorFlow (tensorflow-cpu in requirements.txt)")
Cancelled, TrainConfig, train = train_mod.Cancelled, train_mod.TrainConfig, train_mod.train

NAME = "tiny"
FILES = ("model.keras", "model.tflite", "history.json", "info.json", "metrics.json")


@pytest.fixture(scope="module")
def tiny() -> FaceDataset:
    s = fer_sample({"Training": 45, "PublicTest": 8, "PrivateTest": 8})  # 315 + 56 + 56 real faces
    return FaceDataset(s["images"], s["labels"], s["usage"], source="FER-2013 rows (test slice)")


@pytest.fixture(scope="module")
def cfg():
    return TrainConfig(architecture="seed", epochs=1, batch_size=64)


@pytest.fixture(scope="module")
def published(tmp_path_factory, tiny, cfg) -> Path:
    """A models folder in which a first run published 'tiny'."""
    models = tmp_path_factory.mktemp("models")
    out = train(tiny, NAME, cfg, models_dir=models, work_dir=models.parent / "runs-first", resume=False)
    assert out == models / NAME
    return models


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir() if p.name.startswith("."))


def test_a_finished_run_publishes_a_complete_working_model(published, tiny):
    import keras

    from fer_core import EmotionRecognizer

    folder = published / NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert list_models(published) == [NAME] and leftovers(published) == []
    history = read_json(NAME, "history.json", published)
    assert history["epoch"] == [1] and len(history["val_accuracy"]) == 1
    metrics = read_json(NAME, "metrics.json", published)
    assert metrics["PrivateTest"]["n"] == 56 and metrics["PublicTest"]["n"] == 56

    # The .tflite the app runs gives the Keras model's probabilities (an export that dropped the
    # weights once produced NaN for every face).
    rec = EmotionRecognizer.load(NAME, models_dir=published)
    x = tiny.images[:16]
    tflite = rec.classify(x)
    reference = keras.models.load_model(folder / "model.keras").predict(x[..., None] / 255.0, verbose=0)
    assert np.isfinite(tflite).all() and np.allclose(tflite.sum(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(tflite, reference, atol=1e-4)
    assert len(rec.analyze(astronaut_bgr())) == 1


def test_a_cancelled_run_leaves_the_existing_model_untouched(published, tiny, cfg, tmp_path):
    before = fingerprint(published / NAME)
    epochs_seen = []

    def progress(epoch, epochs, logs):
        epochs_seen.append(epoch)
        raise Cancelled()

    with pytest.raises(Cancelled):
        train(tiny, NAME, cfg, models_dir=published, work_dir=tmp_path / "runs", progress=progress, resume=False)
    assert epochs_seen == [1]  # it really trained, then was cancelled
    assert fingerprint(published / NAME) == before
    assert leftovers(published) == [] and list_models(published) == [NAME]


@pytest.mark.parametrize("stage", ["export", "evaluate"])
def test_a_run_failing_while_publishing_leaves_the_existing_model_untouched(published, tiny, cfg, tmp_path,
                                                                            monkeypatch, stage):
    before = fingerprint(published / NAME)

    if stage == "export":  # the disk fills up half-way through writing the .tflite
        def export(model, path, quantize=False):
            path.write_bytes(b"TFL3" + b"\x00" * 100)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(train_mod, "export_tflite", export)
    else:  # scoring the new model fails after all its files are written to the temporary folder
        import fer_core.evaluate

        def evaluate(path, data, **kwargs):
            assert Path(path).parent != published / NAME  # the new files are not in the model's folder
            raise RuntimeError("evaluation failed")

        monkeypatch.setattr(fer_core.evaluate, "evaluate_model_file", evaluate)

    with pytest.raises((OSError, RuntimeError)):
        train(tiny, NAME, cfg, models_dir=published, work_dir=tmp_path / "runs", resume=False)
    assert fingerprint(published / NAME) == before
    assert leftovers(published) == [] and list_models(published) == [NAME]


def test_bad_data_fails_before_anything_is_written(published, tiny, cfg, tmp_path):
    before = fingerprint(published / NAME)
    test_only = FaceDataset(tiny.images[tiny.usage > 0], tiny.labels[tiny.usage > 0], tiny.usage[tiny.usage > 0])
    with pytest.raises(ValueError, match="no Training rows"):
        train(test_only, NAME, cfg, models_dir=published, work_dir=tmp_path / "runs", resume=False)
    assert fingerprint(published / NAME) == before and leftovers(published) == []


def test_a_new_finished_run_replaces_the_model_completely(published, tiny, cfg, tmp_path):
    before = fingerprint(published / NAME)
    first_info = read_json(NAME, "info.json", published)
    new_cfg = TrainConfig(architecture="seed", epochs=1, batch_size=32, seed=7)
    train(tiny, NAME, new_cfg, models_dir=published, work_dir=tmp_path / "runs", resume=False)
    after = fingerprint(published / NAME)
    assert sorted(after) == sorted(FILES)
    assert after["model.tflite"] != before["model.tflite"]
    assert read_json(NAME, "info.json", published)["config"]["batch_size"] == 32 != first_info["config"]["batch_size"]
    assert leftovers(published) == [] and list_models(published) == [NAME]


def test_mixup_blends_faces_targets_and_weights(tiny):
    from dataclasses import replace

    cfg = replace(TrainConfig(), augment=False, mixup=0.4, class_weight_power=0.5, batch_size=64)
    train_ds, plain_ds, _, _ = train_mod.make_datasets(tiny, cfg)
    (x, y, w), (x0, y0, w0) = next(iter(train_ds)), next(iter(plain_ds))
    x, y, w = x.numpy(), y.numpy(), w.numpy()
    assert x.shape == (64, 48, 48, 1) and y.shape == (64, 7) and w.shape == (64,)
    np.testing.assert_allclose(y.sum(axis=1), 1, atol=1e-5)  # still a distribution over the 7 emotions
    assert (x >= 0).all() and (x <= 1).all()
    # Blended targets have two emotions (the plain one-hot targets have one); with λ ~ Beta(0.4, 0.4)
    # almost every batch mixes, so over a few batches some surely do.
    mixed = [((b[1].numpy() > 1e-6).sum(axis=1) >= 2).any() for b in train_ds.take(5)]
    assert any(mixed)
    assert ((y0.numpy() > 0).sum(axis=1) == 1).all()


def test_wide_vgg_is_compact_vgg_at_one_and_a_half_width():
    from fer_core.architectures import ARCHITECTURES

    wide, compact = ARCHITECTURES["wide_vgg"](), ARCHITECTURES["compact_vgg"]()
    assert wide.output_shape == compact.output_shape == (None, 7)
    convs = [l.filters for l in wide.layers if l.__class__.__name__ == "Conv2D"]
    assert convs == [48, 48, 96, 96, 192, 192, 384, 384]
    assert 2.5e6 < wide.count_params() < 2.8e6


@pytest.mark.parametrize("name", ["default", "ensemble", "realfaces-v1", "compact-v2", "compact-v1"])
def test_shipped_keras_files_are_what_the_tflite_runs(name):
    """model.keras (or an ensemble's members/*.keras, averaged) gives the shipped .tflite's
    probabilities, up to its int8 weights; for a flip-averaged model (TrainConfig.flip_average), the
    mean of its readings of each face and of its mirror image."""
    import keras

    from fer_core.classifier import TFLiteClassifier
    from fer_core.registry import model_dir

    folder = model_dir(name)
    info = read_json(name, "info.json")
    files = [folder / "members" / f"{m['name']}.keras" for m in info["members"]] if "members" in info \
        else [folder / "model.keras"]
    faces = fer_sample({"PrivateTest": 10})["images"]  # 70 real faces, 10 of each emotion
    x = faces[..., None].astype(np.float32) / 255.0
    views = [x, x[:, :, ::-1]] if info["config"].get("flip_average") else [x]
    reference = np.mean([keras.models.load_model(f).predict(v, verbose=0) for f in files for v in views], axis=0)
    tflite = TFLiteClassifier(folder / "model.tflite")
    tflite.temperature = 1.0  # raw probabilities, as Keras gives them
    got = tflite(faces)
    assert np.abs(got - reference).max() < 0.05
    assert (got.argmax(1) == reference.argmax(1)).mean() >= 0.95
