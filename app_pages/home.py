import streamlit as st

st.title("Facial emotion recognition")
st.markdown(
    "This app finds the faces in a photo, a recorded video or your live camera and reads the emotion on each one "
    "(angry, disgust, fear, happy, sad, surprise or neutral) with a neural network trained on FER-2013.  \n"
    "Everything runs on this machine: your photos, videos and camera images never leave it and are never saved."
)

c1, c2, c3, c4 = st.columns(4)
with c1:
    st.page_link("app_pages/photo.py", label="Analyze a photo", icon=":material/photo_camera:")
    st.caption("Upload a picture or take one with your camera.")
with c2:
    st.page_link("app_pages/live.py", label="Live camera", icon=":material/videocam:")
    st.caption("Watch the emotion read live, frame by frame.")
with c3:
    st.page_link("app_pages/video.py", label="Analyze a video", icon=":material/movie:")
    st.caption("Upload a recording: each face's emotions over time.")
with c4:
    st.page_link("app_pages/training.py", label="Training & metrics", icon=":material/monitoring:")
    st.caption("See how each model was trained, how far to trust it, or train a new one.")
