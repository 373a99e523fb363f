"""Bring a network trained by experiments/train_torch.py into the project as a normal model.

The weights go into the Keras twin of the network (`fer_core.architectures.compact_vgg` with the
same widths), and `fer_core.train.publish` does the rest exactly as for a CPU-trained model:
model.keras, the int8 .tflite, history.json, the temperature fitted on PublicTest, and
metrics.json on PublicTest and PrivateTest. PrivateTest is first seen here, after the epoch was
chosen on PublicTest on the GPU machine.

    python experiments/import_torch.py RESULT.npz [...] --models-dir /tmp/ablations   # one model per file
    python experiments/import_torch.py long2_compact.npz --name default                 # ship one
    python experiments/import_torch.py A.npz B.npz C.npz --ensemble --name ensemble    # one model of three

It prints one markdown row per model: name, epochs, PublicTest accuracy (int8 .tflite, as the app runs it)
and training time on the GPU; PrivateTest accuracy and macro-F1 only with ``--ship``, for a model already
chosen to ship on PublicTest (issue 14: before, every ablation's PrivateTest figure was printed before the
choice was made). The published metrics.json still holds both splits (fer_core.train.publish scores both).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.cli import default_data_path  # noqa: E402
from fer_core.data import describe_data_file, load_fer2013  # noqa: E402

ARCH_FOR_WIDTHS = {(32, 64, 128, 256): "compact_vgg", (48, 96, 192, 384): "wide_vgg", (64, 128, 256, 512): "teacher_vgg"}


def read_result(path):
    """(meta dict, {torch parameter name: float32 array}) from one train_torch.py result."""
    z = np.load(path)
    meta = json.loads(str(z["_meta"]))
    return meta, {k: z[k].astype(np.float32) for k in z.files if k != "_meta"}


def to_keras(meta, state):
    """The Keras twin of the torch network, with its weights (eval mode: dropout off, BN running stats)."""
    from fer_core.architectures import compact_vgg

    cfg = meta["config"]
    model = compact_vgg(tuple(cfg["widths"]), cfg["dropout"])
    index = lambda k: int(k.split(".")[1])  # noqa: E731  features.<i>.weight
    convs = sorted((k for k, v in state.items() if k.startswith("features.") and v.ndim == 4), key=index)
    bns = sorted({k.rsplit(".", 1)[0] for k in state if k.endswith("running_mean")}, key=lambda k: int(k.split(".")[1]))
    conv_layers = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    bn_layers = [l for l in model.layers if l.__class__.__name__ == "BatchNormalization"]
    assert len(convs) == len(conv_layers) and len(bns) == len(bn_layers), "the networks do not match"
    for layer, k in zip(conv_layers, convs):
        layer.set_weights([state[k].transpose(2, 3, 1, 0)])  # torch [out, in, kh, kw] -> keras [kh, kw, in, out]
    for layer, k in zip(bn_layers, bns):
        layer.set_weights([state[f"{k}.weight"], state[f"{k}.bias"], state[f"{k}.running_mean"],
                           state[f"{k}.running_var"]])
    dense = [l for l in model.layers if l.__class__.__name__ == "Dense"][0]
    dense.set_weights([state["head.weight"].T, state["head.bias"]])
    return model


def ensemble(members):
    """One Keras model that averages the members' probabilities: a single .tflite, one call per batch."""
    import keras

    inputs = keras.Input((48, 48, 1))
    outs = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}_{name}")(inputs)
            for i, (name, m) in enumerate(members)]
    return keras.Model(inputs, keras.layers.Average()(outs), name="ensemble")


def ensemble_info(name, infos, histories):
    """info.json of an ensemble: its members' configurations; history.json: each member's curves."""
    info = {
        "name": name,
        "config": {"architecture": "ensemble", "members": [i["name"] for i in infos], "quantize": True},
        "members": infos,
        "train_images": infos[0]["train_images"],
        "data": infos[0]["data"],
        "training_seconds": round(sum(i["training_seconds"] for i in infos), 1),
        "trained_on": infos[0]["trained_on"],
    }
    return info, {"members": histories}


