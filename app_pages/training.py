"""Training & metrics: how each model was trained and how far to trust it; try test images; train a new one."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, photo_figures
from dashboard.privacy import upload_limit_bytes
from dashboard.state import MODEL_KEY, available_models, models_dir, runs_dir, selected_recognizer, training_jobs
from dashboard.training import (ARCHITECTURE_HELP, ARCHITECTURES, ServerDatasets, TrainingJob, save_upload,
                                training_time, validate_name, without_path)
from fer_core import EMOTIONS
from fer_core.data import SPLITS, DataError, load_fer2013
from fer_core.registry import read_json

TEST_SPLITS = ("PublicTest", "PrivateTest")

st.title("Training & metrics")
st.markdown(
    "Each model was trained on the **Training** part of FER-2013, the best epoch was picked on "
    "**PublicTest**, and **PrivateTest** was kept apart for the final score. Accuracy on these 48×48 "
    "faces says how often the top emotion matches the human label; people themselves agree only about "
    "65–70% of the time on this dataset."
)

folder = models_dir()
names = available_models()


# --- 1. One tab per model: curves, confusion matrix, per-emotion table --------------------------

def show_model(name: str) -> None:
    info = read_json(name, "info.json", folder) or {}
    history = read_json(name, "history.json", folder)
    metrics = read_json(name, "metrics.json", folder) or {}

    cfg = info.get("config", {})
    cols = st.columns(5)
    for col, split in zip(cols, TEST_SPLITS):
        acc = metrics.get(split, {}).get("accuracy")
        col.metric(f"{split} accuracy", f"{acc:.1%}" if acc is not None else "—")
    f1 = metrics.get("PrivateTest", {}).get("macro_f1")
    cols[2].metric("PrivateTest macro-F1", f"{f1:.3f}" if f1 is not None else "—",
                   help="The average of the seven emotions' F1 scores: rare emotions count as much as common ones.")
    ece = metrics.get("PrivateTest", {}).get("ece")
    cols[3].metric("Calibration error", f"{ece:.1%}" if ece is not None else "—",
                   help="How far the shown confidence is from the real hit rate (expected calibration error).")
    cols[4].metric("Architecture", cfg.get("architecture", "—"))
    details = []
    if history:
        details.append(f"{len(history.get('epoch', []))} epochs")
    if info.get("best_epoch"):
        details.append(f"best epoch {info['best_epoch']}")
    if info.get("training_seconds"):
        where = f" on {info['trained_on'].split(',')[0]}" if info.get("trained_on") else ""
        details.append(f"{training_time(info['training_seconds'])} of training{where}")
    if cfg.get("batch_size"):
        details.append(f"batch size {cfg['batch_size']}")
    if info.get("train_images"):
        details.append(f"{info['train_images']:,} training images")
    if details:
        st.caption(" · ".join(details))

    st.markdown("**Learning curves**")
    networks = history["members"] if history and history.get("members") else {name: history} if history else {}
    for note in dict.fromkeys(n["note"] for n in networks.values() if isinstance(n, dict) and n.get("note")):
        st.info(note)  # why a series is missing (history.json's own note)
    for network, h in networks.items():
        for note in charts.refusal_notes(h, network):
            st.warning(note)  # an impossible series is not drawn
    if history and history.get("members"):  # an ensemble: one network per member, averaged
        st.caption(f"An ensemble: it averages the probabilities of {len(history['members'])} networks "
                   f"({', '.join(history['members'])}), each trained on its own; their curves:")
        c1, c2 = st.columns(2)
        drawable = [h for h in history["members"].values() if h.get("accuracy") and "accuracy" not in charts.refused_series(h)]
        second = ("accuracy", "Training accuracy") if drawable else ("val_loss", "PublicTest loss")
        for col, (metric, label) in ((c1, ("val_accuracy", "PublicTest accuracy")), (c2, second)):
            col.plotly_chart(charts.compare_curves(history["members"], metric, title=f"{name}'s members: {label}"),
                             key=f"{metric}-{name}", config=charts.STATIC)
    elif history and history.get("epoch"):
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.training_curves(history, "accuracy"), key=f"acc-{name}", config=charts.STATIC)
        c2.plotly_chart(charts.training_curves(history, "loss"), key=f"loss-{name}", config=charts.STATIC)
    else:
        st.info(f"The model '{name}' has no training history (history.json).")

    if not any(s in metrics for s in TEST_SPLITS):
        st.info(f"The model '{name}' has no FER-2013 test figures yet (metrics.json). "
                f"Compute them with `python -m fer_core evaluate {name} --write`.")
        show_photo_figures(name, metrics)
        return
    c1, c2 = st.columns([3, 2])
    with c1:
        st.markdown("**Confusion matrix**")
        o1, o2 = st.columns(2)
        split = o1.radio("Test split", [s for s in TEST_SPLITS if s in metrics], horizontal=True,
                         key=f"cm-split-{name}", label_visibility="collapsed")
        normalized = o2.toggle("Normalize each row", value=True, key=f"cm-norm-{name}",
                               help="Show each true emotion's predictions as percentages of that emotion's faces.")
        st.plotly_chart(charts.confusion_heatmap(metrics[split]["confusion_matrix"], normalize=normalized,
                                                 title=f"{split}: true emotion (rows) vs predicted (columns)"),
                        key=f"cm-{name}-{split}-{normalized}", config=charts.STATIC)
    with c2:
        st.markdown(f"**Per emotion ({split})**")
        per_class = metrics[split].get("per_class", {})
        table = pd.DataFrame(
            [{"emotion": e, **{k: per_class.get(e, {}).get(k) for k in ("precision", "recall", "f1", "support")}}
             for e in EMOTIONS]
        )
        st.dataframe(table, hide_index=True, width="stretch", column_config={
            "precision": st.column_config.NumberColumn(format="percent",
                                                       help="Of the faces given this emotion, how many had it."),
            "recall": st.column_config.NumberColumn(format="percent",
                                                    help="Of the faces with this emotion, how many were found."),
            "f1": st.column_config.NumberColumn("F1", format="%.3f"),
            "support": st.column_config.NumberColumn("faces", format="%d"),
        })
    show_photo_figures(name, metrics)


PHOTOS_NOTE = (
    "Beside FER-2013's 48×48 crops: labelled real photographs read **through the whole pipeline**, as the "
    "app reads a photo: the face detector on the photo (with a border added around these tight crops), the "
    "largest face cropped to 48×48, then the model. Accuracy, macro-F1 and recall are over the photos whose "
    "face was found; *accuracy, all photos* counts a photo without a found face as wrong. LFW is news photos "
    "of people held out by name, SFEW film frames held out by film clip: neither part was trained on or used "
    "for any choice. Produced by `python -m fer_core evaluate --photos PATH --write`.")


def show_photo_figures(name: str, metrics: dict) -> None:
    """The model's real-photo figures: one row per photo set, or how to produce them."""
    st.markdown("**Real photos, through the whole pipeline**")
    photos = metrics.get("photos")
    if not photos:
        st.info(f"The model '{name}' has no real-photo figures yet. Compute them with "
                f"`{photo_figures.HOW_TO.format(name=name)}`.")
        return
    st.caption(PHOTOS_NOTE)
    st.markdown("\n".join(f"- {photo_figures.describe(s, m)}" for s, m in photos.items()))
    st.dataframe(photo_figures.set_table(photos), hide_index=True, width="stretch",
                 column_config=photo_figures.column_config(st))


