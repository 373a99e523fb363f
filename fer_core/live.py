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


@dataclass
class TrackedFace(FaceResult):
    """A face of a video frame with the id of the track it belongs to: the same person keeps the
    same id while they stay in view (ids count up from 1 per stream; a new face gets a new one)."""

    face_id: int = 0


class LiveAnalyzer:
    """Per-stream state: smoothing of each face's probabilities across frames and the frame rate.

    ``smoothing`` is the number of recent frames averaged per face (1 = none). Faces are matched
    frame to frame by the overlap of their boxes; each match keeps its track's ``face_id``. A face
    that is not matched is forgotten at once, or after ``keep_lost`` more frames without it (a
    recorded video keeps ids steady through a missed detection or two).

    Faces are followed between detections (fer_core.tracking): the recognizer's detector searches
    the whole frame every ``track_every`` frames and only near the known faces in between, which
    is what lets Haar keep up with a 30 fps camera. ``track_every=1`` searches every frame.
    """

    def __init__(self, recognizer: EmotionRecognizer, smoothing: int = 5, track_every: int = 10,
                 keep_lost: int = 0):
        self.recognizer = recognizer
        self.smoothing = max(1, int(smoothing))
        self.keep_lost = max(0, int(keep_lost))
        self.tracker = FaceTracker(recognizer.detector, every=track_every)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._times: deque = deque(maxlen=60)

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, FrameReport]:
        """Annotated frame and report. On any error the frame comes back untouched."""
        t0 = time.perf_counter()
        try:
            faces = self.analyze(frame_bgr)
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

    def analyze(self, frame_bgr: np.ndarray) -> list[TrackedFace]:
        """This frame's faces, each with its track's id and smoothed probabilities (raises on a bad frame)."""
        return self._smooth(self._analyze(frame_bgr))

    def _analyze(self, frame_bgr: np.ndarray) -> list[FaceResult]:
        """EmotionRecognizer.analyze, with the tracker finding the faces."""
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.dtype != np.uint8 or frame_bgr.ndim not in (2, 3):
            raise ValueError("a video frame must be an 8-bit image")
        gray = to_gray(frame_bgr)
        return self.recognizer.read_faces(gray, self.tracker.update(frame_bgr, gray))

    def _smooth(self, faces: list[FaceResult]) -> list[TrackedFace]:
        tracks, out = [], []
        for face in faces:
            track = self._match(face.box)
            if track is None:
                track = _Track(self._next_id, face.box, deque(maxlen=self.smoothing))
                self._next_id += 1
            track.box, track.lost = face.box, 0
            track.history.append(face.probabilities)
            tracks.append(track)
            probs = face.probabilities if self.smoothing == 1 else np.mean(track.history, axis=0)
            out.append(TrackedFace(face.box, probs, face_id=track.id))
        for track in self._tracks:  # not seen in this frame
            track.lost += 1
            if track.lost <= self.keep_lost:
                tracks.append(track)
        self._tracks = tracks
        return out

    def _match(self, box) -> "_Track | None":
        best, best_iou = None, 0.3
        for i, track in enumerate(self._tracks):
            overlap = iou(box, track.box)
            if overlap > best_iou:
                best, best_iou = i, overlap
        return self._tracks.pop(best) if best is not None else None


@dataclass
class _Track:
    id: int
    box: tuple
    history: deque
    lost: int = 0  # frames in a row without this face
