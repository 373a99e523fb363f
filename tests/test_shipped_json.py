"""Every figure a shipped model's JSON files hold is possible, and no file names a path of the machine it
was trained on (issue 14). These checks run on whatever models/ holds, so a model published later is
checked the same way.

Why: experiments/train_torch.py once bound its loss and accuracy accumulators to one tensor, and the
page showed a training accuracy of 160-210% for four networks; the tests compared the chart with
history.json and could not see it. Every info.json also recorded an absolute path of the training machine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from pathlib import Path

import pytest

from fer_core.data import DataError, describe_data_file
from fer_core.registry import MODELS_DIR

from .conftest import REPO

FOLDERS = sorted(p.parent for p in MODELS_DIR.glob("*/info.json"))
JSON_FILES = sorted(p for f in FOLDERS for p in f.rglob("*.json"))
# An absolute POSIX path (/work/..., /home/..., /tmp/...), a home-relative one (~/...) or a Windows one (C:\...).
ABSOLUTE = re.compile(r"(?:^|[\s\"'(=:,])(?:~?/[\w.+-]+/|[A-Za-z]:[\\/])")


def load(path: Path):
    return json.loads(path.read_text())


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def histories(name: Path) -> dict[str, dict]:
    """{network name: its history}: one for a single network, one a member for an ensemble."""
    history = load(name / "history.json")
    return history["members"] if "members" in history else {name.name: history}


def network_infos(folder: Path) -> dict[str, dict]:
    info = load(folder / "info.json")
    return {m["name"]: m for m in info["members"]} if "members" in info else {folder.name: info}


def test_there_are_models_to_check():
    assert {"default", "ensemble", "compact-v1", "seed"} <= {f.name for f in FOLDERS}, FOLDERS


def test_the_absolute_path_pattern_finds_paths_and_only_paths():
    for text in ("/work/shared/data/fer2013/fer2013.npz", "data at /home/me/fer.csv", "~/data/fer2013.csv",
                 "C:\\Users\\me\\fer2013.csv", "D:/data/x.npz"):
        assert ABSOLUTE.search(text), text
    for text in ("fer2013.npz", "experiments/train_torch.py", "1/√frequency", "NVIDIA H100, PyTorch 2.11.0+cu130",
                 "loss/accuracy", "val_accuracy"):
        assert not ABSOLUTE.search(text), text


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: str(p.relative_to(MODELS_DIR)))
def test_no_machine_path_in_a_shipped_json(path):
    found = [s for s in strings(load(path)) if ABSOLUTE.search(s)]
    assert not found, f"{path} names paths of a machine: {found[:3]}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_the_training_data_is_named_by_name_size_and_hash(folder):
    info = load(folder / "info.json")
    for who in [info, *info.get("members", [])]:
        data = who["data"]
        assert isinstance(data, dict) and set(data) >= {"name", "bytes", "sha256"}, (who.get("name"), data)
        assert "/" not in data["name"] and "\\" not in data["name"]
        assert isinstance(data["bytes"], int) and data["bytes"] > 0
        assert re.fullmatch(r"[0-9a-f]{64}", data["sha256"])


def test_the_recorded_data_is_the_data_file_ci_has(fer_path):
    """Where the data file CI points at has the recorded name, it is the same file, byte for byte."""
    mine = describe_data_file(fer_path)
    recorded = [who["data"] for f in FOLDERS for who in [load(f / "info.json"), *load(f / "info.json").get("members", [])]]
    same_name = [d for d in recorded if isinstance(d, dict) and d["name"] == mine["name"]]
    assert same_name, f"no shipped model records {mine['name']}: {recorded}"
    for d in same_name:
        assert (d["bytes"], d["sha256"]) == (mine["bytes"], mine["sha256"])


def test_describe_data_file(tmp_path):
    f = tmp_path / "rows.csv"
    f.write_bytes(b"emotion,pixels,Usage\n")
    assert describe_data_file(f) == {"name": "rows.csv", "bytes": 21,
                                     "sha256": hashlib.sha256(b"emotion,pixels,Usage\n").hexdigest()}
    with pytest.raises(DataError, match="no file or folder"):
        describe_data_file(tmp_path / "missing.csv")
    folder = tmp_path / "kaggle"
    (folder / "train" / "happy").mkdir(parents=True)
    (folder / "train" / "happy" / "a.jpg").write_bytes(b"12345")
    (folder / ".DS_Store").write_bytes(b"x")
    d = describe_data_file(folder)
    assert (d["name"], d["bytes"], d["files"]) == ("kaggle", 5, 1)
    (folder / "train" / "happy" / "a.jpg").write_bytes(b"12346")
    assert describe_data_file(folder)["sha256"] != d["sha256"]  # the contents count, not only the names


RATES = re.compile(r"(^|_)(accuracy|macro_f1|f1|precision|recall|ece)(_|$)")


def rates(value, where=""):
    """Every number stored under a rate's name (accuracy, macro_f1, recall, ...) anywhere in ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            if RATES.search(str(k)) and isinstance(v, (int, float)) and not isinstance(v, bool):
                yield f"{where}/{k}", v
            else:
                yield from rates(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from rates(v, f"{where}[{i}]")


@pytest.mark.parametrize("path", [p for p in JSON_FILES if p.name in ("metrics.json", "info.json")],
                         ids=lambda p: str(p.relative_to(MODELS_DIR)))
def test_every_stored_rate_is_within_0_and_1(path):
    """Wherever a metrics.json or info.json stores a rate (FER-2013 splits, real-photo sets, per emotion), it is in [0, 1]."""
    found = list(rates(load(path)))
    bad = [(k, v) for k, v in found if not (math.isfinite(v) and 0 <= v <= 1)]
    assert not bad, f"{path}: {bad[:5]}"
    if path.name == "metrics.json":
        assert len(found) > 20, found  # the walk sees the figures (accuracy, macro-F1, per emotion)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_metrics_are_possible(folder):
    metrics = load(folder / "metrics.json")
    assert {"PublicTest", "PrivateTest"} <= set(metrics)
    for split in ("PublicTest", "PrivateTest"):
        m = metrics[split]
        rates = [m["accuracy"], m["macro_f1"]] + [v for c in m["per_class"].values()
                                                   for k, v in c.items() if k in ("precision", "recall", "f1")]
        rates += [v for k, v in m.items() if k.startswith("ece") and isinstance(v, (int, float))]
        assert all(isinstance(r, (int, float)) and 0 <= r <= 1 for r in rates), (split, rates)
        matrix = m["confusion_matrix"]
        assert sum(map(sum, matrix)) == m["n"] and all(v >= 0 for row in matrix for v in row)
        assert sum(matrix[i][i] for i in range(7)) / m["n"] == pytest.approx(m["accuracy"], abs=1e-4)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_training_curves_are_possible_and_match_info(folder):
    infos = network_infos(folder)
    hs = histories(folder)
    assert sorted(hs) == sorted(infos)
    for name, h in hs.items():
        cfg = infos[name]["config"]
        n = len(h["epoch"])
        assert h["epoch"] == list(range(1, n + 1)), name
        assert n == cfg["epochs"] + cfg.get("polish_epochs", 0), (name, n, cfg["epochs"], cfg.get("polish_epochs"))
        assert 1 <= infos[name]["best_epoch"] <= n
        series = {k: v for k, v in h.items() if k.endswith("loss") or k.endswith("accuracy")}
        assert {"val_loss", "val_accuracy"} <= set(series), name  # PublicTest, always
        for key, values in series.items():
            assert len(values) == n, (name, key)
            assert all(isinstance(v, (int, float)) and math.isfinite(v) for v in values), (name, key)
            if key.endswith("accuracy"):
                assert all(0 <= v <= 1 for v in values), f"{name}: {key} outside [0, 1]: max {max(values)}"
            else:
                assert all(v >= 0 for v in values), f"{name}: negative {key}"
        for loss, acc in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
            if loss in series and acc in series:
                assert series[loss] != series[acc], f"{name}: {loss} and {acc} are one series"
        if "loss" not in series or "accuracy" not in series:  # a dropped series says why, on the page too
            assert h.get("note") and infos[name].get("history_note") == h["note"], name
        best = infos[name]["best_epoch"]
        select = infos[name].get("selected_on", "val_accuracy")  # PublicTest, or its mean with real photos
        assert h[select][best - 1] == max(h[select]), name


def test_the_gpu_trainer_keeps_loss_and_accuracy_apart():
    """No statement of experiments/train_torch.py binds one new object to several names: with a tensor,
    `a = b = torch.zeros(...)` followed by `a += ...; b += ...` adds both sums into the same tensor."""
    tree = ast.parse((REPO / "experiments" / "train_torch.py").read_text())
    chained = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and len(node.targets) > 1 and isinstance(node.value, ast.Call)]
    assert not chained, f"experiments/train_torch.py binds one object to several names on lines {chained}"
