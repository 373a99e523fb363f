"""Training & metrics, as a person sees it: for every shipped model the learning curves and the confusion
matrix render in the browser, and they show that model's own history.json and metrics.json."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core import EMOTIONS
from fer_core.registry import SHIPPED, list_models, read_json

from .conftest import REPO, assert_no_exception, open_page, plotly_charts, screenshot, wait_for, wait_until

MODELS = REPO / "models"


def _visible_tab_panel(driver):
    from selenium.webdriver.common.by import By

    panels = [p for p in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTabs"] [role="tabpanel"]')
              if p.is_displayed()]
    return panels[0] if panels else None


def _tab(driver, name: str):
    from selenium.webdriver.common.by import By

    for tab in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTabs"] [role="tab"]'):
        if tab.text.strip() == name:
            return tab
    return None


def _trace_with(traces, values) -> dict | None:
    """The trace whose y values are ``values`` (to float precision)."""
    for t in traces:
        y = t.get("y")
        if y is not None and len(y) == len(values) and np.allclose(np.array(y, float), values, atol=1e-6):
            return t
    return None


def test_curves_and_confusion_matrix_render_for_the_shipped_models(app_server, make_browser):
    from selenium.webdriver.common.by import By

    names = list_models(MODELS)
    shipped = [n for n in SHIPPED if n in names]
    assert shipped, f"no shipped model in {MODELS}"
    driver = make_browser()
    open_page(driver, app_server, "training")
    assert_no_exception(driver)
    wait_for(driver, '[data-testid="stTabs"]', 60)

    for name in shipped:
        history, metrics = read_json(name, "history.json", MODELS), read_json(name, "metrics.json", MODELS)
        assert history and metrics, f"models/{name} lacks history.json or metrics.json"
        tab = wait_until(lambda: _tab(driver, name), 30, f"no tab for the model '{name}'")
        tab.click()

        def charts_in_tab():
            panel = _visible_tab_panel(driver)
            charts = plotly_charts(driver, panel) if panel is not None else []
            return charts if len(charts) >= 3 and all(c["traces"] for c in charts) else None

        charts = wait_until(charts_in_tab, 60, f"the '{name}' tab did not show its three charts")
        traces = [t for c in charts for t in c["traces"]]

        # Learning curves: train and validation, per epoch, exactly the model's history (an ensemble:
        # each member's PublicTest accuracy, and its training accuracy or else its PublicTest loss). A
        # training series that history.json does not have (dropped, with a note) is not drawn.
        members = history["members"] if "members" in history else {name: history}
        with_train = all("accuracy" in h for h in members.values())
        keys = (("val_accuracy", "accuracy" if with_train else "val_loss") if "members" in history else
                tuple(k for k in ("accuracy", "val_accuracy", "loss", "val_loss") if k in history))
        for member, h in members.items():
            for key in keys:
                curve = _trace_with(traces, h[key])
                assert curve is not None, f"{name}: no curve with {member}'s {key}"
                assert list(curve["x"]) == list(h["epoch"]), f"{name}: {member}'s {key} is not drawn per epoch"
            if h.get("note"):
                panel_text = _visible_tab_panel(driver).text
                assert h["note"][:80] in panel_text.replace("\n", " "), f"{name}: {member}'s note is not shown"
        # Nothing impossible is drawn.
        accuracy_curves = [t for c in charts if "accuracy" in str(c["title"]).lower() for t in c["traces"]]
        assert all(0 <= v <= 1 for t in accuracy_curves for v in t["y"]), f"{name}: an accuracy outside [0, 1]"

        # Confusion matrix: 7×7, emotions on both axes, the PublicTest matrix normalized per row.
        (heat,) = [t for t in traces if t["type"] == "heatmap"]
        assert list(heat["x"]) == list(EMOTIONS) and list(heat["y"]) == list(EMOTIONS)
        counts = np.array(metrics["PublicTest"]["confusion_matrix"], float)
        assert np.allclose(np.array(heat["z"], float), counts / counts.sum(axis=1, keepdims=True), atol=1e-6)

        if name == shipped[0]:
            tabs = driver.find_element(By.CSS_SELECTOR, '[data-testid="stTabs"]')
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", tabs)
            screenshot(driver, "training")

    # All models side by side: PublicTest and PrivateTest accuracy, as in each metrics.json.
    compared = [c for c in plotly_charts(driver) if "accuracy by model" in str(c["title"]).lower()]
    assert len(compared) == 1, [c["title"] for c in plotly_charts(driver)]
    bars = {t["name"]: dict(zip(t["x"], t["y"])) for t in compared[0]["traces"]}
    for name in names:
        metrics = read_json(name, "metrics.json", MODELS) or {}
        for split in ("PublicTest", "PrivateTest"):
            if split in metrics:
                assert bars[split][name] == pytest.approx(metrics[split]["accuracy"]), (name, split)
    assert_no_exception(driver)
