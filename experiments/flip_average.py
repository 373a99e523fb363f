"""Publish a model that reads each face and its mirror image and averages the two readings (flip
test-time augmentation inside the .tflite itself, so the app, `evaluate` and the benchmarks run it as any
other model, at about twice the cost per face).

    python experiments/flip_average.py SOURCE_MODEL_FOLDER TARGET_FOLDER      # FER2013_PATH for calibration

Issue 11 tried it on the `realfaces-fer-kd` run (experiments/README.md): +0.9 points PublicTest, but LFW's
validation people fell below that preset's 80% floor, so it was not shipped. The published info.json
records ``"flip_average": true`` in its config. ``python -m fer_core train ... --flip-average`` does the
same within training, choosing the epoch and the blend share on the averaged readings.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="a published model folder (its model.keras, info.json, history.json)")
    ap.add_argument("target", help="the folder to publish the flip-averaged model in")
    ap.add_argument("--data", default=os.environ.get("FER2013_PATH"), help="FER-2013 (default $FER2013_PATH)")
    a = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from fer_core.data import load_fer2013
    from fer_core.train import flip_averaged, publish

    source, target = Path(a.source), Path(a.target)
    model = keras.models.load_model(source / "model.keras", compile=False)
    info = json.loads((source / "info.json").read_text())
    history = json.loads((source / "history.json").read_text())
    for key in ("sha256", "temperature"):  # publish computes both again for the new file
        info.pop(key, None)
    info["name"] = target.name
    info["config"]["flip_average"] = True
    out = publish(model, history, info, load_fer2013(a.data), target, served=flip_averaged(model))
    m = json.loads((out / "metrics.json").read_text())["PublicTest"]
    print(f"PublicTest: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}\nModel written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