st.header("Models")
if not names:
    st.warning(f"There is no trained model in `{folder}` yet. Train one below.")
else:
    for tab, name in zip(st.tabs(names), names):
        with tab:
            show_model(name)


# --- 2. All models side by side ----------------------------------------------------------------

all_metrics = {n: read_json(n, "metrics.json", folder) or {} for n in names}
scored = {n: {s: m[s]["accuracy"] for s in TEST_SPLITS if s in m} for n, m in all_metrics.items()
          if any(s in m for s in TEST_SPLITS)}
if scored:
    st.header("Models compared")
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(charts.split_accuracy(scored), key="compare-accuracy", config=charts.STATIC)
    c2.dataframe(
        pd.DataFrame([{"model": n, **{f"{s} accuracy": v.get(s) for s in TEST_SPLITS},
                       "PrivateTest macro-F1": all_metrics[n].get("PrivateTest", {}).get("macro_f1")}
                      for n, v in scored.items()]),
        hide_index=True, width="stretch",
        column_config={f"{s} accuracy": st.column_config.NumberColumn(format="percent") for s in TEST_SPLITS},
    )

photo_set_names = photo_figures.photo_sets(all_metrics)
if photo_set_names:
    st.header("Models compared on real photos")
    st.caption(PHOTOS_NOTE)
    for set_name in photo_set_names:
        table = photo_figures.comparison_table(all_metrics, set_name)
        st.markdown(f"**{set_name}**")
        st.dataframe(table, hide_index=True, width="stretch", column_config=photo_figures.column_config(st))
        st.plotly_chart(charts.photo_recall(
            {r["model"]: {e: r[e] for e in EMOTIONS} for r in table.to_dict("records")},
            title=f"{set_name}: recall per emotion"), key=f"compare-photos-{set_name}", config=charts.STATIC)
    missing = [n for n in names if not all_metrics[n].get("photos")]
    if missing:
        st.caption(f"No real-photo figures for {', '.join(missing)}: `{photo_figures.HOW_TO.format(name='NAME')}`.")

