"""The recognizer shared by every session and the sidebar model selector that picks it."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from fer_core import EmotionRecognizer, ModelError
from fer_core import registry

MODEL_KEY = "model_name"  # st.session_state key of the sidebar selector


def models_dir() -> Path:
    """The models folder, read on every call so that FER_MODELS_DIR set after start-up (tests) counts."""
    return Path(os.environ.get("FER_MODELS_DIR") or registry.MODELS_DIR)


def runs_dir() -> Path:
    """Where training writes checkpoints and live history: <models_dir>/../runs (as fer_core.train)."""
    return models_dir().resolve().parent / "runs"


def available_models() -> list[str]:
    return registry.list_models(models_dir())


def _model_stamp(name: str, folder: Path) -> float:
    try:
        return (folder / name / "model.tflite").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the emotion model…", max_entries=8)
def _load_recognizer(name: str, folder: str, stamp: float) -> EmotionRecognizer:
    # One recognizer per model and process, shared by all sessions and WebRTC threads: the Haar
    # cascade and the TFLite interpreter inside are per thread, so sharing it is safe.
    # ``stamp`` (the file's mtime) makes a model retrained in place load again.
    # A ModelError is not cached: once the file is restored, the next run loads it.
    return EmotionRecognizer.load(name, models_dir=folder)


def load_recognizer(name: str) -> EmotionRecognizer:
    """The shared recognizer for a model name; raises ModelError with a plain message."""
    folder = models_dir()
    return _load_recognizer(name, str(folder), _model_stamp(name, folder))


def _preferred(names: list[str]) -> str:
    return registry.DEFAULT_MODEL if registry.DEFAULT_MODEL in names else names[0]


def model_selector() -> str | None:
    """The sidebar selector over the available models; its choice applies to every page.

    Returns the chosen model name, or None when there is no model at all (a message says so).
    """
    names = available_models()
    if not names:
        st.sidebar.error(
            f"No trained model was found in `{models_dir()}`. Train one on the **Training & metrics** "
            "page, or restore the shipped models with `git checkout -- models/`."
        )
        st.session_state.pop(MODEL_KEY, None)
        return None
    if st.session_state.get(MODEL_KEY) not in names:  # first run, or the chosen model is gone
        st.session_state[MODEL_KEY] = _preferred(names)
    choice = st.sidebar.selectbox(
        "Model", names, key=MODEL_KEY,
        help="The emotion network used on every page. 'default' is the best shipped model; "
             "'seed' the original small CNN; others were trained from this app or the command line.",
    )
    info = registry.read_json(choice, "metrics.json", models_dir()) or {}
    acc = info.get("PrivateTest", {}).get("accuracy")
    if acc is not None:
        st.sidebar.caption(f"Accuracy on FER-2013 PrivateTest: {acc:.1%}")
    return choice


def selected_recognizer(required: bool = True) -> EmotionRecognizer | None:
    """The recognizer of the sidebar's model, or None after showing why it could not be loaded.

    With ``required`` the page stops there (st.stop) when there is no usable model.
    """
    name = st.session_state.get(MODEL_KEY)
    rec = None
    if name is None:
        if required:
            st.error("There is no emotion model to use yet. Train one on the **Training & metrics** page.")
    else:
        try:
            rec = load_recognizer(name)
        except ModelError as exc:
            st.error(f"The model '{name}' cannot be used. {exc}")
            others = [n for n in available_models() if n != name]
            if others:
                st.info(f"Choose another model in the sidebar ({', '.join(others)}).")
    if rec is None and required:
        st.stop()
    return rec


@st.cache_resource
def training_jobs():
    """The training subprocesses of this server process; they outlive reruns and page changes."""
    from dashboard.training import JobRegistry

    return JobRegistry()
