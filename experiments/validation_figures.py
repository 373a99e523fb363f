"""The validation figures issue 11's runs were chosen on, for any model's Keras file: PublicTest accuracy
and the accuracy on the photo sets' validation people (LFW) and film clips (SFEW), read through the
pipeline with BlazeFace, as fer_core.train.validate computes them during training.

    python experiments/validation_figures.py compact-v2 default      # FER2013_PATH, LFW_EXPRESSIONS_PATH, SFEW_PATH

(experiments/README.md's row for compact-v2; the trained runs record theirs in history.json / info.json.)
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


def main(names: list[str]) -> None:
    import keras

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
        model = keras.models.load_model(model_dir(name) / "model.keras", compile=False)
        acc = lambda f, labels: float((model.predict(f[..., None] / 255.0, verbose=0).argmax(1) == labels).mean())  # noqa: E731
        figures = [f"PublicTest {acc(x, y):.4f}"] + [f"{n} val {acc(f, l):.4f} ({len(l)} faces)" for n, f, l in parts]
        print(f"{name}: " + "  ".join(figures))


if __name__ == "__main__":
    main(sys.argv[1:] or ["default"])