def info_for(name, meta, n_train, data_source):
    cfg = meta["config"]
    return {
        "name": name,
        "config": {
            "architecture": ARCH_FOR_WIDTHS.get(tuple(cfg["widths"]), "compact_vgg"),
            "epochs": cfg["epochs_run"], "batch_size": cfg["batch"], "learning_rate": cfg["lr"], "optimizer": "adam",
            "augment": cfg["augment"], "class_weight_power": cfg["class_weight_power"],
            "label_smoothing": cfg["label_smoothing"], "cosine": True, "polish_epochs": cfg["polish"],
            "quantize": True, "seed": cfg["seed"],
            "extra": {k: cfg[k] for k in ("mixup", "ferplus", "teacher", "kd_alpha", "kd_t", "widths", "dropout")},
        },
        "train_images": n_train,
        "data": data_source,
        "training_seconds": round(sum(meta["history"]["seconds"]), 1),
        "best_epoch": int(np.argmax(meta["history"]["val_accuracy"]) + 1),
        "trained_on": f"{meta['device']}, PyTorch {meta['torch']} (experiments/train_torch.py)",
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="+", help="train_torch.py result files (.npz)")
    ap.add_argument("--name", help="model name (default: the file's name); only with one result or --ensemble")
    ap.add_argument("--ensemble", action="store_true", help="publish all results as one model averaging them")
    ap.add_argument("--ship", action="store_true",
                    help="also print PrivateTest: only for the model(s) already chosen, on PublicTest, to ship")
    ap.add_argument("--models-dir", default="models")
    ap.add_argument("--data", default=default_data_path(), help="fer2013 data (default: $FER2013_PATH)")
    a = ap.parse_args(argv)
    if a.name and len(a.results) > 1 and not a.ensemble:
        ap.error("--name takes a single result file (or --ensemble)")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from fer_core.train import publish

    data = load_fer2013(a.data)
    n_train = len(data.split("Training")[0])
    print("| model | epochs | PublicTest | PrivateTest | PrivateTest macro-F1 | GPU minutes |")
    print("|---|---|---|---|---|---|")
    jobs = []
    for path in a.results:
        meta, state = read_result(path)
        name = Path(path).stem if a.ensemble else a.name or Path(path).stem
        # The data file's name, size and SHA-256, not a path of this machine (issue 14).
        jobs.append((name, to_keras(meta, state), info_for(name, meta, n_train, describe_data_file(a.data)),
                     meta["history"]))
    if a.ensemble:
        name = a.name or "+".join(j[0] for j in jobs)
        info, history = ensemble_info(name, [j[2] for j in jobs], {j[0]: j[3] for j in jobs})
        jobs = [(name, ensemble([(j[0], j[1]) for j in jobs]), info, history)]
    for name, model, info, history in jobs:
        target = publish(model, history, info, data, Path(a.models_dir) / name)
        if a.ensemble:
            # One file per member instead of one 26 MB model.keras (files over 20 MB stay out of the repo).
            (target / "model.keras").unlink()
            (target / "members").mkdir()
            for member in model.layers[1:-1]:
                keras_model = keras.Model(member.inputs[0], member.outputs[0])
                keras_model.save(target / "members" / f"{member.name.split('_', 2)[2]}.keras")
        m = json.loads((target / "metrics.json").read_text())
        epochs = f"{info['config']['epochs']}+{info['config']['polish_epochs']}" if "epochs" in info["config"] else "—"
        private = (f"{m['PrivateTest']['accuracy']:.2%} | {m['PrivateTest']['macro_f1']:.3f}" if a.ship
                   else "not shown (choose on PublicTest; --ship) | —")
        print(f"| {name} | {epochs} | {m['PublicTest']['accuracy']:.2%} | {private} "
              f"| {info['training_seconds'] / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
