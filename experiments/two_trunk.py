"""Issue 11's fifth to seventh tries: one model with two frozen trunks and a new head (`default` since 6 Dec).

Every fine-tuning traded FER-2013 accuracy for real-photo accuracy along one line: the network that
learns real photos forgets some of FER-2013. Here nothing is forgotten. The model reads each face with
two trained networks at once, a FER-2013 network's trunk (`compact-v2`; since the seventh try the
`ensemble`'s wide mixup member) and the trunk of a real-photo fine-tuning (`realfaces-v1`, issue 11's
first default), each up to its global average pooling (256 or 384 features), and a new softmax layer on
their features side by side decides. Only that layer is trained, on features of FER-2013's Training
faces and the photo sets' training people and clips (each clean and in VIEWS augmented views), starting
from the mean of the two networks' logits. FER-2013's faces keep the starting head's probabilities as
targets (--fer-targets keep, since the sixth try; see head_data) or take their labels (labels, the
fifth). Settings and epoch are chosen on PublicTest and the photo sets' validation parts, like every run
of issue 11. The model costs what its two networks cost together (1.9 ms a face for `default`).

    F=models/ensemble/members/long2_wide_mixup.keras
    python experiments/two_trunk.py sweep --fer $F --real realfaces-v1 --floors 0.8237 0.5233   # validation figures
    python experiments/two_trunk.py publish --fer $F --real realfaces-v1 --photo-weight 2 --lr 1e-3 --epochs 8 \
        --floors 0.8237 0.5233 --out models/default

FER2013_PATH, LFW_EXPRESSIONS_PATH and SFEW_PATH give the data; crops and features are cached in
--cache (default ../scratch/two_trunk). publish writes the folder with fer_core.train.publish (int8
.tflite, temperature fitted on PublicTest, metrics.json) and records this command in info.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from fer_core.data import load_fer2013  # noqa: E402
from fer_core.emotions import EMOTIONS  # noqa: E402
from fer_core.train import class_weights, floor_score as train_floor_score  # noqa: E402
from fer_core.registry import model_dir  # noqa: E402

VIEWS = 4  # augmented views of each training face, besides the face itself


def crops(cache: Path) -> dict:
    """The photo sets' train crops (Haar and BlazeFace, as `train` makes them) and val crops (BlazeFace)."""
    f = cache / "crops.npz"
    if f.exists() and "lfw_expressions/train/photos" in (cached := dict(np.load(f))):
        return cached
    from fer_core.faces import available_detectors, make_detector
    from fer_core.realfaces import load_photo_set, training_photos

    names = [n for n in ("haar", "blazeface") if n in available_detectors()]
    detectors = {n: make_detector(n) for n in names}
    out = {}
    for variable in ("LFW_EXPRESSIONS_PATH", "SFEW_PATH"):
        photos = load_photo_set(os.environ[variable])
        for p in training_photos(photos, detectors, names[-1]):
            out[f"{p.name}/{p.part}/faces"] = p.faces
            out[f"{p.name}/{p.part}/labels"] = p.labels
            out[f"{p.name}/{p.part}/views"] = np.array(p.views)
            out[f"{p.name}/{p.part}/photos"] = np.array(p.photos)
            print(f"{p.name} {p.part}: {len(p.labels)} crops", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, **out)
    return out


def trunk(name: str):
    """A trained network (a model name or folder, or a .keras file such as an ensemble member) and its
    trunk: the same layers up to the global average pooling."""
    import keras

    if name.endswith(".keras"):  # a path, from the working folder or else from the repository's root
        path = Path(name) if Path(name).exists() else Path(__file__).resolve().parent.parent / name
    else:
        path = model_dir(name) / "model.keras"
    model = keras.models.load_model(path, compile=False)
    gap = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    return model, keras.Model(model.inputs[0], gap.output)


def trunk_name(name: str) -> str:
    return Path(name).stem if name.endswith(".keras") else Path(name).name


