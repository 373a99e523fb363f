"""Analysing an uploaded video for the video page: the engine's frames gathered into a table, a
summary per face, a timeline chart and an annotated MP4, all in memory."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from fer_core import EMOTION_COLORS, EMOTIONS, EmotionRecognizer
from fer_core.records import CSV_COLUMNS, face_rows
from fer_core.video import VideoError, VideoFrameResult, analyze_video

VIDEO_TYPES = ["mp4", "m4v", "mov", "webm", "mkv", "avi"]
PROGRESS_EVERY = 0.25  # seconds between progress updates on the page
NO_FACE_TIPS = (
    "No face was found in this video. Faces seen from the front, well lit and not too small (at least "
    "about a tenth of the picture's width) work best."
)


@dataclass
class VideoAnalysis:
    name: str
    rows: pd.DataFrame  # fer_core.records.CSV_COLUMNS, one row per face and analysed frame
    annotated: bytes  # H.264 MP4 of every frame with boxes and labels
    frames: int  # frames read
    analysed: int  # frames analysed (every ``every``-th)
    every: int
    duration_s: float  # time of the last frame read
    seconds: float  # how long the analysis took
    warning: str | None = None  # the file broke off part-way: what was read is kept

    def face_ids(self) -> list[int]:
        return sorted(int(i) for i in self.rows["face"].unique())

    def csv_bytes(self) -> bytes:
        return self.rows.to_csv(index=False).encode("utf-8")

    def summary(self) -> pd.DataFrame:
        """One row per face: when it was in view, for how long, its dominant emotion and the share
        of its time in view spent in each emotion (each analysed frame counts until the next one)."""
        columns = ["face", "first seen (s)", "last seen (s)", "seconds in view", "dominant emotion", *EMOTIONS]
        if self.rows.empty:
            return pd.DataFrame(columns=columns)
        times = np.sort(self.rows["time_s"].unique())
        gaps = np.diff(times)
        step = float(np.median(gaps)) if len(gaps) else 1 / 30
        span = dict(zip(times, np.append(gaps, step)))  # an analysed frame stands until the next one
        out = []
        for face, g in self.rows.groupby("face", sort=True):
            weight = g["time_s"].map(span).to_numpy(float)
            total = weight.sum()
            share = {e: float(weight[(g["emotion"] == e).to_numpy()].sum() / total) for e in EMOTIONS}
            out.append({"face": int(face), "first seen (s)": round(float(g["time_s"].min()), 2),
                        "last seen (s)": round(float(g["time_s"].max()), 2),
                        "seconds in view": round(float(total), 2),
                        "dominant emotion": max(share, key=share.get), **share})
        return pd.DataFrame(out, columns=columns)


def timeline(rows: pd.DataFrame, face: int, height: int = 360) -> go.Figure:
    """The 7 probabilities of one face over the video's time (seconds from its start)."""
    g = rows[rows["face"] == face]
    fig = go.Figure([
        go.Scatter(x=g["time_s"], y=g[e], name=e, mode="lines", line=dict(color=EMOTION_COLORS[e], width=2),
                   hovertemplate=e + ": %{y:.0%} at %{x:.2f} s<extra></extra>")
        for e in EMOTIONS
    ])
    fig.update_layout(title=f"Face #{face}: probability of each emotion", height=height,
                      legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0),
                      margin=dict(l=10, r=10, t=40, b=10), template="plotly_white")
    fig.update_xaxes(title="seconds into the video", rangemode="tozero")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return fig


def analyze_upload(recognizer: EmotionRecognizer, data: bytes, name: str, every: int = 1,
                   progress: Callable[[VideoFrameResult], None] | None = None) -> VideoAnalysis:
    """Analyse a video held in memory; the annotated copy is written to memory as well. ``progress``
    is called at most every PROGRESS_EVERY seconds. Raises VideoError (plain message) when nothing
    could be read; a file that breaks off part-way gives the frames before the break and a warning."""
    out = io.BytesIO()
    rows: list[dict] = []
    frames = analysed = 0
    last_time, warning = 0.0, None
    started = last_report = time.monotonic()
    try:
        with closing(analyze_video(data, recognizer, every=every, annotated=out, name=name)) as results:
            for r in results:
                rows += face_rows(name, r.faces, r.frame, r.time_s)
                frames, analysed, last_time = r.done, analysed + 1, r.time_s
                if progress is not None and time.monotonic() - last_report >= PROGRESS_EVERY:
                    last_report = time.monotonic()
                    progress(r)
    except VideoError as exc:
        if not exc.frames_done:
            raise
        warning, frames = str(exc), exc.frames_done
    return VideoAnalysis(name, pd.DataFrame(rows, columns=list(CSV_COLUMNS)), out.getvalue(), frames, analysed,
                         every, last_time, time.monotonic() - started, warning)
