"""Training a CNN on FER-2013, from the command line or the app.

The protocol never changes: fit on Training, pick the best epoch on PublicTest, and only then
report PrivateTest. Checkpoints after every epoch let a long CPU run resume where it stopped;
the finished model is written to a temporary folder and renamed into place, so a failed or
cancelled run never damages a model that already exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # 1.3–1.7× faster epochs on CPU
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from .data import FaceDataset
from .emotions import EMOTIONS
from .preprocess import normalize


@dataclass
class TrainConfig:
    architecture: str = "compact_vgg"
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"  # "adam" (the seed) or "sgd" (momentum 0.9, cosine decay)
    augment: bool = False  # flips, shifts, small rotations and zooms, random erasing
    class_weight_power: float = 0.0  # 0 = plain loss; 0.5 = weights ∝ 1/sqrt(class frequency)
    label_smoothing: float = 0.0
    mixup: float = 0.0  # > 0: blend pairs of (augmented) faces and their targets, λ ~ Beta(mixup, mixup)
    cosine: bool = False  # cosine learning-rate decay with a short warm-up
    # Extra epochs on un-augmented faces at 5% of the peak rate, after the main schedule: they close
    # the gap between augmented training faces and the clean faces the model meets at test time.
    polish_epochs: int = 0
    # Store the .tflite weights as int8 (dynamic-range quantization): ~4x faster on a CPU core.
    quantize: bool = False
    seed: int = 1234
    # Fine-tune the model in this folder (its model.keras) instead of starting from random weights.
    init: str | None = None
    # FER+ crowd votes as soft targets: target = (1 - w) * one-hot FER-2013 label + w * FER+ vote share
    # (rows without an emotion vote keep their one-hot label). Needs ``ferplus`` votes in train().
    ferplus_weight: float = 0.0
    # Labelled real photos (see fer_core.realfaces) as extra training data: a weight per photo of
    # each set, by the set's name (a photo read with several detectors shares its weight between them).
    photo_weights: dict = field(default_factory=dict)
    # Augmentation that looks like real cameras, on top of ``augment``: lower resolution, blur,
    # sensor noise and gamma (exposure) changes.
    camera: bool = False
    # With ``init``: once trained, blend the weights back towards the starting model's by each share in
    # this list (0 = as trained) and keep the share with the best selection figure (see blend_back).
    blend_back: tuple = ()
    # Distillation: the FER-2013 targets blended with a teacher model's probabilities (a name in models/,
    # run as its .tflite on the Training faces), target = (1 - w) * target + w * teacher.
    teacher: str | None = None
    teacher_weight: float = 0.0
    # Selection with photos: by default the epoch (and blend share) with the best mean of PublicTest and
    # the photo sets' validation accuracies (``val_score``). With floors, by photo set name (e.g.
    # {"lfw_expressions": 0.8}), the best PublicTest accuracy among those whose validation accuracies
    # all reach their floors (``val_floor_score``; one that misses a floor ranks below every one that
    # does, by its ``val_score``): FER-2013 accuracy kept as high as the real-photo gains allow.
    photo_floors: dict = field(default_factory=dict)
    # Publish a .tflite that reads each face and its left-right mirror and averages the two readings
    # (flip test-time augmentation inside the model: about twice the cost a face). The epoch and the
    # blend share are then chosen on the averaged readings too; model.keras stays the plain network.
    flip_average: bool = False
    extra: dict = field(default_factory=dict)


class Cancelled(Exception):
    """Raised by a progress callback to stop training; nothing is written to the model folder."""


ProgressFn = Callable[[int, int, dict], None]  # (epoch done, epochs in all, logs of that epoch)


# --- 1. The inputs: normalized faces, one-hot labels, optional per-class weights ------------

def class_weights(labels: np.ndarray, power: float) -> np.ndarray:
    """Weights ∝ (1/frequency)^power, scaled to average 1 over the training set."""
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
    w = (counts.max() / np.maximum(counts, 1)) ** power
    return (w / (w[labels].mean())).astype(np.float32)


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, weight: float) -> np.ndarray:
    """One-hot targets, blended with the FER+ vote shares where a row has emotion votes."""
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)[labels]
    if votes is None or weight <= 0:
        return onehot
    total = votes.sum(1, keepdims=True)
    share = np.divide(votes, total, out=onehot.copy(), where=total > 0)
    return ((1 - weight) * onehot + weight * share).astype(np.float32)


def make_datasets(data: FaceDataset, cfg: TrainConfig, ferplus: np.ndarray | None = None,
                  photos: list | None = None, teacher: np.ndarray | None = None):
    """``ferplus``: FER+ votes [N, 7] aligned with ``data``; ``photos``: TrainingPhotos to add to
    Training (fer_core.realfaces.training_photos), weighted by ``cfg.photo_weights``; ``teacher``: a
    teacher's probabilities [N, 7] aligned with ``data``, blended in by ``cfg.teacher_weight``."""
    import tensorflow as tf

    train_mask = data.usage == 0
    x_train, y_train = data.split("Training")
    x_val, y_val = data.split("PublicTest")
    if len(x_train) == 0:
        raise ValueError("The data has no Training rows to learn from.")
    if cfg.ferplus_weight > 0 and ferplus is None:
        raise ValueError("ferplus_weight needs the FER+ votes (fer2013new.csv): pass --ferplus PATH.")
    t_train = soft_targets(y_train, None if ferplus is None else ferplus[train_mask], cfg.ferplus_weight)
    if cfg.teacher_weight > 0:
        if teacher is None:
            raise ValueError("teacher_weight needs the teacher's probabilities (teacher_probabilities).")
        t_train = ((1 - cfg.teacher_weight) * t_train + cfg.teacher_weight * teacher[train_mask]).astype(np.float32)
    if len(x_val) == 0:  # a folder/CSV without PublicTest: hold out 10% of Training, fixed seed
        rng = np.random.default_rng(cfg.seed)
        order = rng.permutation(len(x_train))
        cut = max(1, len(order) // 10)
        x_val, y_val = x_train[order[:cut]], y_train[order[:cut]]
        x_train, y_train, t_train = x_train[order[cut:]], y_train[order[cut:]], t_train[order[cut:]]

    per_class = class_weights(y_train, cfg.class_weight_power)
    weights = per_class[y_train]
    for p in photos or []:  # real photos: the same class weights, times the set's weight per photo
        w = cfg.photo_weights.get(p.name, 0.0) / p.views
        if w <= 0 or not len(p.labels):
            continue
        x_train = np.concatenate([x_train, p.faces])
        y_train = np.concatenate([y_train, p.labels])
        t_train = np.concatenate([t_train, np.eye(len(EMOTIONS), dtype=np.float32)[p.labels]])
        weights = np.concatenate([weights, (w * per_class[p.labels]).astype(np.float32)])

    train = tf.data.Dataset.from_tensor_slices((normalize(x_train), t_train, weights))
    plain = train.shuffle(len(x_train), seed=cfg.seed, reshuffle_each_iteration=True).batch(cfg.batch_size)
    train = plain
    if cfg.augment:
        augment = augmenter(cfg.seed, camera=cfg.camera)
        train = plain.map(lambda x, y, w: (augment(x, training=True), y, w), num_parallel_calls=tf.data.AUTOTUNE)
    if cfg.mixup > 0:
        train = train.map(lambda x, y, w: mixup(x, y, w, cfg.mixup), num_parallel_calls=tf.data.AUTOTUNE)
    val = tf.data.Dataset.from_tensor_slices((normalize(x_val), np.eye(len(EMOTIONS), dtype=np.float32)[y_val])).batch(256)
    return train.prefetch(tf.data.AUTOTUNE), plain.prefetch(tf.data.AUTOTUNE), val, len(x_train)


def mixup(x, y, w, alpha: float):
    """Blend each face of a batch with another one of the same batch, targets and weights alike,
    with one λ ~ Beta(alpha, alpha) per batch (Zhang et al. 2018)."""
    import tensorflow as tf

    a = tf.random.gamma([], alpha)
    lam = a / (a + tf.random.gamma([], alpha))
    j = tf.random.shuffle(tf.range(tf.shape(x)[0]))
    mix = lambda t: lam * t + (1 - lam) * tf.gather(t, j)  # noqa: E731
    return mix(x), mix(y), mix(w)


def camera_effects(x):
    """What real cameras do to a face, on a batch [B, 48, 48, 1] in [0, 1], each effect on a random
    30-40% of the faces: fewer pixels (the face 12-36 px wide, scaled back up; 40%), blur (30%), sensor
    noise (30%) and exposure (gamma; 40%)."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    pick = lambda p: tf.random.uniform([n, 1, 1, 1]) < p  # noqa: E731
    side = tf.random.uniform([], 12, 37, dtype=tf.int32)
    low = tf.image.resize(tf.image.resize(x, [side, side], method="area"), [48, 48], method="bilinear")
    x = tf.where(pick(0.4), low, x)
    sigma = tf.random.uniform([], 0.5, 1.5)
    r = tf.range(-3, 4, dtype=tf.float32)
    k = tf.exp(-(r**2) / (2 * sigma**2))
    k = k / tf.reduce_sum(k)
    blurred = tf.nn.conv2d(tf.pad(x, [[0, 0], [3, 3], [0, 0], [0, 0]], "SYMMETRIC"), tf.reshape(k, [7, 1, 1, 1]), 1, "VALID")
    blurred = tf.nn.conv2d(tf.pad(blurred, [[0, 0], [0, 0], [3, 3], [0, 0]], "SYMMETRIC"), tf.reshape(k, [1, 7, 1, 1]), 1, "VALID")
    x = tf.where(pick(0.3), blurred, x)
    noise = tf.random.normal(tf.shape(x)) * tf.random.uniform([n, 1, 1, 1], 0.0, 0.05)
    x = tf.where(pick(0.3), x + noise, x)
    gamma = tf.exp(tf.random.uniform([n, 1, 1, 1], -0.5, 0.5))
    x = tf.where(pick(0.4), tf.pow(tf.clip_by_value(x, 1e-4, 1.0), gamma), x)
    return tf.clip_by_value(x, 0.0, 1.0)


def augmenter(seed: int, camera: bool = False):
    """Random flips, shifts, rotations, zooms, brightness/contrast and erasing, on whole batches;
    with ``camera``, camera_effects as well."""
    import keras
    import tensorflow as tf
    from keras import layers

    geometric = keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
        layers.RandomRotation(0.05, fill_mode="nearest", seed=seed),  # ±18°
        layers.RandomZoom(0.1, fill_mode="nearest", seed=seed),
    ])

    def erase(x):
        # One random rectangle (up to a quarter of each side) set to noise, in half the faces.
        n = tf.shape(x)[0]
        size = tf.random.uniform([n, 1, 1, 1], 6, 20)
        cy = tf.random.uniform([n, 1, 1, 1], 0, 48)
        cx = tf.random.uniform([n, 1, 1, 1], 0, 48)
        yy = tf.reshape(tf.range(48, dtype=tf.float32), [1, 48, 1, 1])
        xx = tf.reshape(tf.range(48, dtype=tf.float32), [1, 1, 48, 1])
        box = (tf.abs(yy - cy) < size / 2) & (tf.abs(xx - cx) < size / 2)
        use = tf.random.uniform([n, 1, 1, 1]) < 0.5
        return tf.where(box & use, tf.random.uniform(tf.shape(x)), x)

    def apply(x, training=True):
        x = geometric(x, training=training)
        if camera:
            x = camera_effects(x)
        gain = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], 0.8, 1.2)
        bias = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], -0.1, 0.1)
        x = tf.clip_by_value((x - 0.5) * gain + 0.5 + bias, 0.0, 1.0)
        return erase(x)

    return apply


# --- 2. The model and its optimizer ---------------------------------------------------------

def build_model(cfg: TrainConfig):
    import keras

    from .architectures import ARCHITECTURES

    if cfg.architecture not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture '{cfg.architecture}' (choose from {', '.join(ARCHITECTURES)}).")
    keras.utils.set_random_seed(cfg.seed)
    if cfg.init:  # fine-tune a trained model of the same architecture
        start = Path(cfg.init) / "model.keras"
        if not start.is_file():
            raise ValueError(f"Cannot fine-tune {cfg.init}: it has no model.keras.")
        model = keras.models.load_model(start, compile=False)
    else:
        model = ARCHITECTURES[cfg.architecture]()
    if cfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(cfg.learning_rate, momentum=0.9, nesterov=True)
    else:
        opt = keras.optimizers.Adam(cfg.learning_rate)
    model.compile(
        optimizer=opt,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )
    return model


def learning_rate(cfg: TrainConfig, epoch: int) -> float:
    """Constant for the seed; otherwise 1 warm-up epoch then cosine decay to 1% of the peak;
    polishing epochs run at 5% of the peak."""
    if epoch >= cfg.epochs:
        return cfg.learning_rate * 0.05
    if not cfg.cosine:
        return cfg.learning_rate
    warm = min(1, cfg.epochs - 1)
    if epoch < warm:
        return cfg.learning_rate * (epoch + 1) / (warm + 1)
    t = (epoch - warm) / max(1, cfg.epochs - warm)
    return cfg.learning_rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


# --- 3. The loop: fit epoch by epoch, checkpoint, keep the best on PublicTest ----------------

def train(
    data: FaceDataset,
    name: str,
    cfg: TrainConfig,
    models_dir: str | os.PathLike = "models",
    work_dir: str | os.PathLike | None = None,
    progress: ProgressFn | None = None,
    resume: bool = True,
    ferplus: np.ndarray | None = None,
    photos: list | None = None,
    teacher: np.ndarray | None = None,
) -> Path:
    """Train ``cfg.architecture`` on ``data`` and publish it as ``models_dir/name``.

    ``work_dir`` (default ``<models_dir>/../runs/<name>``) holds the checkpoints; a run started again with the
    same name and ``resume=True`` continues from the last finished epoch.

    ``ferplus``: FER+ votes aligned with ``data`` (for ``cfg.ferplus_weight``). ``photos``: real photos
    (fer_core.realfaces.training_photos) whose ``train`` part is added to Training and whose ``val``
    part (people and clips of their own) joins PublicTest in choosing the epoch: the best epoch is the
    one with the highest mean of PublicTest accuracy and each photo set's validation accuracy.
    """
    import keras

    work = Path(work_dir or Path(models_dir).resolve().parent / "runs" / name)
    work.mkdir(parents=True, exist_ok=True)
    last, best, hist_file = work / "last.keras", work / "best.keras", work / "history.json"

    train_parts = [p for p in photos or [] if p.part == "train"]
    val_parts = [p for p in photos or [] if p.part == "val" and len(p.labels)]
    train_ds, plain_ds, val_ds, n_train = make_datasets(data, cfg, ferplus, train_parts, teacher)
    total = cfg.epochs + cfg.polish_epochs
    history = {"epoch": [], "loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "seconds": [], "lr": []}
    for p in val_parts:
        history[f"val_{p.name}_accuracy"] = []
    if val_parts:
        history["val_score"] = []
    if resume and last.exists() and hist_file.exists():
        model = keras.models.load_model(last)
        history = json.loads(hist_file.read_text())
        print(f"Resuming '{name}' after epoch {len(history['epoch'])}.", flush=True)
    else:
        model = build_model(cfg)
    scored = served_model(model, cfg)
    select = selection_figure(cfg, val_parts)
    if select == "val_floor_score" and select not in history:
        history[select] = []
    best_score = max(history[select], default=-1.0)

    for epoch in range(len(history["epoch"]), total):
        lr = learning_rate(cfg, epoch)
        model.optimizer.learning_rate.assign(lr)
        t0 = time.time()
        fit = model.fit(train_ds if epoch < cfg.epochs else plain_ds, epochs=1, verbose=0)
        logs = {"epoch": epoch + 1, "loss": fit.history["loss"][0], "accuracy": fit.history["accuracy"][0],
                **validate(scored, val_ds, val_parts, cfg.photo_floors), "seconds": time.time() - t0, "lr": lr}
        val_loss, val_acc = logs["val_loss"], logs["val_accuracy"]
        for k, v in logs.items():
            history[k].append(round(float(v), 5) if k != "epoch" else v)
        if logs[select] > best_score:
            best_score = logs[select]
            model.save(best)
        model.save(last)
        hist_file.write_text(json.dumps(history))
        photo_text = "".join(f"  {k[4:-9]} {logs[k]:.4f}" for k in logs if k.startswith("val_") and k.endswith("_accuracy")
                             and k != "val_accuracy")
        print(
            f"epoch {epoch + 1}/{total}  loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}  "
            f"val_loss {val_loss:.4f}  val_acc {val_acc:.4f}{photo_text}  lr {lr:.2e}  {logs['seconds']:.0f}s",
            flush=True,
        )
        if progress:
            progress(epoch + 1, total, logs)  # may raise Cancelled

    model = keras.models.load_model(best)
    scored = served_model(model, cfg)
    blend = blend_back(model, cfg, val_ds, val_parts, select, scored) if cfg.init and cfg.blend_back else None
    config = asdict(cfg)
    if cfg.init:  # the model it started from, by name (a path would name this machine's folders)
        config["init"] = Path(cfg.init).name
    info = {"name": name, "config": config, "train_images": n_train, "data": describe_source(data.source),
            "training_seconds": round(sum(history["seconds"]), 1),
            "best_epoch": int(np.argmax(history[select]) + 1), "selected_on": select}
    if blend:
        info["blend_back"] = blend
    if photos:
        info["photo_sets"] = {p.name: {**describe_source(p.source), "train_photos": p.photos}
                              for p in train_parts}
    return publish(model, history, info, data, Path(models_dir) / name, served=scored)


def flip_averaged(model):
    """One Keras model sharing ``model``'s layers: the mean of its probabilities for the faces [N, 48, 48, 1]
    and for their left-right mirror images."""
    import keras

    inputs = keras.Input((48, 48, 1))
    mirrored = keras.layers.Lambda(lambda x: x[:, :, ::-1, :], name="mirror")(inputs)
    net = keras.Model(model.inputs[0], model.outputs[0], name="net")
    return keras.Model(inputs, keras.layers.Average()([net(inputs), net(mirrored)]), name="flip_averaged")


def served_model(model, cfg: TrainConfig):
    """The model as the .tflite will run it (``model`` itself, or its flip average, compiled for
    ``validate``); it shares ``model``'s weights, so it follows every change to them."""
    if not cfg.flip_average:
        return model
    import keras

    served = flip_averaged(model)
    served.compile(loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing), metrics=["accuracy"])
    return served


