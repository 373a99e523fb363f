"""Following faces from frame to frame, so live video need not search the whole frame every time.

A full-frame detection costs 10–30 ms with Haar; looking again only near the faces found in the
previous frame costs about 1 ms a face. New faces are picked up by a full-frame pass every
``every`` frames (a third of a second at 30 fps by default), and every frame while none is tracked.
"""

from __future__ import annotations

import numpy as np


class FaceTracker:
    """Stateful: one per video stream. ``update(frame, gray)`` returns this frame's face boxes.

    Detectors without ``detect_near`` (BlazeFace, a few ms for the whole frame) simply run on
    every frame. A face not found near its last place is kept for ``max_misses`` frames at its
    last box, so one missed detection does not make its label blink.
    """

    def __init__(self, detector, every: int = 10, max_misses: int = 2):
        self.detector = detector
        self.every = max(1, int(every))
        self.max_misses = max_misses
        self._boxes: list[tuple] = []
        self._misses: list[int] = []
        self._since_full = 0
        self._shape = None

    def reset(self) -> None:
        self._boxes, self._misses, self._since_full = [], [], 0

    def update(self, image: np.ndarray, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        near = getattr(self.detector, "detect_near", None)
        if gray.shape != self._shape:  # a new camera size: the old boxes mean nothing
            self.reset()
            self._shape = gray.shape
        self._since_full += 1
        if near is None or not self._boxes or self._since_full >= self.every:
            self._boxes = list(self.detector.detect(image, gray=gray))
            self._misses = [0] * len(self._boxes)
            self._since_full = 0
            return list(self._boxes)
        boxes, misses = [], []
        for old, miss, new in zip(self._boxes, self._misses, near(gray, self._boxes)):
            if new is not None and any(iou(new, b) > 0.5 for b in boxes):
                continue  # two tracks that slid onto one face: keep one
            if new is not None:
                boxes.append(new)
                misses.append(0)
            elif miss < self.max_misses:
                boxes.append(old)
                misses.append(miss + 1)
        self._boxes, self._misses = boxes, misses
        return list(boxes)


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0
