"""Analyze a photo: upload one or take one; see each face's emotion, its probabilities, and download it all.

Uploads stay in memory (Streamlit's UploadedFile); nothing is written to disk or to the logs.
"""

import hashlib
import logging
from pathlib import PurePath

import streamlit as st

from dashboard import charts
from dashboard.photo import MAX_CHARTS, NO_FACE_TIPS, PhotoAnalysis, analyze_photo
from dashboard.state import MODEL_KEY, selected_recognizer_with_detector
from fer_core import EMOTIONS, ImageError
from fer_core.blazeface import INSTALL_HINT as BLAZEFACE_INSTALL
from fer_core.faces import DETECTORS, default_still_detector
from fer_core.recognizer import MAX_FACES

log = logging.getLogger(__name__)

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]

st.title("Analyze a photo")
recognizer, detector = selected_recognizer_with_detector("photo")  # the sidebar's model and detector
if detector == default_still_detector():
    why = "the most accurate face detector installed here for photos"
    if detector != "blazeface":
        why += f" (BlazeFace would be better: `{BLAZEFACE_INSTALL}`)"
else:
    why = f"chosen in the sidebar; the most accurate one installed here is {DETECTORS[default_still_detector()].label}"
st.caption(f"Faces are found with **{DETECTORS[detector].label}**: {why}.")


def analysis_for(data: bytes, source: str) -> PhotoAnalysis:
    """The analysis of these bytes with the selected model and detector, kept in this session only
    (reruns such as a click on a download button do not analyse the photo again)."""
    key = (hashlib.sha256(data).hexdigest(), st.session_state.get(MODEL_KEY), detector)
    slot = f"_photo_analysis_{source}"  # one per source: the upload and the camera shot
    cached = st.session_state.get(slot)
    if cached and cached[0] == key:
        return cached[1]
    result = analyze_photo(recognizer, data)
    st.session_state[slot] = (key, result)
    return result


def show_results(data: bytes, source: str, stem: str, file_name: str) -> None:
    try:
        with st.spinner("Looking for faces…"):
            result = analysis_for(data, source)
    except ImageError as exc:
        st.error(str(exc))
        return
    except Exception:  # never a traceback for the person using the page
        log.exception("photo analysis failed")  # the exception only, never the image
        st.error("Something went wrong while analysing this photo. Please try another photo.")
        return

    faces = result.faces
    if not faces:
        st.image(result.image, channels="BGR", caption="No face found", width="stretch")
        st.warning(NO_FACE_TIPS)
        return

    n = len(faces)
    summary = ", ".join(f"#{i} {f.label} ({f.confidence:.0%})" for i, f in enumerate(faces[:6], start=1))
    st.success(f"Found {n} face{'s' if n != 1 else ''}: {summary}{' …' if n > 6 else ''}")
    if result.capped:
        st.info(f"This photo holds {result.found} faces; only the {MAX_FACES} largest are analysed and listed.")

    def bars(i: int, face) -> None:
        st.plotly_chart(
            charts.probability_bars(face.probabilities, title=f"Face #{i}: {face.label} {face.confidence:.0%}"),
            key=f"{source}-bars-{i}", config=charts.STATIC,
        )

    # The photo on the left; one or two faces' charts beside it, more in a grid below the table.
    left, right = st.columns([3, 2])
    with left:
        st.image(result.annotated, channels="BGR", caption="Faces found, with emotion and confidence",
                 width="stretch")
        d1, d2 = st.columns(2)
        d1.download_button("Download annotated image (PNG)", result.png_bytes(), f"{stem}-emotions.png",
                           "image/png", key=f"{source}-png", on_click="ignore", width="stretch")
        d2.download_button("Download results (CSV)", result.csv_bytes(file_name), f"{stem}-emotions.csv",
                           "text/csv", key=f"{source}-csv", on_click="ignore", width="stretch")
    beside = n <= 2
    if beside:
        with right:
            st.subheader("Probabilities")
            for i, face in enumerate(faces, start=1):
                bars(i, face)

    st.subheader("Faces")
    st.dataframe(
        result.table(), hide_index=True, width="stretch",
        column_config={
            "face": st.column_config.NumberColumn("face", format="#%d"),
            "confidence": st.column_config.ProgressColumn("confidence", format="percent", min_value=0.0,
                                                          max_value=1.0),
            **{e: st.column_config.NumberColumn(e, format="percent") for e in EMOTIONS},
        },
    )

    if not beside:
        st.subheader("Probabilities per face")
        shown = faces[:MAX_CHARTS]
        if n > MAX_CHARTS:
            st.caption(f"Charts for the first {MAX_CHARTS} faces; the table above lists all {n}.")
        for row_start in range(0, len(shown), 3):
            for col, (i, face) in zip(st.columns(3), enumerate(shown[row_start:row_start + 3], start=row_start + 1)):
                with col:
                    bars(i, face)


upload_tab, camera_tab = st.tabs(["Upload a photo", "Take a photo"])
with upload_tab:
    uploaded = st.file_uploader(
        "Choose a photo (JPEG, PNG, WebP, BMP, GIF or TIFF)", type=PHOTO_TYPES, key="photo_upload",
        help="The photo is analysed in memory on this machine and never stored.",
    )
    if uploaded is not None:
        show_results(uploaded.getvalue(), "upload", PurePath(uploaded.name).stem or "photo", uploaded.name)
    else:
        st.caption("Faces seen from the front, well lit, work best. The image never leaves this machine.")
with camera_tab:
    shot = st.camera_input("Take a photo with your camera", key="photo_camera")
    if shot is not None:
        show_results(shot.getvalue(), "camera", "camera-photo", "camera-photo.jpg")
