"""Finding faces: OpenCV's Haar cascade (the seed's detector), one cascade per thread."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .preprocess import to_gray

CASCADE_FILE = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


class HaarFaceDetector:
    """Returns face boxes (x, y, w, h) in the coordinates of the image it was given.

    Detection runs on a copy scaled down to at most ``max_side`` pixels and the boxes are mapped
    back: Haar's cost grows with the pixel count, and faces in photos and webcam frames are
    large enough to survive the downscale. ``min_size`` is a fraction of the shorter side of the
    working copy; faces smaller than that are ignored.
    """

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, max_side: int | None = 640,
                 min_face: int = 24):
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self.min_face = min_face
        self._local = threading.local()  # CascadeClassifier is not safe to share between threads

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(CASCADE_FILE)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's face model is missing ({CASCADE_FILE}); reinstall opencv-python-headless<5.")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: np.ndarray, gray: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
        gray = to_gray(image) if gray is None else gray
        h, w = gray.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if min(gray.shape[:2]) < self.min_face:
            return []
        boxes = self._cascade().detectMultiScale(
            cv2.equalizeHist(gray), scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        out = [tuple(int(round(v / scale)) for v in b) for b in (boxes if len(boxes) else [])]
        return sorted(out, key=lambda b: (b[0], b[1]))
