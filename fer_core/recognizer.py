"""The public verbs: find faces, read their emotions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classifier import ModelError, TFLiteClassifier
from .emotions import EMOTIONS
from .faces import default_still_detector, make_detector
from .preprocess import crop_faces, to_gray
from .registry import DEFAULT_MODEL, MODELS_DIR, is_path, model_dir

# More faces than this in one image are not classified (the caller is told how many were found).
MAX_FACES = 64


@dataclass
class FaceResult:
    box: tuple[int, int, int, int]  # x, y, w, h in the image's pixels
    probabilities: np.ndarray  # float [7], EMOTIONS order, sums to 1
    emotions: tuple[str, ...] = field(default=EMOTIONS, repr=False)

    @property
    def label(self) -> str:
        return self.emotions[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))


class FaceList(list):
    """The faces of one image; ``found`` counts all faces detected, even beyond the cap."""

    found: int = 0

    @property
    def capped(self) -> bool:
        return self.found > len(self)


class EmotionRecognizer:
    """A face detector and an emotion CNN together.

    >>> rec = EmotionRecognizer.load()
    >>> for face in rec.analyze(load_image("photo.jpg")):
    ...     print(face.box, face.label, face.confidence)
    """

    def __init__(self, classifier: TFLiteClassifier, detector=None, name: str = ""):
        """``detector``: anything with ``detect(image, gray=None)``; by default the most accurate one
        installed for still images (``fer_core.faces.default_still_detector``: BlazeFace, else Haar)."""
        self.classifier = classifier
        self.detector = detector if detector is not None else make_detector(default_still_detector())
        self.name = name

    @classmethod
    def load(cls, name: str | os.PathLike = DEFAULT_MODEL, models_dir: str | os.PathLike = MODELS_DIR,
             detector=None, threads: int = 1) -> "EmotionRecognizer":
        """Load a model by name ("default", "seed", or one trained later) or by folder path. Without a
        ``detector``, faces are found with the most accurate detector installed for still images."""
        folder = model_dir(name, models_dir)
        if not folder.is_dir():
            if is_path(name):
                raise ModelError(f"There is no model folder at '{folder}'.")
            raise ModelError(f"There is no model '{name}' in {Path(models_dir)}. Train one with "
                             f"`python -m fer_core train --name {name}` (a folder elsewhere is given by its path: ./{name}).")
        return cls(TFLiteClassifier(folder / "model.tflite", threads=threads), detector, name=Path(name).name)

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """uint8 [N, 48, 48] grayscale faces → float [N, 7] probabilities, one batch."""
        return self.classifier(faces)

    def detect(self, image_bgr: np.ndarray) -> list[tuple[int, int, int, int]]:
        return self.detector.detect(image_bgr)

    def analyze(self, image_bgr: np.ndarray, max_faces: int = MAX_FACES) -> FaceList:
        """Every face in the image, left to right. Beyond ``max_faces`` only the largest are kept;
        the result's ``found`` then says how many there were."""
        gray = to_gray(image_bgr)
        return self.read_faces(gray, self.detector.detect(image_bgr, gray=gray), max_faces)

    def read_faces(self, gray: np.ndarray, boxes, max_faces: int = MAX_FACES) -> FaceList:
        """Classify the faces at ``boxes`` of a gray image (one batch); used by analyze and the live tracker."""
        found = len(boxes)
        if len(boxes) > max_faces:
            boxes = sorted(sorted(boxes, key=lambda b: -b[2] * b[3])[:max_faces], key=lambda b: (b[0], b[1]))
        faces = FaceList()
        if boxes:
            probs = self.classify(crop_faces(gray, boxes))
            faces.extend(FaceResult(tuple(b), p) for b, p in zip(boxes, probs))
        faces.found = found
        return faces
