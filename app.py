"""The emotion dashboard: `streamlit run app.py`.

Pages live in app_pages/ (deliberately not pages/: a folder named pages/ next to app.py switches
Streamlit to its old multipage mode for a fresh session's first request, which skips this file and
with it the model selector); the shared recognizer, the selector and the charts are in dashboard/.
This process never imports TensorFlow (it would crash next to streamlit-webrtc): training runs
in a subprocess.
"""

import streamlit as st

from dashboard.logs import show_pipeline_warnings
from dashboard.privacy import keep_uploads_in_memory
from dashboard.state import model_selector
from dashboard.webrtc_tuning import install_webrtc_tunings

st.set_page_config(page_title="Emotion recognition", page_icon="🙂", layout="wide")
show_pipeline_warnings()  # a stream that fails says why in the server's console
keep_uploads_in_memory()  # photos never touch the disk, not even as the web server's temporary file
install_webrtc_tunings()  # once per process, before any stream (later runs return the same result)

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/photo.py", title="Analyze a photo", icon=":material/photo_camera:", url_path="photo"),
    st.Page("app_pages/live.py", title="Live camera", icon=":material/videocam:", url_path="live"),
    st.Page("app_pages/video.py", title="Analyze a video", icon=":material/movie:", url_path="video"),
    st.Page("app_pages/training.py", title="Training & metrics", icon=":material/monitoring:", url_path="training"),
]

page = st.navigation(PAGES)
model_selector()  # in the sidebar of every page; its choice applies everywhere
page.run()
