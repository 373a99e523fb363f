"""The recognizer shared by every session, the sidebar model selector that picks it, and the
per-page face detector selector."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from fer_core import EmotionRecognizer, ModelError
from fer_core import faces, registry
from fer_core.video import DEFAULT_DETECTOR as VIDEO_DETECTOR

MODEL_KEY = "model_name"  # st.session_state key of the sidebar selector
# st.session_state keys of the "Face detector" selector, one per page so each keeps its own choice.
DETECTOR_KEYS = {"photo": "photo_detector", "live": "live_detector", "video": "video_detector"}


def default_detector(page: str) -> str:
    """The detector a page starts with: for photos the most accurate one installed (BlazeFace, else the
    thorough Haar pass); for the live camera the fast Haar pass (BlazeFace one click away in the sidebar), and
    for recorded video fer_core.video.DEFAULT_DETECTOR, the same one (with tracking it keeps up with 30 fps on
    one core: benchmarks/bench_video.py)."""
    if page == "photo":
        return faces.default_still_detector()
    return VIDEO_DETECTOR if page == "video" else "haar-fast"


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


@st.cache_resource(show_spinner=False, max_entries=8)
def _detector(name: str):
    # One detector per name and process, shared by every session and WebRTC thread: the detectors
    # keep their OpenCV cascade / TFLite interpreter per thread, so sharing one is safe.
    # An error (not installed, unknown name) is not cached.
    return faces.make_detector(name)


@st.cache_resource(show_spinner=False, max_entries=32)
def _recognizer_with(name: str, folder: str, stamp: float, detector: str) -> EmotionRecognizer:
    # The same object for the same model and detector on every run, so that the live page's
    # analyzer (its smoothing and tracking state) is kept until one of them changes.
    base = _load_recognizer(name, folder, stamp)
    return EmotionRecognizer(base.classifier, _detector(detector), name=base.name)


def recognizer_with_detector(recognizer: EmotionRecognizer, detector: str) -> EmotionRecognizer:
    """The shared recognizer of ``recognizer``'s model (its loaded classifier, not a copy) with the
    detector named ``detector``. Raises ValueError or RuntimeError with a plain message when that
    detector cannot be made, ModelError when the model cannot be loaded."""
    folder = models_dir()
    return _recognizer_with(recognizer.name, str(folder), _model_stamp(recognizer.name, folder), detector)


def detector_selector(page: str) -> str:
    """The sidebar "Face detector" selector of a page ("photo" or "live"); returns the chosen name.

    Each page has its own session_state key and default. Streamlit forgets a widget's value when a
    run does not draw it (another page), so the choice is also kept under a plain key and restored.
    """
    key, default = DETECTOR_KEYS[page], default_detector(page)
    names = faces.available_detectors()
    kept = f"_{key}_choice"
    if st.session_state.get(key) not in names:  # first visit, back from another page, or gone
        previous = st.session_state.get(kept)
        st.session_state[key] = previous if previous in names else (default if default in names else names[0])
    choice = st.sidebar.selectbox(
        "Face detector", names, key=key, format_func=lambda n: faces.DETECTORS[n].label,
        help="How faces are found before their emotion is read.\n\n" + "\n\n".join(
            f"**{faces.DETECTORS[n].label}**: {faces.DETECTORS[n].help}" for n in names),
    )
    st.session_state[kept] = choice
    return choice


def selected_recognizer_with_detector(page: str) -> tuple[EmotionRecognizer, str]:
    """The sidebar's model with the page's chosen face detector, and the detector's name.

    When the chosen detector cannot be made, a plain message says so and the page's default
    detector is used instead (if that fails too, the page stops there).
    """
    base = selected_recognizer()
    choice = detector_selector(page)
    try:
        return recognizer_with_detector(base, choice), choice
    except (ValueError, RuntimeError) as exc:
        fallback = default_detector(page)
        if choice == fallback and fallback != "haar":  # the default itself fails: the seed's Haar pass
            fallback = "haar"
        if choice == fallback:
            st.error(f"The face detector cannot be used. {exc}")
            st.stop()
        label = faces.DETECTORS[fallback].label
        st.error(f"The face detector '{faces.DETECTORS[choice].label}' cannot be used. {exc} "
                 f"This page uses '{label}' instead.")
        try:
            return recognizer_with_detector(base, fallback), fallback
        except (ValueError, RuntimeError) as exc2:
            st.error(f"The face detector '{label}' cannot be used either. {exc2}")
            st.stop()


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
        help="The emotion network used on every page. 'default' is the best single network for real "
             "faces, fast enough for live video; 'ensemble' averages three networks trained on FER-2013 only: "
             "the most accurate there, about five times slower; 'compact-v2' is the default before it learnt "
             "from real photos (FER-2013 only); 'compact-v1' the same network trained on a CPU for fewer "
             "epochs; 'seed' the original small CNN; others were trained from this app or the command line.",
    )
    info = registry.read_json(choice, "metrics.json", models_dir()) or {}
    acc = info.get("PrivateTest", {}).get("accuracy")
    if acc is not None:
        st.sidebar.caption(f"Accuracy on FER-2013 PrivateTest: {acc:.1%}")
    lfw = (info.get("photos") or {}).get("lfw_expressions", {}).get("accuracy")
    if lfw is not None:  # real news photos of people it never saw, through the whole pipeline
        st.sidebar.caption(f"On real photos (LFW, held-out people): {lfw:.1%}")
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
