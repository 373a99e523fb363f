"""The model card's "Known failure modes" figures: how the shipped models go wrong on FER-2013 PrivateTest,
judged by FER-2013's labels and by FER+'s crowd of ten taggers (a calmer reference for "neutral").

    python experiments/failure_modes.py [--data $FER2013_PATH] [--ferplus $FERPLUS_PATH] [MODEL ...]

For each model (default: every model in models/) it prints, on PrivateTest, single crops as the app runs them:
- for each true emotion (FER-2013 label), the reading it is most often mistaken for, and how often;
- of the faces most of FER+'s taggers call neutral (a calm face), how many the model reads as Sad, as any
  negative emotion (Angry, Disgust, Fear, Sad), and as Neutral;
- how many of its wrong answers it gives with a confidence of 80% or more;
and once, for the data: how often FER-2013's label is FER+'s majority, and each emotion's share of Training.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core import EMOTIONS, EmotionRecognizer  # noqa: E402
from fer_core.data import SPLITS, load_fer2013, load_ferplus_votes  # noqa: E402
from fer_core.registry import list_models  # noqa: E402

NEGATIVE = [EMOTIONS.index(e) for e in ("Angry", "Disgust", "Fear", "Sad")]
SAD, NEUTRAL = EMOTIONS.index("Sad"), EMOTIONS.index("Neutral")


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """The FER+ majority among the seven emotions, -1 where there is none or a tie (as `evaluate --ferplus`)."""
    top = votes.max(1)
    unique = (votes == top[:, None]).sum(1) == 1
    return np.where((top > 0) & unique, votes.argmax(1), -1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="model names (default: all in models/)")
    ap.add_argument("--data", default=os.environ.get("FER2013_PATH"), help="FER-2013 (default: $FER2013_PATH)")
    ap.add_argument("--ferplus", default=os.environ.get("FERPLUS_PATH"), help="fer2013new.csv (default: $FERPLUS_PATH)")
    a = ap.parse_args(argv)
    if not a.data or not a.ferplus:
        ap.error("give --data and --ferplus (or set FER2013_PATH and FERPLUS_PATH)")
    data = load_fer2013(a.data)
    majority = ferplus_majority(load_ferplus_votes(a.ferplus, expected_rows=len(data)))
    test = data.usage == SPLITS.index("PrivateTest")
    faces, labels, crowd = data.images[test], data.labels[test], majority[test]
    calm = crowd == NEUTRAL

    has = majority >= 0
    print(f"Data: FER-2013's label is FER+'s majority for {np.mean(data.labels[has] == majority[has]):.1%} of the "
          f"{has.sum():,} faces that have one; Training shares: " + ", ".join(
              f"{e} {s:.1%}" for e, s in zip(EMOTIONS, np.bincount(data.labels[data.usage == 0], minlength=7)
                                             / (data.usage == 0).sum())))
    print(f"PrivateTest: {len(labels):,} faces, {calm.sum():,} of them calm (FER+ majority neutral)\n")
    for name in a.models or list_models():
        probs = EmotionRecognizer.load(name).classify(faces)
        pred, conf = probs.argmax(1), probs.max(1)
        wrong = pred != labels
        print(f"{name}: accuracy {1 - wrong.mean():.1%}; wrong answers given with ≥ 80% confidence: "
              f"{np.mean(conf[wrong] >= 0.8):.1%} of {wrong.sum():,}")
        for i, e in enumerate(EMOTIONS):
            mine = labels == i
            counts = np.bincount(pred[mine], minlength=7)
            counts[i] = -1
            j = int(counts.argmax())
            print(f"  true {e:<8} ({mine.sum():4d}): read as {EMOTIONS[j]:<8} {counts[j] / mine.sum():6.1%}, "
                  f"right {np.mean(pred[mine] == i):6.1%}")
        print(f"  calm faces (FER+ neutral, {calm.sum()}): read as Sad {np.mean(pred[calm] == SAD):.1%}, as a negative "
              f"emotion {np.mean(np.isin(pred[calm], NEGATIVE)):.1%}, as Neutral {np.mean(pred[calm] == NEUTRAL):.1%}\n",
              flush=True)


if __name__ == "__main__":
    main()
