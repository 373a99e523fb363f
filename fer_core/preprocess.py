"""The one preprocessing path shared by training, evaluation and the app:
grayscale → (face detection, in faces.py) → crop → 48×48 → normalize."""

from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 48


def to_gray(image: np.ndarray) -> np.ndarray:
    """A grayscale uint8 copy of a BGR, BGRA or already-gray image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def crop_faces(gray: np.ndarray, boxes) -> np.ndarray:
    """Crop each (x, y, w, h) box from a gray image and resize it to 48×48: uint8 [N, 48, 48]."""
    faces = np.empty((len(boxes), FACE_SIZE, FACE_SIZE), np.uint8)
    h_img, w_img = gray.shape[:2]
    for i, (x, y, w, h) in enumerate(boxes):
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(w_img, int(x + w)), min(h_img, int(y + h))
        crop = gray[y0:y1, x0:x1]
        # INTER_AREA when shrinking (most faces are larger than 48 px) avoids aliasing.
        interp = cv2.INTER_AREA if crop.shape[0] > FACE_SIZE else cv2.INTER_LINEAR
        faces[i] = cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=interp)
    return faces


def normalize(faces: np.ndarray) -> np.ndarray:
    """uint8 [N, 48, 48] grey levels → float32 [N, 48, 48, 1] in [0, 1], the networks' input."""
    faces = np.asarray(faces)
    if faces.ndim == 2:
        faces = faces[None]
    return (faces.astype(np.float32) / 255.0)[..., None]
