"""Issue 11's training recipe: FER+ soft targets, real photos as extra training data (only their train
people and clips), camera-like augmentation, fine-tuning a shipped model, and the epoch chosen on
PublicTest together with the photo sets' validation people.

Real data throughout: FER-2013 rows ($FER2013_PATH), FER+ votes ($FERPLUS_PATH) and LFW photos
($LFW_EXPRESSIONS_PATH). This module imports TensorFlow (fer_core.train): the app never does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_core.data import FaceDataset, load_ferplus_votes
from fer_core.realfaces import load_photo_set, split_groups, training_photos

from .fixtures import fer_sample

train_mod = pytest.importorskip("fer_core.train", reason="training needs TensorFlow (tensorflow-cpu in requirements.txt)")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lfw(lfw_path):
    return load_photo_set(lfw_path)


def test_soft_targets_blend_the_ferplus_vote_shares_into_the_label(fer_path, ferplus_path):
    from fer_core.data import load_fer2013

    data = load_fer2013(fer_path)
    votes = load_ferplus_votes(ferplus_path, expected_rows=len(data))
    t = train_mod.soft_targets(data.labels, votes, 0.3)
    assert t.shape == (len(data), 7) and np.allclose(t.sum(1), 1, atol=1e-5) and (t >= 0).all()
    # Row 0 of FER-2013 is an Angry face; with weight 0.3 its target is 0.7 one-hot + 0.3 its vote shares.
    share = votes[0] / votes[0].sum()
    np.testing.assert_allclose(t[0], 0.7 * np.eye(7)[data.labels[0]] + 0.3 * share, atol=1e-6)
    # FER+ moves many faces labelled Sad or Angry towards Neutral: the targets carry that shift.
    sad = data.labels == 4
    assert t[sad, 6].mean() > 0.03
    # A row nobody gave an emotion vote (FER+ "not a face") keeps its plain one-hot label.
    none = np.flatnonzero(votes.sum(1) == 0)[0]
    np.testing.assert_array_equal(t[none], np.eye(7)[data.labels[none]])
    assert (train_mod.soft_targets(data.labels, votes, 0.0) == np.eye(7)[data.labels]).all()


def test_camera_effects_stay_in_range_and_change_real_faces():
    import tensorflow as tf

    faces = fer_sample({"Training": 10})["images"]  # 70 real faces
    x = tf.constant(faces[..., None] / 255.0, tf.float32)
    tf.random.set_seed(0)
    y = train_mod.camera_effects(x).numpy()
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    changed = np.abs(y - x.numpy()).reshape(len(y), -1).max(1) > 0.02
    assert 0.3 < changed.mean() < 1.0  # each effect touches a random share of the faces, not all or none


def test_training_photos_never_include_the_held_out_people(lfw):
    from fer_core.faces import make_detector

    sample = lfw.subset(np.isin(lfw.groups, np.unique(lfw.groups)[:150]))
    side = split_groups(sample.groups)
    parts = {p.part: p for p in training_photos(sample, {"haar": make_detector("haar")}, "haar")}
    assert set(parts) == {"train", "val"}  # the "test" part is never cropped for training
    assert parts["train"].photos <= (side == "train").sum() and parts["val"].photos <= (side == "val").sum()
    assert parts["train"].photos >= 0.9 * (side == "train").sum()  # Haar finds ~99% of LFW's faces (padded)
    # The crops hold the photos' labels: the train people's labels, in their proportions.
    train_counts = np.bincount(sample.labels[side == "train"], minlength=7)
    got = np.bincount(parts["train"].labels, minlength=7)
    assert (got <= train_counts).all() and got.sum() == len(parts["train"].faces) == parts["train"].photos


def test_fine_tuning_with_photos_selects_on_publictest_and_the_photos_validation_people(tmp_path, lfw, fer_path,
                                                                                         ferplus_path):
    """One epoch fine-tuning the shipped compact network on a slice of FER-2013 with FER+ targets and
    LFW photos: the run starts from the shipped weights (a random start reads nothing at this rate),
    logs each photo set's validation accuracy, selects on their mean with PublicTest, and records its
    data by name, size and SHA-256, never by a path of this machine."""
    from fer_core.faces import make_detector

    s = fer_sample({"Training": 25, "PublicTest": 15, "PrivateTest": 4})
    rows = s["index"]
    votes = load_ferplus_votes(ferplus_path)[rows]
    data = FaceDataset(s["images"], s["labels"], s["usage"], source=fer_path)
    sample = lfw.subset(np.isin(lfw.groups, np.unique(lfw.groups)[:150]))
    photos = training_photos(sample, {"haar": make_detector("haar")}, "haar")
    init = REPO / "models" / "compact-v2"
    cfg = train_mod.TrainConfig(architecture="compact_vgg", init=str(init), epochs=1, learning_rate=1e-5,
                                augment=True, camera=True, ferplus_weight=0.3, photo_weights={sample.name: 1.0},
                                blend_back=(0.0, 1.0))
    out = train_mod.train(data, "tuned", cfg, models_dir=tmp_path / "models", work_dir=tmp_path / "runs",
                          resume=False, ferplus=votes, photos=photos)
    history = json.loads((out / "history.json").read_text())
    info = json.loads((out / "info.json").read_text())
    assert history["val_accuracy"][0] > 0.5  # the shipped weights, not a random start (~0.25)
    key = f"val_{sample.name}_accuracy"
    assert 0 <= history[key][0] <= 1
    assert history["val_score"][0] == pytest.approx((history["val_accuracy"][0] + history[key][0]) / 2, abs=1e-4)
    assert info["selected_on"] == "val_score" and info["best_epoch"] == 1
    assert info["train_images"] == int((s["usage"] == 0).sum()) + len(photos[0].labels)
    assert info["data"]["name"] == Path(fer_path).name and len(info["data"]["sha256"]) == 64
    assert info["photo_sets"][sample.name]["train_photos"] == photos[0].photos
    assert info["config"]["init"] == "compact-v2"  # the model it started from, by name
    # Blending back: share 1.0 is the starting model itself (its PublicTest accuracy on this slice), 0.0
    # the trained one; the share kept is the one with the better selection figure, and the model shipped
    # reads PublicTest as that share did.
    import keras

    blend = info["blend_back"]
    start = keras.models.load_model(init / "model.keras", compile=False)
    x_val, y_val = data.split("PublicTest")
    start_acc = float((start.predict(x_val[..., None] / 255.0, verbose=0).argmax(1) == y_val).mean())
    assert blend["figures"]["1.0"]["val_accuracy"] == pytest.approx(start_acc, abs=1e-4)
    assert blend["figures"]["0.0"]["val_accuracy"] == pytest.approx(history["val_accuracy"][0], abs=1e-4)
    assert blend["chosen"] == max((0.0, 1.0), key=lambda a: blend["figures"][str(a)]["val_score"])
    shipped = keras.models.load_model(out / "model.keras")
    shipped_acc = float((shipped.predict(x_val[..., None] / 255.0, verbose=0).argmax(1) == y_val).mean())
    assert shipped_acc == pytest.approx(blend["figures"][str(blend["chosen"])]["val_accuracy"], abs=1e-4)
    assert str(tmp_path) not in json.dumps(info) and str(REPO) not in json.dumps(info)


def test_a_teachers_probabilities_are_blended_into_the_fer2013_targets():
    """Distillation targets: the ensemble's own probabilities (no temperature) for the Training faces,
    blended into their targets by teacher_weight; the other rows are never read."""
    from fer_core.classifier import TFLiteClassifier

    s = fer_sample({"Training": 6, "PublicTest": 2})
    data = FaceDataset(s["images"], s["labels"], s["usage"])
    tflite = REPO / "models" / "ensemble" / "model.tflite"
    probs = train_mod.teacher_probabilities(tflite, data)
    train_rows = data.usage == 0
    assert np.allclose(probs[train_rows].sum(1), 1, atol=1e-4) and (probs[~train_rows] == 0).all()
    raw = TFLiteClassifier(tflite)
    raw.temperature = 1.0
    np.testing.assert_allclose(probs[train_rows], raw(data.images[train_rows]), atol=1e-5)
    # The ensemble reads most of these real training faces as labelled (it is a 74% model).
    assert (probs[train_rows].argmax(1) == data.labels[train_rows]).mean() > 0.6

    cfg = train_mod.TrainConfig(teacher_weight=0.4, batch_size=len(data))
    _, plain, _, _ = train_mod.make_datasets(data, cfg, teacher=probs)
    _, targets, _ = next(iter(plain))
    expected = 0.6 * np.eye(7)[data.labels[train_rows]] + 0.4 * probs[train_rows]
    got, want = np.sort(targets.numpy(), axis=0), np.sort(expected.astype(np.float32), axis=0)  # batches are shuffled
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="teacher"):
        train_mod.make_datasets(data, cfg)


def test_floors_rank_every_candidate_that_reaches_them_above_every_one_that_does_not():
    """photo_floors (the realfaces-fer presets): among candidates whose photo validation figures reach
    the floors, the best FER-2013 PublicTest wins; a candidate below a floor loses to all of them,
    however well it reads FER-2013, and such candidates rank among themselves by val_score."""
    floors = {"lfw_expressions": 0.80, "sfew_train": 0.48}

    def logs(pub, lfw, sfew):
        return {"val_accuracy": pub, "val_lfw_expressions_accuracy": lfw, "val_sfew_train_accuracy": sfew,
                "val_score": (pub + lfw + sfew) / 3}

    meets_low = logs(0.66, 0.85, 0.50)
    meets_high = logs(0.69, 0.80, 0.48)  # exactly on both floors
    misses_lfw = logs(0.72, 0.79, 0.60)
    misses_sfew = logs(0.70, 0.90, 0.40)
    ranked = sorted([misses_lfw, meets_low, misses_sfew, meets_high], key=lambda x: train_mod.floor_score(x, floors),
                    reverse=True)
    assert ranked == [meets_high, meets_low, misses_lfw, misses_sfew]
    assert train_mod.floor_score(meets_high, floors) == 0.69
    assert train_mod.floor_score(misses_lfw, floors) == pytest.approx(misses_lfw["val_score"] - 1)


def test_the_selection_figure_follows_the_config_and_refuses_a_floor_for_a_set_it_does_not_have(lfw):
    from types import SimpleNamespace

    val = [SimpleNamespace(name=lfw.name, part="val")]  # only a validation part's name matters here
    cfg = train_mod.TrainConfig
    assert train_mod.selection_figure(cfg(), []) == "val_accuracy"
    assert train_mod.selection_figure(cfg(), val) == "val_score"
    assert train_mod.selection_figure(cfg(photo_floors={lfw.name: 0.8}), val) == "val_floor_score"
    with pytest.raises(ValueError, match="sfew_train"):
        train_mod.selection_figure(cfg(photo_floors={lfw.name: 0.8, "sfew_train": 0.5}), val)


def test_the_realfaces_fer_presets_floors_name_the_photo_sets_as_they_load(lfw, sfew_path):
    """A floor keyed by a name no photo set has would stop a run at its first epoch: the presets' keys
    are the names load_photo_set gives the shipped sets."""
    from fer_core.cli import PRESETS

    names = {lfw.name, load_photo_set(sfew_path).name}
    for preset in ("realfaces-fer", "realfaces-fer-kd"):
        floors = PRESETS[preset]["photo_floors"]
        assert set(floors) == names and all(0 < f < 1 for f in floors.values())
        assert set(PRESETS[preset]["photo_weights"]) == names


def test_validate_reports_the_floor_score_of_the_real_model(tmp_path, lfw, fer_path):
    """fer_core.train.validate on the shipped compact-v2 weights and real LFW validation crops: with a
    floor it reaches, the floor score is PublicTest's accuracy; with one it cannot reach (above 100%),
    it is val_score − 1."""
    import keras

    from fer_core.faces import make_detector

    s = fer_sample({"Training": 8, "PublicTest": 20, "PrivateTest": 2})
    data = FaceDataset(s["images"], s["labels"], s["usage"], source=fer_path)
    sample = lfw.subset(np.isin(lfw.groups, np.unique(lfw.groups)[:120]))
    val = [p for p in training_photos(sample, {"haar": make_detector("haar")}, "haar") if p.part == "val"]
    assert val and len(val[0].labels)
    cfg = train_mod.TrainConfig(architecture="compact_vgg")
    _, _, val_ds, _ = train_mod.make_datasets(data, cfg, None, [], None)
    model = keras.models.load_model(REPO / "models" / "compact-v2" / "model.keras", compile=False)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])  # validate() evaluates loss and accuracy
    reached = train_mod.validate(model, val_ds, val, {lfw.name: 0.0})
    assert reached["val_floor_score"] == reached["val_accuracy"] > 0.4
    missed = train_mod.validate(model, val_ds, val, {lfw.name: 1.01})
    assert missed["val_floor_score"] == pytest.approx(missed["val_score"] - 1)
    assert "val_floor_score" not in train_mod.validate(model, val_ds, val)


def test_a_flip_averaged_model_reads_each_face_and_its_mirror_alike(tmp_path, fer_path):
    """TrainConfig.flip_average: the published .tflite (as the app runs it) averages each face's reading
    with its mirror's, so a face and its mirror image get the same probabilities; model.keras stays the
    plain network (it does not); and the blend shares are chosen on the averaged readings (share 1.0, the
    starting compact-v2, reads PublicTest as the mean of its two readings does)."""
    import keras

    from fer_core.classifier import TFLiteClassifier
    from fer_core.evaluate import predict_in_batches

    s = fer_sample({"Training": 20, "PublicTest": 20, "PrivateTest": 2})
    data = FaceDataset(s["images"], s["labels"], s["usage"], source=fer_path)
    init = REPO / "models" / "compact-v2"
    cfg = train_mod.TrainConfig(architecture="compact_vgg", init=str(init), epochs=1, learning_rate=1e-5,
                                flip_average=True, blend_back=(0.0, 1.0))
    out = train_mod.train(data, "flipped", cfg, models_dir=tmp_path / "models", work_dir=tmp_path / "runs",
                          resume=False)
    x, y = data.split("PublicTest")
    mirror = x[:, :, ::-1]
    served = TFLiteClassifier(out / "model.tflite")
    np.testing.assert_allclose(predict_in_batches(served, x), predict_in_batches(served, mirror), atol=1e-5)
    plain = keras.models.load_model(out / "model.keras", compile=False)
    assert plain.name != "flip_averaged"
    assert np.abs(plain.predict(x[..., None] / 255.0, verbose=0)
                  - plain.predict(mirror[..., None] / 255.0, verbose=0)).max() > 1e-3
    start = keras.models.load_model(init / "model.keras", compile=False)
    averaged = (start.predict(x[..., None] / 255.0, verbose=0) + start.predict(mirror[..., None] / 255.0, verbose=0)) / 2
    info = json.loads((out / "info.json").read_text())
    assert info["config"]["flip_average"] is True
    assert info["blend_back"]["figures"]["1.0"]["val_accuracy"] == pytest.approx(float((averaged.argmax(1) == y).mean()),
                                                                                abs=1e-4)


def test_train_says_at_once_when_the_model_it_fine_tunes_or_learns_from_is_missing(tmp_path, capsys, fer_path,
                                                                                  lfw_path, sfew_path):
    """A preset's init and teacher are looked up in --models-dir: a run pointed at a folder without them
    stops with a plain message before it spends minutes cropping the photos (it used to fail only then)."""
    from fer_core.cli import main

    models = tmp_path / "models"
    models.mkdir()
    argv = ["train", "--name", "x", "--preset", "realfaces-fer-kd", "--models-dir", str(models)]
    assert main(argv) != 0
    out, err = capsys.readouterr()
    assert "the model it fine-tunes" in err and str(models / "compact-v2") in err and "model.keras" in err
    assert "Cropping" not in out and "Traceback" not in err
    (models / "compact-v2").symlink_to(REPO / "models" / "compact-v2")  # the start is there, the teacher not
    assert main(argv) != 0
    out, err = capsys.readouterr()
    assert "its teacher" in err and str(models / "ensemble") in err and "model.tflite" in err
    assert "Cropping" not in out and not (tmp_path / "runs" / "x").exists()
