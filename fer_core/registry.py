"""Where trained models live: models/<name>/ with model.tflite, model.keras, history.json, metrics.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

# FER_MODELS_DIR points the app and the CLI elsewhere (tests use a temporary folder).
MODELS_DIR = Path(os.environ.get("FER_MODELS_DIR") or Path(__file__).resolve().parent.parent / "models")
DEFAULT_MODEL = "default"
# Listed first, in this order; then any model trained from the app or the command line.
SHIPPED = ("default", "ensemble", "realfaces-v1", "compact-v2", "compact-v1", "seed")


def is_path(name: str | os.PathLike) -> bool:
    """True when ``name`` is a folder path (a Path object, or text with a '/' or the OS's separator, as in
    ./mine or /data/models/mine), False when it is a model name (default, seed, mine)."""
    if not isinstance(name, str):
        return True
    return "/" in name or os.sep in name or (os.altsep is not None and os.altsep in name)


def model_dir(name: str | os.PathLike, models_dir: str | os.PathLike = MODELS_DIR) -> Path:
    """The folder of a model given by name (always <models_dir>/<name>, whatever the current folder
    holds) or by path (``./mine``, ``/data/models/mine``, a Path object)."""
    if is_path(name):
        return Path(name)
    return Path(models_dir) / name


def list_models(models_dir: str | os.PathLike = MODELS_DIR) -> list[str]:
    """Names of the usable models: shipped ones first, then the rest alphabetically."""
    root = Path(models_dir)
    found = sorted(p.parent.name for p in root.glob("*/model.tflite") if not p.parent.name.startswith("."))
    return [n for n in SHIPPED if n in found] + [n for n in found if n not in SHIPPED]


def read_json(name: str, filename: str, models_dir: str | os.PathLike = MODELS_DIR) -> dict | None:
    """A model's history.json / metrics.json / info.json, or None when it has none."""
    path = model_dir(name, models_dir) / filename
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