def describe_source(source: str) -> dict | str:
    """What a model records about its training data: the file's (or folder's) name, size and SHA-256
    (fer_core.data.describe_data_file), never a path of the machine it was trained on; a source that
    is no file (data built in memory) is recorded by its description only."""
    from .data import describe_data_file

    return describe_data_file(source) if source and Path(source).exists() else Path(source).name


def teacher_probabilities(tflite: str | os.PathLike, data: FaceDataset) -> np.ndarray:
    """A teacher's probabilities for the Training faces of ``data`` (zeros elsewhere: never used)."""
    from .classifier import TFLiteClassifier
    from .evaluate import predict_in_batches

    classify = TFLiteClassifier(tflite, threads=os.cpu_count() or 1)
    classify.temperature = 1.0  # the teacher's own outputs
    out = np.zeros((len(data), len(EMOTIONS)), np.float32)
    mask = data.usage == 0
    out[mask] = predict_in_batches(classify, data.images[mask])
    return out


def selection_figure(cfg: TrainConfig, val_parts: list) -> str:
    """The figure of ``validate`` that chooses the epoch and the blend share (see TrainConfig.photo_floors)."""
    if not val_parts:
        return "val_accuracy"
    missing = set(cfg.photo_floors) - {p.name for p in val_parts}
    if missing:
        raise ValueError(f"photo_floors names photo sets without a validation part: {', '.join(sorted(missing))}")
    return "val_floor_score" if cfg.photo_floors else "val_score"


