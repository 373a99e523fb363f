"""The seven FER-2013 emotions, in the dataset's label order, and one colour each."""

EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")

# One fixed colour per emotion (hex, RGB) so every chart and overlay agrees.
EMOTION_COLORS = {
    "Angry": "#d62728",
    "Disgust": "#8c564b",
    "Fear": "#9467bd",
    "Happy": "#f5b700",
    "Sad": "#1f77b4",
    "Surprise": "#ff7f0e",
    "Neutral": "#7f7f7f",
}


def color_bgr(emotion: str) -> tuple[int, int, int]:
    """The emotion's colour as an OpenCV BGR tuple."""
    h = EMOTION_COLORS[emotion].lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)
