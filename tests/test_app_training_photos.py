"""The Training & metrics page shows each model's real-photo figures (metrics.json "photos", written by
``python -m fer_core evaluate --photos PATH --write``) beside FER-2013's, and compares the models on
them; a model without them says how to produce them. The figures are real: the shipped seed model
scored on SFEW's held-out film clips through the whole pipeline."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fer_core import EMOTIONS
from fer_core.registry import model_dir

from .conftest import plotly_values

PAGE = "app_pages/training.py"


@pytest.fixture
def models_with_photo_figures(tmp_path, monkeypatch, sfew_path):
    from fer_core.evaluate import evaluate_photos
    from fer_core.faces import default_still_detector

    models = tmp_path / "models"
    for name in ("seed", "mine"):
        shutil.copytree(model_dir("seed"), models / name)
    metrics = json.loads((models / "seed" / "metrics.json").read_text())
    metrics["photos"] = {"sfew_train": evaluate_photos(models / "seed", sfew_path, default_still_detector())}
    (models / "seed" / "metrics.json").write_text(json.dumps(metrics))
    del metrics["photos"]  # "mine": FER-2013 figures only
    (models / "mine" / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("FER_MODELS_DIR", str(models))
    return json.loads((models / "seed" / "metrics.json").read_text())["photos"]["sfew_train"]


def test_real_photo_figures_per_model_and_compared(open_page, models_with_photo_figures):
    m = models_with_photo_figures
    at = open_page(PAGE)
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs][:2] == ["seed", "mine"]

    # The seed's tab: a table of its figures on the set, and what the figures are.
    tables = [d.value for d in at.dataframe if "photo set" in d.value.columns]
    assert len(tables) == 1
    row = tables[0].iloc[0]
    assert row["photo set"] == "sfew_train" and row["detector"] == m["detector"]
    assert row["accuracy"] == m["accuracy"] and row["accuracy, all photos"] == m["accuracy_all_photos"]
    assert row["faces found"] == m["found_share"] and row["macro-F1"] == m["macro_f1"]
    for e in EMOTIONS:
        assert row[e] == m["per_class"][e]["recall"]
    text = " ".join(x.value for x in [*at.markdown, *at.caption])
    assert "through the whole pipeline" in text and "held out by film clip" in text
    assert f"{m['n']:,} photos, the held-out clips" in text and f"found by {m['detector']} in {m['found']:,}" in text

    # The model without them: a plain note with the command that produces them.
    notes = [i.value for i in at.info if "no real-photo figures" in i.value]
    assert len(notes) == 1 and "'mine'" in notes[0]
    assert "python -m fer_core evaluate mine --photos" in notes[0] and "--write" in notes[0]

    # Models compared on real photos: recall per emotion per model, as stored.
    assert any(h.value == "Models compared on real photos" for h in at.header)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    (chart,) = [c for c in charts if c["layout"].get("title", {}).get("text") == "sfew_train: recall per emotion"]
    assert [t["name"] for t in chart["data"]] == ["seed"]
    assert np.allclose(plotly_values(chart["data"][0]["y"]), [m["per_class"][e]["recall"] for e in EMOTIONS])
    (compared,) = [d.value for d in at.dataframe if "model" in d.value.columns and "faces found" in d.value.columns]
    assert list(compared["model"]) == ["seed"]