def floor_score(logs: dict, floors: dict) -> float:
    """PublicTest accuracy when every photo set's validation accuracy reaches its floor, else
    ``val_score`` − 1 (always lower: accuracies lie in [0, 1])."""
    met = all(logs[f"val_{name}_accuracy"] >= floor for name, floor in floors.items())
    return logs["val_accuracy"] if met else logs["val_score"] - 1.0


def validate(model, val_ds, val_parts: list, floors: dict | None = None) -> dict:
    """The selection figures: PublicTest loss and accuracy, each photo set's validation accuracy, and
    (with photos) their mean with PublicTest's, ``val_score``; with ``floors`` (photo set name → the
    validation accuracy it must reach), ``val_floor_score`` (see floor_score)."""
    val_loss, val_acc = model.evaluate(val_ds, verbose=0)
    logs = {"val_loss": float(val_loss), "val_accuracy": float(val_acc)}
    for p in val_parts:
        pred = model.predict(normalize(p.faces), batch_size=256, verbose=0).argmax(1)
        logs[f"val_{p.name}_accuracy"] = float((pred == p.labels).mean())
    if val_parts:
        logs["val_score"] = float(np.mean([val_acc] + [logs[f"val_{p.name}_accuracy"] for p in val_parts]))
        if floors:
            logs["val_floor_score"] = floor_score(logs, floors)
    return logs


