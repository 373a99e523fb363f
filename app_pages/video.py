"""Analyze a video: upload a recording; follow each face through it and see its emotions over time.

The upload stays in memory (Streamlit's UploadedFile; dashboard/privacy.py keeps even the web
server's parser from spooling it to disk) and so does the annotated copy: nothing is written to
disk. The analysis runs in this script run, frame by frame; Cancel reruns the page, which stops it.
"""

import logging
from pathlib import PurePath

import streamlit as st

from dashboard import charts
from dashboard.privacy import upload_limit_bytes
from dashboard.state import MODEL_KEY, selected_recognizer_with_detector
from dashboard.video import NO_FACE_TIPS, VIDEO_TYPES, VideoAnalysis, analyze_upload, timeline
from fer_core import EMOTIONS
from fer_core.video import VideoError

log = logging.getLogger(__name__)

RESULT_KEY = "_video_analysis"  # (key, VideoAnalysis) of the last analysis in this session
CANCELLED_KEY = "_video_cancelled"  # the key of an analysis the person cancelled

st.title("Analyze a video")
recognizer, detector = selected_recognizer_with_detector("video")  # the sidebar's model and detector
every = st.sidebar.number_input(
    "Analyse every n-th frame", min_value=1, max_value=30, value=1, step=1, key="video_every",
    help="1 analyses every frame. 2 or 3 halve or third the time on long videos; the annotated video "
         "keeps every frame, each showing the last analysed frame's faces.")

limit_mb = upload_limit_bytes() // (1024 * 1024)
uploaded = st.file_uploader(
    f"Choose a video (MP4, WebM, MOV, AVI or MKV; up to {limit_mb} MB)", type=VIDEO_TYPES, key="video_upload",
    help="The video is analysed in memory on this machine and never stored.")


def _cancel(key) -> None:
    st.session_state[CANCELLED_KEY] = key


def _analyse_again() -> None:
    st.session_state.pop(CANCELLED_KEY, None)


def run(data: bytes, name: str, key) -> VideoAnalysis | None:
    """Analyse with a progress bar and a Cancel button; None (after a message) when it cannot be read."""
    bar = st.progress(0.0, text=f"Analysing {name}…")
    cancel = st.empty()
    cancel.button("Cancel", key="video_cancel", on_click=_cancel, args=(key,))

    def progress(r) -> None:
        if r.progress is not None:
            bar.progress(r.progress, text=f"Analysing {name}: frame {r.done} of {r.total}")
        else:
            bar.progress(0.0, text=f"Analysing {name}: frame {r.done} ({r.time_s:.1f} s)")

    try:
        result = analyze_upload(recognizer, data, name, every=int(every), progress=progress)
    except VideoError as exc:
        bar.empty()
        st.error(str(exc))
        return None
    except Exception:  # never a traceback for the person using the page
        log.exception("video analysis failed")  # the exception only, never the video
        bar.empty()
        st.error(f"Something went wrong while analysing {name}. Please try another video.")
        return None
    finally:
        cancel.empty()
    bar.progress(1.0, text=f"Analysed {result.analysed} frames of {name} in {result.seconds:.1f} s")
    return result


def show(result: VideoAnalysis, stem: str) -> None:
    if result.warning:
        st.warning(result.warning)
    ids = result.face_ids()
    n = len(ids)
    k = result.every
    nth = f"{k}{'th' if 10 <= k % 100 < 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"
    which = "every frame" if k == 1 else f"every {nth} frame"
    summary = result.summary()
    if not n:
        st.warning(NO_FACE_TIPS)
    else:
        moods = ", ".join(f"#{r['face']} mostly {r['dominant emotion']}" for _, r in summary.head(6).iterrows())
        st.success(f"{result.name}: {result.duration_s:.1f} s, {result.frames} frames ({which} analysed); "
                   f"{n} face{'s' if n != 1 else ''}: {moods}{' …' if n > 6 else ''}")

    left, right = st.columns([3, 2])
    with left:
        st.video(result.annotated, format="video/mp4")
        d1, d2 = st.columns(2)
        d1.download_button("Download annotated video (MP4)", result.annotated, f"{stem}-emotions.mp4", "video/mp4",
                           key="video-mp4", on_click="ignore", width="stretch")
        d2.download_button("Download results (CSV)", result.csv_bytes(), f"{stem}-emotions.csv", "text/csv",
                           key="video-csv", on_click="ignore", width="stretch")
    if not n:
        return
    face = ids[0]
    with right:
        if n > 1:
            seconds = dict(zip(summary["face"], summary["seconds in view"]))
            face = st.selectbox("Face", ids, key="video_face",
                                format_func=lambda i: f"Face #{i} ({seconds[i]:.1f} s in view)")
        row = summary[summary["face"] == face].iloc[0]
        st.plotly_chart(charts.probability_bars(row[list(EMOTIONS)].to_numpy(float),
                                                title=f"Face #{face}: share of its time in each emotion"),
                        key="video-share", config=charts.STATIC)
        st.caption(f"Face #{face} is in view from {row['first seen (s)']:.1f} s to {row['last seen (s)']:.1f} s; "
                   f"it shows {row['dominant emotion']} most.")
    st.plotly_chart(timeline(result.rows, face), key="video-timeline", config=charts.STATIC)

    st.subheader("Summary per face")
    st.caption("Share of each face's time in view spent in each emotion (its label, after smoothing), "
               "and the emotion it showed most.")
    st.dataframe(summary, hide_index=True, width="stretch", column_config={
        "face": st.column_config.NumberColumn("face", format="#%d"),
        **{e: st.column_config.ProgressColumn(e, format="percent", min_value=0.0, max_value=1.0) for e in EMOTIONS},
    })


if uploaded is None:
    st.caption(f"Videos up to {limit_mb} MB. The file and the annotated copy stay in this server's memory, are "
               "never written to disk, and are forgotten when you upload another video or close the page. "
               "For longer recordings use the command line: `python -m fer_core predict clip.mp4 --csv out.csv`.")
else:
    name = uploaded.name or "video"
    # Each upload has its own file_id (a new one even for the same file uploaded again): with its size it
    # names the upload without reading its bytes, so a rerun (another face picked) costs nothing.
    key = ((uploaded.file_id, uploaded.size), st.session_state.get(MODEL_KEY), detector, int(every))
    kept = st.session_state.get(RESULT_KEY)
    if kept and kept[0] == key:
        show(kept[1], PurePath(name).stem or "video")
    elif st.session_state.get(CANCELLED_KEY) == key:
        st.info(f"The analysis of {name} was cancelled.")
        st.button("Analyse again", key="video_again", on_click=_analyse_again)
    else:
        st.session_state.pop(RESULT_KEY, None)  # one video's results at a time: memory stays bounded
        result = run(uploaded.getvalue(), name, key)
        if result is not None:
            st.session_state[RESULT_KEY] = (key, result)
            show(result, PurePath(name).stem or "video")