histories = {n: read_json(n, "history.json", folder) for n in names}
histories = {n: h for n, h in histories.items() if h and h.get("epoch")}
if len(histories) > 1:
    st.markdown("**Learning curves side by side** (the epoch kept is the one with the best PublicTest accuracy)")
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.compare_curves(histories, "val_accuracy"), key="compare-val-acc", config=charts.STATIC)
    c2.plotly_chart(charts.compare_curves(histories, "val_loss"), key="compare-val-loss", config=charts.STATIC)


# --- 3. One test image through the selected model ------------------------------------------------

@st.cache_resource(show_spinner="Loading FER-2013…", max_entries=1)
def dataset(path: str):
    return load_fer2013(path)


def pick_random(size: int) -> None:
    st.session_state["test-index"] = int(np.random.default_rng().integers(0, size))


st.header("Try a test image")
data_path = os.environ.get("FER2013_PATH", "")
if not data_path:
    st.info("Set the environment variable FER2013_PATH to fer2013.csv, fer2013.npz or the Kaggle folder "
            "to browse the test images here.")
else:
    try:
        data = dataset(data_path)
    except DataError as exc:
        data = None
        reason = without_path(str(exc), data_path, Path(data_path).name)  # its name, not its path on the server
        st.warning(f"The dataset at FER2013_PATH cannot be read: {reason}")
    if data is not None:
        recognizer = selected_recognizer(required=False)
        c1, c2 = st.columns([1, 2])
        with c1:
            present = [s for s in TEST_SPLITS if (data.usage == SPLITS.index(s)).any()] or ["Training"]
            split = st.selectbox("Split", present, key="test-split")
            emotion = st.selectbox("True emotion", ["any", *EMOTIONS], key="test-emotion")
            images, labels = data.split(split)
            if emotion != "any":
                keep = labels == EMOTIONS.index(emotion)
                images, labels = images[keep], labels[keep]
            if len(images) == 0:
                st.info("No test image has this emotion.")
            else:
                if st.session_state.get("test-index", 0) >= len(images):
                    st.session_state["test-index"] = 0
                index = st.number_input(f"Image (0–{len(images) - 1})", 0, len(images) - 1, key="test-index")
                st.button("Random image", on_click=pick_random, args=(len(images),))
                face = images[int(index)]
                st.image(np.kron(face, np.ones((4, 4), np.uint8)), caption=f"True emotion: {EMOTIONS[labels[int(index)]]}",
                         width=192)
        with c2:
            if len(images) and recognizer is not None:
                probs = recognizer.classify(face[None])[0]
                pred = EMOTIONS[int(np.argmax(probs))]
                truth = EMOTIONS[labels[int(index)]]
                verdict = "correct" if pred == truth else f"the label says {truth}"
                st.markdown(f"**{st.session_state.get(MODEL_KEY)}** reads **{pred}** "
                            f"({float(np.max(probs)):.0%}): {verdict}.")
                st.plotly_chart(charts.probability_bars(probs), key="test-bars", config=charts.STATIC)


# --- 4. Train a model ----------------------------------------------------------------------------

jobs = training_jobs()


