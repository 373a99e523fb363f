"""Live video: analyze frame after frame, steady the labels, and never let one bad frame stop the stream."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .drawing import draw_results
from .preprocess import to_gray
from .recognizer import EmotionRecognizer, FaceResult
from .tracking import FaceTracker, iou

log = logging.getLogger(__name__)


@dataclass
class FrameReport:
    """What one processed frame sends to the page (through a queue)."""

    time: float  # time.time() when the frame was processed
    faces: list[FaceResult] = field(default_factory=list)
    fps: float = 0.0  # frames processed per second, over the last ~2 seconds
    ms: float = 0.0  # processing time of this frame
    error: str | None = None

    @property
    def main_face(self) -> FaceResult | None:
        """The largest face: the one the page describes."""
        return max(self.faces, key=lambda f: f.box[2] * f.box[3], default=None)


class LiveAnalyzer:
    """Per-stream state: smoothing of each face's probabilities across frames and the frame rate.

    ``smoothing`` is the number of recent frames averaged per face (1 = none). Faces are matched
    frame to frame by the overlap of their boxes.

    Faces are followed between detections (fer_core.tracking): the recognizer's detector searches
    the whole frame every ``track_every`` frames and only near the known faces in between, which
    is what lets Haar keep up with a 30 fps camera. ``track_every=1`` searches every frame.
    """

    def __init__(self, recognizer: EmotionRecognizer, smoothing: int = 5, track_every: int = 10):
        self.recognizer = recognizer
        self.smoothing = max(1, int(smoothing))
        self.tracker = FaceTracker(recognizer.detector, every=track_every)
        self._tracks: list[tuple[tuple, deque]] = []
        self._times: deque = deque(maxlen=60)

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, FrameReport]:
        """Annotated frame and report. On any error the frame comes back untouched."""
        t0 = time.perf_counter()
        try:
            faces = self._smooth(self._analyze(frame_bgr))
            out = draw_results(frame_bgr, faces)
            error = None
        except Exception as exc:  # one bad frame must not end the stream
            log.exception("frame analysis failed")
            self.tracker.reset()  # start afresh: the next frame may be a different size
            faces, out, error = [], frame_bgr, f"This frame could not be analysed: {exc}"
        now = time.time()
        self._times.append(now)
        recent = [t for t in self._times if now - t <= 2.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        return out, FrameReport(now, faces, fps, (time.perf_counter() - t0) * 1000, error)

    def _analyze(self, frame_bgr: np.ndarray) -> list[FaceResult]:
        """EmotionRecognizer.analyze, with the tracker finding the faces."""
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.dtype != np.uint8 or frame_bgr.ndim not in (2, 3):
            raise ValueError("a video frame must be an 8-bit image")
        gray = to_gray(frame_bgr)
        return self.recognizer.read_faces(gray, self.tracker.update(frame_bgr, gray))

    def _smooth(self, faces: list[FaceResult]) -> list[FaceResult]:
        if self.smoothing == 1:
            self._tracks = []
            return faces
        tracks, out = [], []
        for face in faces:
            history = self._match(face.box) or deque(maxlen=self.smoothing)
            history.append(face.probabilities)
            tracks.append((face.box, history))
            out.append(FaceResult(face.box, np.mean(history, axis=0)))
        self._tracks = tracks
        return out

    def _match(self, box) -> deque | None:
        best, best_iou = None, 0.3
        for i, (old, history) in enumerate(self._tracks):
            overlap = iou(box, old)
            if overlap > best_iou:
                best, best_iou = i, overlap
        return self._tracks.pop(best)[1] if best is not None else None

