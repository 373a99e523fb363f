"""Plotly figures of the dashboard. Emotions always come in EMOTIONS order with EMOTION_COLORS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from fer_core import EMOTION_COLORS, EMOTIONS

_COLORS = [EMOTION_COLORS[e] for e in EMOTIONS]
_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), template="plotly_white")
# Legends sit above the plot, right-aligned, clear of the title and of the x axis' title.
_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1)
# For st.plotly_chart(config=...): no toolbar over the titles.
STATIC = {"displayModeBar": False}


def probability_bars(probabilities: Sequence[float], title: str | None = None, height: int = 260) -> go.Figure:
    """Horizontal bars of the 7 probabilities: Angry at the top, Neutral at the bottom, always."""
    p = np.asarray(probabilities, dtype=float).reshape(-1)
    if p.shape != (len(EMOTIONS),):
        raise ValueError(f"expected {len(EMOTIONS)} probabilities, got {p.shape}")
    fig = go.Figure(go.Bar(
        x=p, y=list(EMOTIONS), orientation="h", marker_color=_COLORS,
        text=[f"{v:.0%}" for v in p], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_layout(title=title, height=height, showlegend=False, **_LAYOUT)
    fig.update_xaxes(range=[0, 1.15], tickformat=".0%", showgrid=True, fixedrange=True)
    fig.update_yaxes(categoryorder="array", categoryarray=list(EMOTIONS)[::-1], fixedrange=True)
    return fig


def timeline(times: Sequence[float], probabilities: Sequence[Sequence[float]], window: float = 30.0,
             height: int = 260) -> go.Figure:
    """The main face's probability of each emotion over the last ``window`` seconds (0 = now)."""
    t = np.asarray(times, dtype=float)
    p = np.asarray(probabilities, dtype=float).reshape(len(t), len(EMOTIONS)) if len(t) else np.zeros((0, 7))
    rel = t - t[-1] if len(t) else t
    fig = go.Figure([
        go.Scatter(x=rel, y=p[:, i], name=e, mode="lines", line=dict(color=EMOTION_COLORS[e], width=2),
                   hovertemplate=e + ": %{y:.0%}<extra></extra>")
        for i, e in enumerate(EMOTIONS)
    ])
    fig.update_layout(title=f"Last {window:.0f} seconds", height=height, legend=_LEGEND,
                      **_LAYOUT)
    fig.update_xaxes(range=[-window, 0], title="seconds", fixedrange=True)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", fixedrange=True)
    return fig


SERIES_LABELS = {"accuracy": "training accuracy", "loss": "training loss", "val_accuracy": "PublicTest accuracy",
                 "val_loss": "PublicTest loss"}


def refused_series(history: Mapping[str, Sequence[float]] | None) -> dict[str, str]:
    """{key: why it is not drawn} for the series of a history that cannot be right: an accuracy
    outside [0, 1], a negative loss, a value that is not a finite number, or a loss and an accuracy
    that are one and the same series (the sign of a training log that summed them)."""
    refused: dict[str, str] = {}
    if not history:
        return refused
    for key, values in history.items():
        if not (key.endswith("accuracy") or key.endswith("loss")) or not isinstance(values, (list, tuple)):
            continue
        label = SERIES_LABELS.get(key, key)
        try:
            v = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            refused[key] = f"its {label} holds values that are not numbers"
            continue
        if not np.isfinite(v).all():
            refused[key] = f"its {label} holds values that are not finite numbers"
        elif key.endswith("accuracy") and ((v < 0) | (v > 1)).any():
            refused[key] = f"its {label} goes outside 0–100% (from {v.min():.0%} to {v.max():.0%})"
        elif key.endswith("loss") and (v < 0).any():
            refused[key] = f"its {label} is negative ({v.min():.3g})"
    for loss, acc in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
        if history.get(loss) and list(history.get(loss)) == list(history.get(acc) or []):
            for key in (loss, acc):
                refused.setdefault(key, f"its {SERIES_LABELS[loss]} and {SERIES_LABELS[acc]} are one and the same series")
    return refused


def refusal_notes(history: Mapping[str, Sequence[float]] | None, name: str) -> list[str]:
    """One plain sentence per refused series of ``name``'s history, for the page to show beside the chart."""
    return [f"Not drawn for {name}: {why}, which cannot be right." for why in refused_series(history).values()]