def blend_back(model, cfg: TrainConfig, val_ds, val_parts: list, select: str, scored=None) -> dict:
    """Blend the trained weights back towards the starting model's, w = (1 - a) · trained + a · start,
    for each a of ``cfg.blend_back``, and keep the a with the best selection figure (PublicTest, and the
    photos' validation people with photos): fine-tuning's gains on the new data with less of what it
    forgets of the old (WiSE-FT, Wortsman et al., CVPR 2022). ``model`` ends with the chosen weights.
    ``scored``: the model that is validated (default ``model``; see served_model), sharing its weights."""
    import keras

    start = keras.models.load_model(Path(cfg.init) / "model.keras", compile=False).get_weights()
    trained = model.get_weights()
    scores = {}
    for a in cfg.blend_back:
        model.set_weights([(1 - a) * t + a * s for t, s in zip(trained, start)])
        scores[a] = validate(scored or model, val_ds, val_parts, cfg.photo_floors)
        print(f"blend back {a:.2f}: " + "  ".join(f"{k} {v:.4f}" for k, v in scores[a].items() if k != "val_loss"),
              flush=True)
    chosen = max(cfg.blend_back, key=lambda a: scores[a][select])
    model.set_weights([(1 - chosen) * t + chosen * s for t, s in zip(trained, start)])
    return {"chosen": chosen, "selected_on": select,
            "figures": {str(a): {k: round(v, 5) for k, v in f.items()} for a, f in scores.items()}}