def features(cache: Path, fer: str, real: str, data, photo_crops: dict) -> dict:
    """Both trunks' features for every face the head sees: clean, and (training parts) VIEWS augmented views.

    The augmented views are random (fer_core.train.augmenter): the cache keeps them, so a head is trained
    again on the same views. The features behind the shipped `default` were drawn before the seed was
    set here; a run without that cache draws other views and trains a slightly different head."""
    f = cache / f"features-{trunk_name(fer)}-{trunk_name(real)}.npz"
    if f.exists():
        return dict(np.load(f))
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1234)

    from fer_core.train import augmenter

    trunks = [trunk(fer)[1], trunk(real)[1]]
    augment = augmenter(1234, camera=True)

    def read(faces, view):
        x = faces[..., None].astype(np.float32) / 255.0
        outs = [[], []]
        for i in range(0, len(x), 512):
            b = tf.constant(x[i:i + 512])
            if view:
                b = augment(b, training=True)
            for t, o in zip(trunks, outs):
                o.append(t(b, training=False).numpy())
        return np.concatenate([np.concatenate(o) for o in outs], axis=1).astype(np.float16)

    parts = {"fer/train": data.split("Training"), "fer/val": data.split("PublicTest")}
    for set_name in ("lfw_expressions", "sfew_train"):
        for part in ("train", "val"):
            parts[f"{set_name}/{part}"] = (photo_crops[f"{set_name}/{part}/faces"], photo_crops[f"{set_name}/{part}/labels"])
    out = {}
    for key, (faces, labels) in parts.items():
        views = range(VIEWS + 1) if key.endswith("train") else range(1)
        for v in views:
            t0 = time.time()
            out[f"{key}/{v}"] = read(faces, v)
            print(f"features {key} view {v}: {len(faces)} faces, {time.time() - t0:.0f}s", flush=True)
        out[f"{key}/labels"] = labels
    np.savez(f, **out)
    return out


def head_init(fer: str, real: str):
    """The two networks' own softmax layers, side by side at half weight each: the head starts as the
    mean of the two networks' logits."""
    import keras

    dense = [next(layer for layer in reversed(trunk(n)[0].layers) if isinstance(layer, keras.layers.Dense))
             for n in (fer, real)]
    (wa, ba), (wb, bb) = (d.get_weights() for d in dense)
    return np.concatenate([0.5 * wa, 0.5 * wb]), 0.5 * (ba + bb)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def head_data(feats: dict, init, photo_weight: float, sfew_weight: float, fer_targets: str,
              class_power: float = 0.5):
    """The head's training faces (FER-2013's Training faces and the photo sets' training parts, each
    clean and in VIEWS augmented views), their targets and weights.

    ``fer_targets``: "labels" (fifth try: FER-2013's labels, weighted 1/√frequency) or "keep" (sixth
    try: each FER-2013 face's target is the starting head's own probabilities for it, weight 1:
    learning without forgetting, Li & Hoiem 2016). The trunks were trained on these very faces, so
    their features of them are far cleaner than of unseen faces (compact-v2 reads 90% of its clean
    Training faces right, 70% of PublicTest); a head fitted to the labels learns to trust them as it
    should not, and loses PublicTest. Kept targets ask the head to read FER-2013 as the two networks
    together already do, and to learn only what the photos add. The photos always have their labels."""
    y_fer = feats["fer/train/labels"]
    per_class = class_weights(y_fer, class_power)
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)
    xs, ys, ws = [], [], []
    for v in range(VIEWS + 1):
        x = feats[f"fer/train/{v}"].astype(np.float32)
        xs.append(x)
        if fer_targets == "keep":
            ys.append(softmax(x @ init[0] + init[1]).astype(np.float32)), ws.append(np.ones(len(x), np.float32))
        else:
            ys.append(onehot[y_fer]), ws.append(per_class[y_fer])
        for name, w in (("lfw_expressions", photo_weight), ("sfew_train", sfew_weight)):
            y = feats[f"{name}/train/labels"]
            views = 2  # one crop per detector: each photo's weight is shared between them
            xs.append(feats[f"{name}/train/{v}"].astype(np.float32)), ys.append(onehot[y])
            ws.append(w / views * per_class[y])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws).astype(np.float32)


