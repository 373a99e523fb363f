"""Issue 14's clean-up of a published model's JSON files, kept as a script so that it can be run again
on a model published before the fixes (and so that what was changed to the shipped files is on record).

1. ``info.json``: every ``"data"`` that is a path of the machine the model was trained on becomes
   ``fer_core.data.describe_data_file``'s ``{"name", "bytes", "sha256"}`` of that file. The file must
   be at that path, or be given with ``--data`` (its name must be the recorded path's name).
2. ``history.json``: a history written by ``experiments/train_torch.py`` before issue 14 bound its
   training loss and accuracy accumulators to one tensor (``tot_loss = tot_correct = torch.zeros(...)``),
   so its ``loss`` and ``accuracy`` are both the sum of the two, element for element the same series.
   The two cannot be separated (the run's console log printed the same sum, and no log was kept), so
   both are dropped and a ``"note"`` says why; ``info.json`` gets the same note (``"history_note"``).
   The PublicTest series (``val_loss``, ``val_accuracy``) were computed apart, by ``evaluate()`` with the
   model in eval mode (unweighted cross-entropy without label smoothing, and the argmax's accuracy):
   they are kept.

    python experiments/clean_model_json.py models/default models/ensemble [--data $FER2013_PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core.data import describe_data_file  # noqa: E402

SUMMED_NOTE = (
    "No training-set loss or accuracy is recorded for this network: experiments/train_torch.py, which trained "
    "it, summed both into one tensor before issue 14 (each was the loss plus the accuracy), and the two cannot "
    "be separated again (no training log was kept). val_loss and val_accuracy (PublicTest, the model in eval "
    "mode: unweighted cross-entropy without label smoothing, and accuracy) were computed apart and are right."
)


def _histories(history: dict) -> dict[str, dict]:
    return history["members"] if "members" in history else {"": history}


def summed_series(h: dict) -> bool:
    """A history whose 'loss' and 'accuracy' are one series (the accumulator bug's signature)."""
    return bool(h.get("loss")) and h.get("loss") == h.get("accuracy")


def clean(folder: Path, data: Path | None) -> list[str]:
    """Rewrite folder's info.json and history.json in place; returns what was changed, in words."""
    changes = []
    info_file, history_file = folder / "info.json", folder / "history.json"
    info = json.loads(info_file.read_text())
    history = json.loads(history_file.read_text()) if history_file.exists() else None

    def described(value: str) -> dict:
        path = Path(value)
        source = path if path.exists() else data
        if source is None:
            raise SystemExit(f"error: {folder}: the data file {value} is not here; give it with --data")
        if source.name != path.name:
            raise SystemExit(f"error: {folder}: --data {source} is not the recorded {path.name}")
        changes.append(f"data {value} -> {source.name} (sha256)")
        return describe_data_file(source)

    infos = [info] + list(info.get("members", []))
    for i in infos:
        if isinstance(i.get("data"), str):
            i["data"] = described(i["data"])

    if history is not None:
        members = _histories(history)
        member_infos = {m["name"]: m for m in info.get("members", [])}
        for name, h in members.items():
            if summed_series(h):
                del h["loss"], h["accuracy"]
                h["note"] = SUMMED_NOTE
                (member_infos.get(name, info))["history_note"] = SUMMED_NOTE
                changes.append(f"history {name or folder.name}: dropped the summed loss/accuracy series")
        history_file.write_text(json.dumps(history, indent=1))
    info_file.write_text(json.dumps(info, indent=1))
    return changes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="model folders (models/NAME)")
    ap.add_argument("--data", type=Path, help="the training data file, when not at the path info.json records")
    a = ap.parse_args(argv)
    for folder in a.models:
        for change in clean(folder, a.data) or ["nothing to change"]:
            print(f"{folder}: {change}")


if __name__ == "__main__":
    main()