def training_curves(history: Mapping[str, Sequence[float]], metric: str, height: int = 300) -> go.Figure:
    """Train against validation per epoch, for ``metric`` "accuracy" or "loss". A series that cannot be
    right (``refused_series``) is left out; the page says so with ``refusal_notes``."""
    epochs = list(history.get("epoch") or range(1, len(history.get(metric, [])) + 1))
    label = {"accuracy": "Accuracy", "loss": "Loss"}.get(metric, metric)
    refused = refused_series(history)
    fig = go.Figure()
    for key, name, color in ((metric, "train", "#3b6fd8"), (f"val_{metric}", "validation (PublicTest)", "#e4572e")):
        values = history.get(key) or []
        if values and key not in refused:
            fig.add_trace(go.Scatter(x=epochs[: len(values)], y=values, name=name, mode="lines+markers",
                                     line=dict(color=color)))
    fig.update_layout(title=f"{label} per epoch", height=height, legend=_LEGEND, **_LAYOUT)
    fig.update_xaxes(title="epoch", dtick=max(1, len(epochs) // 10) if epochs else 1)
    if metric == "accuracy":
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig


def confusion_heatmap(matrix: Sequence[Sequence[int]], normalize: bool = False, title: str | None = None,
                      height: int = 460) -> go.Figure:
    """Rows: the true emotion; columns: the predicted one. ``normalize`` divides each row by its total."""
    counts = np.asarray(matrix, dtype=float)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        z = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        text = [[f"{v:.0%}" for v in row] for row in z]
        colorbar = dict(tickformat=".0%")
    else:
        z = counts
        text = [[f"{int(v)}" for v in row] for row in z]
        colorbar = dict(title="faces")
    fig = go.Figure(go.Heatmap(
        z=z, x=list(EMOTIONS), y=list(EMOTIONS), text=text, texttemplate="%{text}", colorscale="Blues",
        colorbar=colorbar, hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
    ))
    fig.update_layout(title=title, height=height, **_LAYOUT)
    fig.update_xaxes(title="predicted", side="bottom")
    fig.update_yaxes(title="true", autorange="reversed")
    return fig


def compare_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], metric: str = "val_accuracy",
                   height: int = 340, title: str | None = None) -> go.Figure:
    """One line per model: ``metric`` (PublicTest accuracy by default) against the epoch, so a new
    model's curve sits beside the earlier ones. A model's series that cannot be right is left out."""
    label = {"val_accuracy": "PublicTest accuracy", "val_loss": "PublicTest loss",
             "accuracy": "Training accuracy", "loss": "Training loss"}.get(metric, metric)
    fig = go.Figure()
    for name, history in histories.items():
        values = list((history or {}).get(metric) or [])
        if values and metric not in refused_series(history):
            epochs = list(history.get("epoch") or range(1, len(values) + 1))[: len(values)]
            fig.add_trace(go.Scatter(x=epochs, y=values, name=name, mode="lines",
                                     hovertemplate=name + ", epoch %{x}: %{y:.3~f}<extra></extra>"))
    fig.update_layout(title=title or f"{label} per epoch, all models", height=height, legend=_LEGEND, **_LAYOUT)
    fig.update_xaxes(title="epoch")
    if metric.endswith("accuracy"):
        fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig


def split_accuracy(accuracies: Mapping[str, Mapping[str, float]], height: int = 320) -> go.Figure:
    """Grouped bars: for each model, its PublicTest and PrivateTest accuracy side by side."""
    models = list(accuracies)
    fig = go.Figure()
    for split, color in (("PublicTest", "#8fb3f0"), ("PrivateTest", "#3b6fd8")):
        values = [accuracies[m].get(split) for m in models]
        fig.add_trace(go.Bar(x=models, y=values, name=split, marker_color=color,
                             text=[f"{v:.1%}" if v is not None else "" for v in values], textposition="outside"))
    fig.update_layout(barmode="group", title="Test accuracy by model", height=height,
                      legend=_LEGEND, **_LAYOUT)
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def photo_recall(recalls: Mapping[str, Mapping[str, float | None]], title: str, height: int = 320) -> go.Figure:
    """Grouped bars: for each emotion, each model's recall on one real-photo set (``{model: {emotion:
    recall or None}}``; None, an emotion the set has no photo of, leaves a gap). A recall outside
    [0, 1] is no recall: it is not drawn."""
    fig = go.Figure()
    for model, per_emotion in recalls.items():
        values = [per_emotion.get(e) for e in EMOTIONS]
        values = [v if v is not None and 0 <= v <= 1 else None for v in values]
        fig.add_trace(go.Bar(x=list(EMOTIONS), y=values, name=model,
                             text=[f"{v:.0%}" if v is not None else "" for v in values], textposition="outside",
                             hovertemplate=model + ", %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(barmode="group", title=title, height=height, legend=_LEGEND, **_LAYOUT)
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%", title="recall")
    return fig
