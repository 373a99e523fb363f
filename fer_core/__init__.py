"""fer_core: find faces in an image and read each one's emotion with a CNN trained on FER-2013.

    from fer_core import EmotionRecognizer, load_image
    rec = EmotionRecognizer.load()
    for face in rec.analyze(load_image("photo.jpg")):
        print(face.box, face.label, f"{face.confidence:.0%}")

Nothing here imports TensorFlow or Streamlit: training lives in fer_core.train, the app in app.py and
app_pages/ (not pages/: see the README's Layout).
"""

from .classifier import ModelError
from .drawing import draw_results
from .emotions import EMOTION_COLORS, EMOTIONS
from .faces import HaarFaceDetector
from .images import ImageError, load_image
from .live import FrameReport, LiveAnalyzer
from .recognizer import MAX_FACES, EmotionRecognizer, FaceList, FaceResult

__all__ = [
    "EMOTIONS", "EMOTION_COLORS", "EmotionRecognizer", "FaceList", "FaceResult", "MAX_FACES", "HaarFaceDetector",
    "FrameReport", "ImageError", "LiveAnalyzer", "ModelError", "draw_results", "load_image",
]