def smoothing_for(fer_targets: str) -> float:
    """Label smoothing: 0.05 with FER-2013's labels (the fifth try's, as the networks were trained),
    none with kept targets, which are soft already."""
    return 0.05 if fer_targets == "labels" else 0.0


def train_head(feats: dict, init, photo_weight: float, sfew_weight: float, epochs: int, lr: float,
               dropout: float, fer_targets: str = "keep", seed: int = 1234, report=None):
    """Train the head from ``init`` for ``epochs`` epochs; returns the validation figures and the
    weights of every epoch (0 = the start) and each epoch's training loss."""
    import keras

    keras.utils.set_random_seed(seed)
    x, y, w = head_data(feats, init, photo_weight, sfew_weight, fer_targets)
    inputs = keras.Input((x.shape[1],))
    dense = keras.layers.Dense(len(EMOTIONS), activation="softmax")
    head = keras.Model(inputs, dense(keras.layers.Dropout(dropout)(inputs)))
    dense.set_weights(list(init))
    head.compile(keras.optimizers.Adam(lr),
                 keras.losses.CategoricalCrossentropy(label_smoothing=smoothing_for(fer_targets)))
    scores, weights, losses = [figures(head, feats)], [dense.get_weights()], []
    if report:
        report(0, scores[0])
    for e in range(epochs):
        fit = head.fit(x, y, sample_weight=w, batch_size=256, epochs=1, verbose=0, shuffle=True)
        losses.append(float(fit.history["loss"][-1]))
        scores.append(figures(head, feats))
        weights.append(dense.get_weights())
        if report:
            report(e + 1, scores[-1])
    return scores, weights, losses


def figures(head, feats: dict) -> dict:
    """PublicTest loss and accuracy, and accuracy on the photo sets' validation parts (BlazeFace crops)."""
    out = {}
    for key, name in (("fer/val", "PublicTest"), ("lfw_expressions/val", "lfw"), ("sfew_train/val", "sfew")):
        p = head.predict(feats[f"{key}/0"].astype(np.float32), batch_size=4096, verbose=0)
        labels = feats[f"{key}/labels"]
        out[name] = float((p.argmax(1) == labels).mean())
        if name == "PublicTest":
            out["PublicTest_loss"] = float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-7, 1)).mean())
    return out


def passes(f: dict, floors: tuple) -> bool:
    """Both photo sets' validation accuracies reach their floors (LFW, SFEW)."""
    return f["lfw"] >= floors[0] and f["sfew"] >= floors[1]


def train_logs(f: dict) -> dict:
    """The figures under fer_core.train.validate's names (val_score: the mean of the three)."""
    logs = {"val_accuracy": f["PublicTest"], "val_lfw_expressions_accuracy": f["lfw"], "val_sfew_train_accuracy": f["sfew"]}
    return {**logs, "val_score": float(np.mean(list(logs.values())))}


def floor_score(f: dict, floors: tuple) -> float:
    """fer_core.train.floor_score of the figures: PublicTest where both floors are met, else val_score − 1."""
    return train_floor_score(train_logs(f), {"lfw_expressions": floors[0], "sfew_train": floors[1]})


