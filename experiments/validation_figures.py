"""The validation figures issue 11's runs were chosen on, for any model's Keras file: PublicTest accuracy
and the accuracy on the photo sets' validation people (LFW) and film clips (SFEW), read through the
pipeline with BlazeFace, as fer_core.train.validate computes them during training.

    python experiments/validation_figures.py compact-v2 default      # FER2013_PATH, LFW_EXPRESSIONS_PATH, SFEW_PATH
    python experiments/validation_figures.py --tflite --recalls default ../cand/rf-short

(experiments/README.md's row for compact-v2; the trained runs record theirs in history.json / info.json.)
``--tflite`` reads the published .tflite instead, as the app runs it (a flip-averaged model's mirror
included), and adds the photo sets' per-emotion recalls on the validation parts (``--recalls``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fer_core.data import load_fer2013  # noqa: E402
from fer_core.faces import make_detector  # noqa: E402
from fer_core.realfaces import load_photo_set, pipeline_faces, split_groups  # noqa: E402
from fer_core.registry import model_dir  # noqa: E402


def main(names: list[str], tflite: bool = False, recalls: bool = False) -> None:
    import keras
    import numpy as np

    from fer_core.classifier import TFLiteClassifier
    from fer_core.emotions import EMOTIONS

    data = load_fer2013(os.environ["FER2013_PATH"])
    x, y = data.split("PublicTest")
    detector = make_detector("blazeface")
    parts = []
    for variable in ("LFW_EXPRESSIONS_PATH", "SFEW_PATH"):
        photos = load_photo_set(os.environ[variable])
        val = photos.subset(split_groups(photos.groups) == "val")
        faces, found, _ = pipeline_faces(val, detector)
        parts.append((photos.name, faces[found], val.labels[found]))
    for name in names:
        if tflite:
            classifier = TFLiteClassifier(model_dir(name) / "model.tflite")
            read = lambda f: np.concatenate([classifier(f[i:i + 256]) for i in range(0, len(f), 256)])  # noqa: E731
        else:
            model = keras.models.load_model(model_dir(name) / "model.keras", compile=False)
            read = lambda f: model.predict(f[..., None] / 255.0, verbose=0)  # noqa: E731
        acc = lambda f, labels: float((read(f).argmax(1) == labels).mean())  # noqa: E731
        figures = [f"PublicTest {acc(x, y):.4f}"] + [f"{n} val {acc(f, l):.4f} ({len(l)} faces)" for n, f, l in parts]
        print(f"{name}: " + "  ".join(figures))
        if recalls:
            for n, f, labels in parts:
                got = read(f).argmax(1)
                print(f"  {n} val recall: " + "  ".join(
                    f"{e} {float((got[labels == k] == k).mean()):.3f} ({int((labels == k).sum())})"
                    for k, e in enumerate(EMOTIONS) if (labels == k).any()))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", default=["default"], help="model names or folders")
    ap.add_argument("--tflite", action="store_true", help="read the .tflite (as the app does), not model.keras")
    ap.add_argument("--recalls", action="store_true", help="also print each emotion's recall on the photo sets")
    a = ap.parse_args()
    main(a.names, tflite=a.tflite, recalls=a.recalls)