# --- 4. Publishing: Keras file, TFLite file, history, metrics — all or nothing ---------------

def export_tflite(model, path: Path, quantize: bool = False) -> None:
    """Convert to a .tflite with a dynamic batch, so the app can classify N faces at once.

    ``quantize`` stores the weights as int8 (dynamic-range quantization; activations stay float):
    the interpreter then runs about four times faster with the same predictions on all but a
    handful of faces.
    """
    import tensorflow as tf

    signature = [tf.TensorSpec([None, 48, 48, 1], tf.float32)]
    if not quantize:
        model.export(str(path), format="litert", verbose=False, input_signature=signature)
        return
    with tempfile.TemporaryDirectory() as saved:
        model.export(saved, format="tf_saved_model", verbose=False, input_signature=signature)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        path.write_bytes(converter.convert())


def calibrate(tflite: Path, data: FaceDataset) -> float:
    """Fit the softmax temperature on the validation split (PublicTest), never on PrivateTest."""
    from .calibration import fit_temperature
    from .classifier import TFLiteClassifier
    from .evaluate import predict_in_batches

    x, y = data.split("PublicTest")
    if len(x) < 100:
        return 1.0  # too few validation faces to fit anything meaningful
    return fit_temperature(predict_in_batches(TFLiteClassifier(tflite, threads=os.cpu_count() or 1), x), y)


def publish(model, history: dict, info: dict, data: FaceDataset, target: Path, served=None) -> Path:
    """Write ``model`` (model.keras) and ``served`` (default ``model``: the .tflite the app runs), the
    history, info and metrics into ``target`` at once: a half-written model folder is never seen."""
    from .evaluate import evaluate_model_file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        model.save(tmp / "model.keras")
        export_tflite(served or model, tmp / "model.tflite", quantize=info["config"].get("quantize", False))
        (tmp / "history.json").write_text(json.dumps(history, indent=1))
        info["sha256"] = hashlib.sha256((tmp / "model.tflite").read_bytes()).hexdigest()
        info["temperature"] = calibrate(tmp / "model.tflite", data)
        (tmp / "info.json").write_text(json.dumps(info, indent=1))
        metrics = evaluate_model_file(tmp / "model.tflite", data)  # with the temperature applied
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        if target.exists():  # swap in: the old model is removed only once the new one is in place
            old = target.with_name(f".{target.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            try:
                tmp.rename(target)
            except BaseException:
                old.rename(target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