def fmt(f: dict) -> str:
    return f"PublicTest {f['PublicTest']:.4f}  lfw val {f['lfw']:.4f}  sfew val {f['sfew']:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("sweep", "publish"))
    ap.add_argument("--fer", default="compact-v2", help="the FER-2013 network (a model name or folder, or a .keras file)")
    ap.add_argument("--real", default="realfaces-v1", help="the real-photo network (a model name or folder, or a .keras file)")
    ap.add_argument("--cache", default=str(Path(__file__).resolve().parents[2] / "scratch" / "two_trunk"))
    ap.add_argument("--fer-targets", choices=("keep", "labels"), default="keep",
                    help="FER-2013 faces' targets: the starting head's probabilities (keep) or their labels")
    ap.add_argument("--photo-weight", type=float, default=2.0)
    ap.add_argument("--sfew-weight", type=float, help="default: 3 × --photo-weight")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--floors", type=float, nargs=2, default=(0.80, 0.48), metavar=("LFW", "SFEW"),
                    help="validation accuracies a candidate must reach on LFW and SFEW")
    ap.add_argument("--out", help="publish: the model folder to write")
    a = ap.parse_args()
    a.sfew_weight = 3 * a.photo_weight if a.sfew_weight is None else a.sfew_weight
    cache = Path(a.cache)
    data = load_fer2013(os.environ["FER2013_PATH"])
    photo_crops = crops(cache)
    feats = features(cache, a.fer, a.real, data, photo_crops)
    init = head_init(a.fer, a.real)
    if a.command == "sweep":
        print(f"FER-2013 targets: {a.fer_targets}; floors LFW {a.floors[0]:.4f}, SFEW {a.floors[1]:.4f}", flush=True)
        print("start (mean of the two networks' logits):", fmt(figures_from_init(feats, init)), flush=True)
        alone(feats, a.fer, a.real)
        for pw in (0.5, 1.0, 2.0, 4.0):
            for lr in (1e-3, 3e-4):
                scores, _, _ = train_head(feats, init, pw, 3 * pw, a.epochs, lr, a.dropout, a.fer_targets)
                ok = [(i, s) for i, s in enumerate(scores) if passes(s, a.floors)]
                best = max(ok, key=lambda t: t[1]["PublicTest"]) if ok else None
                print(f"photo weight {pw}, lr {lr:g}: " + " | ".join(f"{i}: {s['PublicTest']:.4f}/{s['lfw']:.4f}/{s['sfew']:.4f}"
                                                                   for i, s in enumerate(scores)), flush=True)
                print(f"  floor choice: {'none' if best is None else f'epoch {best[0]}: ' + fmt(best[1])}", flush=True)
        return
    publish(a, data, feats, init, photo_crops)


def alone(feats: dict, fer: str, real: str) -> None:
    """Print each network's own accuracy (its own softmax layer on its half of the features) on its clean
    and first augmented Training view, PublicTest and the photos' validation parts."""
    import keras

    start = 0
    for name in (fer, real):
        w, b = next(layer for layer in reversed(trunk(name)[0].layers) if isinstance(layer, keras.layers.Dense)).get_weights()
        cols = slice(start, start + len(w))
        start += len(w)
        figs = [f"{key} view {v} {float(((feats[f'{key}/{v}'][:, cols].astype(np.float32) @ w + b).argmax(1) == feats[f'{key}/labels']).mean()):.4f}"
                for key, v in (("fer/train", 0), ("fer/train", 1), ("fer/val", 0), ("lfw_expressions/val", 0), ("sfew_train/val", 0))]
        print(f"each network alone, {trunk_name(name)}: " + "  ".join(figs), flush=True)


def figures_from_init(feats, init):
    import keras

    inputs = keras.Input((init[0].shape[0],))
    dense = keras.layers.Dense(len(EMOTIONS), activation="softmax")
    head = keras.Model(inputs, dense(inputs))
    dense.set_weights(list(init))
    return figures(head, feats)


def two_trunk_model(fer: str, real: str, head_weights):
    """One Keras model: the face through both frozen trunks, their features side by side, the head."""
    import keras

    inputs = keras.Input((48, 48, 1))
    (_, fa), (_, fb) = trunk(fer), trunk(real)
    fa.name, fb.name = "fer_trunk", "real_trunk"
    both = keras.layers.Concatenate(name="features")([fa(inputs), fb(inputs)])
    out = keras.layers.Dense(len(EMOTIONS), activation="softmax", name="head")(both)
    model = keras.Model(inputs, out, name="two_trunk")
    model.get_layer("head").set_weights(list(head_weights))
    return model