def show_job(job: TrainingJob, live: bool) -> None:
    state, message = job.state()
    message = job.public(message)  # a failure names the data by its name, never its path on the server
    if live and state != "running":
        st.rerun()  # the run ended: redraw the whole app so the new model shows in the selector
    st.subheader(f"Training '{job.name}'")
    done = job.epochs_done()
    if state == "running":
        st.progress(min(1.0, done / job.epochs), text=f"{job.phase()} ({done}/{job.epochs} epochs)")
        if st.button("Cancel training", key="train-cancel", type="secondary"):
            job.cancel()
            st.rerun()
    elif state == "succeeded":
        st.progress(1.0, text=f"Done: {job.epochs} of {job.epochs} epochs")
        st.success(message)
    elif state == "cancelled":
        st.warning(message)
    else:
        st.error(message)
    history = job.history()
    if history:
        for note in charts.refusal_notes(history, job.name):
            st.warning(note)
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.training_curves(history, "accuracy", height=260), key=f"job-acc-{job.name}-{done}",
                        config=charts.STATIC)
        c2.plotly_chart(charts.training_curves(history, "loss", height=260), key=f"job-loss-{job.name}-{done}",
                        config=charts.STATIC)
    with st.expander("Training log"):
        st.code("\n".join(job.public(job.stdout()).splitlines()[-30:]) or "(nothing yet)", language=None)


@st.fragment(run_every=2)
def live_job(job: TrainingJob) -> None:
    """Redrawn every 2 seconds while the run goes on: progress, curves, log."""
    show_job(job, live=True)

st.header("Train a model")
running = jobs.running()
with st.form("train-form"):
    st.markdown("Train a new emotion model in the background. It appears in the sidebar's model "
                "selector when it is done. A short run (a few epochs of **seed**) takes minutes; "
                "**compact_vgg** takes much longer on a CPU.")
    limit_mb = upload_limit_bytes() // (1024 * 1024)
    datasets = ServerDatasets()  # offered by name: a visitor never types (or sees) a path on the server
    choice = None
    if datasets.names():
        choice = st.selectbox("Dataset on this server", datasets.names(), key="train-data",
                              help="FER-2013 data kept on the machine that runs this app (read there, not uploaded: "
                                   "any size): the file $FER2013_PATH names and the fer2013.csv / fer2013.npz files "
                                   "and Kaggle folders in the data folder $FER_DATA_DIR, as the app was started.")
    else:
        st.caption("This server offers no dataset: upload a CSV below. (To offer one, start the app with "
                   "FER2013_PATH naming it, or FER_DATA_DIR naming a folder of them.)")
    upload = st.file_uploader(f"…or upload a CSV in the fer2013.csv format (emotion,pixels,Usage), up to {limit_mb} MB",
                              type=["csv"], key="train-upload",
                              help=f"Uploads are limited to {limit_mb} MB. The full fer2013.csv (about 290 MB) is "
                                   "larger: the server's operator puts it in the data folder ($FER_DATA_DIR) or "
                                   "starts the app with FER2013_PATH naming it, and it is offered above.")
    st.caption(f"Uploads are limited to {limit_mb} MB: train on the full FER-2013 (fer2013.csv is about 290 MB) "
               "from the server's own copy, picked above.")
    c1, c2, c3 = st.columns(3)
    architecture = c1.selectbox("Architecture", list(ARCHITECTURES), format_func=ARCHITECTURES.get,
                                key="train-arch", help=ARCHITECTURE_HELP)
    epochs = c2.number_input("Epochs", min_value=1, max_value=200, value=10, key="train-epochs")
    batch_size = c3.selectbox("Batch size", [16, 32, 64, 128, 256], index=2, key="train-batch")
    name = st.text_input("Name of the new model (letters, digits, - and _)", key="train-name",
                         placeholder="e.g. my_model_1")
    submitted = st.form_submit_button("Start training", type="primary", disabled=running is not None)

if submitted:
    problem = validate_name(name, folder, runs_dir())
    data_source, data_name, temp = None, "", None
    if problem is None:
        if upload is not None:
            temp = save_upload(upload.getvalue())
            data_source, data_name = str(temp), upload.name or "the uploaded CSV"
        elif choice:
            try:
                data_source, data_name = str(datasets.path(choice)), choice
            except ValueError as exc:  # a crafted value: only the listed names are read
                problem = str(exc)
        else:
            problem = "Pick a dataset on this server or upload a CSV."
    if problem:
        st.error(problem)
    else:
        job = TrainingJob(name=name.strip(), architecture=architecture, epochs=int(epochs),
                          batch_size=int(batch_size), data_path=data_source, models_dir=folder,
                          runs_dir=runs_dir(), uploaded_file=temp, data_name=data_name)
        try:
            jobs.start(job)
        except (RuntimeError, OSError) as exc:
            if temp is not None:
                temp.unlink(missing_ok=True)
            st.error(f"Training could not start: {exc}")

current = jobs.current()
if current is not None:
    if current.running:
        live_job(current)
    else:
        show_job(current, live=False)
