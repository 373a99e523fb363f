"""Finding faces: OpenCV's Haar cascade (the seed's detector), BlazeFace, and the list the app offers.

    from fer_core.faces import DETECTORS, make_detector, available_detectors, default_still_detector
    detector = make_detector("haar-fast")          # or "haar", "blazeface"; default_still_detector() for photos
    rec = EmotionRecognizer.load(detector=detector)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .preprocess import to_gray
from .tracking import iou

CASCADE_FILE = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"


class HaarFaceDetector:
    """Returns face boxes (x, y, w, h) in the coordinates of the image it was given.

    Detection runs on a copy scaled down to at most ``max_side`` pixels and the boxes are mapped
    back: Haar's cost grows with the pixel count and with the number of window sizes tried
    (fewer when ``scale_factor`` is larger), and faces in photos and webcam frames are large
    enough to survive the downscale. ``min_face`` is the smallest face searched for, in pixels
    of that working copy (the cascade's own window is 24 px).

    ``second_look``: a coarse pass (small copy, large size steps) finds most faces, and near-misses
    as well: windows the cascade accepted too few times to make a detection. Each such spot gets a
    second look at full resolution, at fine size steps and with a stricter vote (SECOND_LOOK_*),
    as the tracker looks near a known face. That costs about a millisecond a spot (about one spot
    a frame) and finds most of the faces the coarse pass alone misses (benchmarks/bench_detection.py).
    """

    # The second look: the spot is searched with SECOND_LOOK_MARGIN face widths around it, scaled so the
    # face is SECOND_LOOK_FACE px wide, at sizes within +-35%, and needs SECOND_LOOK_NEIGHBORS votes.
    SECOND_LOOK_MARGIN = 0.5
    SECOND_LOOK_FACE = 48
    SECOND_LOOK_NEIGHBORS = 4

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, max_side: int | None = 640,
                 min_face: int = 24, second_look: bool = False):
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side
        self.min_face = max(24, int(min_face))
        self.second_look = second_look
        self._local = threading.local()  # CascadeClassifier is not safe to share between threads

    def __repr__(self) -> str:
        extra = ", second_look=True" if self.second_look else ""
        return (f"HaarFaceDetector(scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors}, "
                f"max_side={self.max_side}, min_face={self.min_face}{extra})")

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(CASCADE_FILE)
            if cascade.empty():
                raise RuntimeError(f"OpenCV's face model is missing ({CASCADE_FILE}); reinstall opencv-python-headless<5.")
            self._local.cascade = cascade
        return cascade

    def detect(self, image: np.ndarray, gray: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
        gray = gray_full = to_gray(image) if gray is None else gray
        h, w = gray.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        if min(gray.shape[:2]) < self.min_face:
            return []
        work = cv2.equalizeHist(gray)
        if not self.second_look:
            boxes = self._cascade().detectMultiScale(
                work, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_face, self.min_face),
            )
            out = [_scaled(b, scale) for b in (boxes if len(boxes) else [])]
            return sorted(out, key=lambda b: (b[0], b[1]))
        # Every window the cascade accepts; grouped as detectMultiScale groups them (same eps), the
        # groups with enough votes are the detections, the rest are spots for a second look.
        raw = self._cascade().detectMultiScale(
            work, scaleFactor=self.scale_factor, minNeighbors=0, minSize=(self.min_face, self.min_face))
        raw = [list(map(int, r)) for r in (raw if len(raw) else [])]
        faces = [_scaled(b, scale) for b in _group(raw, self.min_neighbors, 0.2)]
        spots = [_scaled(b, scale) for b in _group(raw + raw, 1, 0.5)]  # every window, merged with its neighbours
        for spot in [s for s in spots if all(iou(s, f) < 0.3 for f in faces)]:  # not a face found already
            faces += self._search_near(gray_full, spot, self.SECOND_LOOK_MARGIN, self.SECOND_LOOK_FACE,
                                       self.SECOND_LOOK_NEIGHBORS)
        kept: list[tuple[int, int, int, int]] = []
        for f in sorted(faces, key=lambda b: -b[2]):  # one box a face: the larger of two that overlap
            if all(iou(f, k) <= 0.3 for k in kept):
                kept.append(f)
        return sorted(kept, key=lambda b: (b[0], b[1]))

    def _search_near(self, gray: np.ndarray, box, margin: float, work_face: int, min_neighbors: int) -> list:
        """Faces in a window of ``margin`` face widths around ``box``, scaled so the face is about
        ``work_face`` px wide, at sizes within ±35% of the box, in image coordinates."""
        x, y, w, h = box
        h_img, w_img = gray.shape[:2]
        pad = int(margin * max(w, h))
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(w_img, x + w + pad), min(h_img, y + h + pad)
        s = work_face / max(w, h, 1)
        roi = gray[y0:y1, x0:x1]
        if min(roi.shape[:2]) * s < 24:
            return []
        roi = cv2.resize(roi, (max(1, round(roi.shape[1] * s)), max(1, round(roi.shape[0] * s))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        small, big = max(24, round(work_face / 1.35)), round(work_face * 1.35)
        hits = self._cascade().detectMultiScale(
            cv2.equalizeHist(roi), scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(small, small),
            maxSize=(big, big))
        return [(int(round(bx / s)) + x0, int(round(by / s)) + y0, int(round(bw / s)), int(round(bh / s)))
                for bx, by, bw, bh in (hits if len(hits) else [])]

    def detect_near(self, gray: np.ndarray, boxes, margin: float = 0.5, work_face: int = 40) -> list:
        """For each box, the face found near it in this frame, or None: the tracker's cheap step.

        Only a window of ``margin`` face widths around the last box is searched, scaled so the face
        is about ``work_face`` px wide, and only face sizes within ±35% of the last one are tried:
        a few hundred windows instead of the whole frame's hundreds of thousands.
        """
        found = []
        for x, y, w, h in boxes:
            hits = self._search_near(gray, (x, y, w, h), margin, work_face, 3)
            # The hit whose centre is closest to where the face was: faces move little in 1/30 s.
            cx, cy = x + w / 2, y + h / 2
            found.append(min(hits, key=lambda b: (b[0] + b[2] / 2 - cx) ** 2 + (b[1] + b[3] / 2 - cy) ** 2,
                             default=None))
        return found


def _scaled(box, scale: float) -> tuple[int, int, int, int]:
    return tuple(int(round(v / scale)) for v in box)


def _group(rects: list, min_neighbors: int, eps: float) -> list:
    """cv2.groupRectangles: clusters of similar windows with more than ``min_neighbors`` members, averaged."""
    if not rects:
        return []
    grouped, _ = cv2.groupRectangles(rects, min_neighbors, eps)
    return [tuple(map(int, r)) for r in grouped] if len(grouped) else []




@dataclass(frozen=True)
class DetectorChoice:
    label: str  # what a menu shows
    help: str  # one sentence for a tooltip
    make: Callable[[], object]  # a new detector with .detect(image, gray=None) -> [(x, y, w, h)]


def _blazeface():
    from .blazeface import BlazeFaceDetector

    return BlazeFaceDetector()


DETECTORS: dict[str, DetectorChoice] = {
    "haar": DetectorChoice(
        "Haar cascade, thorough", "The seed's detector at full detail: slow; the photo page's default when "
        "BlazeFace is not installed.",
        HaarFaceDetector),
    # Half size, coarser size steps, fewer required overlaps, and no search for faces under 28 px
    # there (56 px in a 640x480 frame; the 24 px windows alone cost a sixth of the time): the best
    # recall for < 33 ms a 640x480 frame in benchmarks/bench_detection.py's grid. The second look at
    # the near-misses raises the share of the full pass's faces found from 92.5% to 98.1% for ~1 ms.
    "haar-fast": DetectorChoice(
        "Haar cascade, fast", "The same detector on a half-size copy, with a second look at full detail where "
        "it almost found a face: keeps up with a webcam, but may miss faces narrower than about 1/10 of the picture.",
        lambda: HaarFaceDetector(scale_factor=1.2, min_neighbors=2, max_side=320, min_face=28, second_look=True)),
    "blazeface": DetectorChoice(
        "BlazeFace", "Google MediaPipe's face detector: the most accurate on real photos (fewer missed and "
        "false faces than Haar in group photos and on tilted faces) and the fastest (about 5 ms a frame); "
        "it finds fewer very small, grey faces. The photo page's default where installed.",
        _blazeface),
}


def make_detector(name: str):
    """A new detector by its DETECTORS name. Raises ValueError (unknown name) or RuntimeError
    (not installed), each with a message to show as is."""
    if name not in DETECTORS:
        raise ValueError(f"Unknown face detector '{name}'. Choose one of: {', '.join(DETECTORS)}.")
    return DETECTORS[name].make()


def available_detectors() -> list[str]:
    """The DETECTORS names that work on this machine (BlazeFace needs an extra package)."""
    from .blazeface import weights_folder

    return [n for n in DETECTORS if n != "blazeface" or weights_folder() is not None]


# For still images, most accurate first: on real photographs (group photos, small and tilted faces)
# BlazeFace counts the faces right more often than the thorough Haar pass, with fewer false faces (issue 14).
STILL_PREFERENCE = ("blazeface", "haar")


def default_still_detector() -> str:
    """The DETECTORS name of the most accurate detector installed for still images (photos, the
    command line, ``EmotionRecognizer.load()``): BlazeFace where its package is installed, else the
    thorough Haar pass. Live video keeps ``haar-fast`` (dashboard.state)."""
    installed = available_detectors()
    return next(n for n in STILL_PREFERENCE if n in installed)
