"""Streamlit-side helpers of the dashboard: the shared recognizer, the model selector, the charts,
the live-stream plumbing and the background training jobs. Nothing in fer_core imports this.

Never import TensorFlow here: streamlit-webrtc (aiortc) and TensorFlow in one process segfault.
"""