def command(a) -> str:
    """The command that publishes this model again (the output folder by its name only: no machine path)."""
    return (f"python experiments/two_trunk.py publish --fer {a.fer} --real {a.real} --fer-targets {a.fer_targets} "
            f"--photo-weight {a.photo_weight:g} --sfew-weight {a.sfew_weight:g} --lr {a.lr:g} --epochs {a.epochs} "
            f"--dropout {a.dropout:g} --floors {a.floors[0]:g} {a.floors[1]:g} --out models/{Path(a.out).name}")


def publish(a, data, feats, init, photo_crops) -> None:
    """Train the head with the given settings for --epochs epochs, keep the epoch with the best floor
    score (fer_core.train.floor_score: PublicTest among the epochs that meet both floors), and publish
    the whole model with fer_core.train.publish (int8 .tflite, temperature on PublicTest, metrics.json)."""
    from fer_core.train import TrainConfig, describe_source, publish as publish_model

    t0 = time.time()
    scores, weights, losses = train_head(feats, init, a.photo_weight, a.sfew_weight, a.epochs, a.lr, a.dropout,
                                         a.fer_targets, report=lambda e, s: print(f"epoch {e}: {fmt(s)}", flush=True))
    seconds = time.time() - t0
    trained = scores[1:]  # epoch 0 is the starting head, no candidate
    chosen = 1 + int(np.argmax([floor_score(s, a.floors) for s in trained]))
    model = two_trunk_model(a.fer, a.real, weights[chosen])
    floors = {"lfw_expressions": a.floors[0], "sfew_train": a.floors[1]}
    cfg = TrainConfig(architecture="two_trunk", epochs=a.epochs, quantize=True, init=None, learning_rate=a.lr,
                      batch_size=256, class_weight_power=0.5, label_smoothing=smoothing_for(a.fer_targets),
                      photo_weights={"lfw_expressions": a.photo_weight, "sfew_train": a.sfew_weight},
                      photo_floors=floors,
                      extra={"trunks": [trunk_name(a.fer), trunk_name(a.real)],
                             "trained": f"the head only (a softmax layer on both trunks' {len(init[0])} features)",
                             "fer_targets": a.fer_targets, "views": VIEWS, "dropout": a.dropout,
                             "command": command(a)})
    history = {
        "epoch": list(range(1, a.epochs + 1)),
        "loss": losses,
        "val_loss": [s["PublicTest_loss"] for s in trained],
        "val_accuracy": [s["PublicTest"] for s in trained],
        "val_lfw_expressions_accuracy": [s["lfw"] for s in trained],
        "val_sfew_train_accuracy": [s["sfew"] for s in trained],
        "val_score": [train_logs(s)["val_score"] for s in trained],
        "val_floor_score": [floor_score(s, a.floors) for s in trained],
        "note": ("Training accuracy is not recorded: only the head was trained, on FER-2013 faces whose targets "
                 "are the starting head's probabilities" if a.fer_targets == "keep" else
                 "Training accuracy is not recorded: only the head was trained, on precomputed features"),
    }
    train_photos = {}
    for variable in ("LFW_EXPRESSIONS_PATH", "SFEW_PATH"):
        name = Path(os.environ[variable]).stem
        train_photos[name] = {**describe_source(os.environ[variable]),
                              "train_photos": int(photo_crops[f"{name}/train/photos"])}
    info = {"name": Path(a.out).name, "config": dict(cfg.__dict__), "train_images": int(len(feats["fer/train/labels"])),
            "data": describe_source(os.environ["FER2013_PATH"]), "training_seconds": round(seconds, 1),
            "best_epoch": chosen, "selected_on": "val_floor_score", "photo_sets": train_photos,
            "history_note": history["note"],
            "start": {k: round(v, 5) for k, v in scores[0].items()}}
    publish_model(model, history, info, data, Path(a.out))
    print(f"epoch {chosen}: {fmt(scores[chosen])}; written to {a.out}")


if __name__ == "__main__":
    main()
