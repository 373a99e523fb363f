"""Analysing one photo for the photo page: everything happens in memory, nothing touches the disk."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from fer_core import EMOTIONS, EmotionRecognizer, FaceResult, draw_results, load_image
from fer_core.images import encode_png
from fer_core.records import CSV_COLUMNS, face_rows

MAX_CHARTS = 24  # per-face charts shown on the page; the table always lists every face
NO_FACE_TIPS = (
    "No face was found in this photo. Tips: use a photo where the face is seen from the front, "
    "well lit and not too small (at least about 50 pixels across); take off sunglasses or masks; "
    "avoid strong shadows or a bright window behind the person."
)


@dataclass
class PhotoAnalysis:
    image: np.ndarray  # BGR, as decoded (EXIF-rotated)
    faces: list[FaceResult]
    annotated: np.ndarray  # BGR, boxes + labels + face numbers

    @property
    def found(self) -> int:
        """Faces detected, including any beyond the MAX_FACES that were analysed."""
        return max(len(self.faces), int(getattr(self.faces, "found", 0) or 0))

    @property
    def capped(self) -> bool:
        """True when the photo holds more faces than were analysed."""
        return self.found > len(self.faces)

    def table(self) -> pd.DataFrame:
        """One row per face: number, position, emotion, confidence and the 7 probabilities."""
        rows = []
        for i, f in enumerate(self.faces, start=1):
            x, y, w, h = (int(v) for v in f.box)
            rows.append({"face": i, "emotion": f.label, "confidence": round(f.confidence, 4),
                         "x": x, "y": y, "width": w, "height": h,
                         **{e: round(float(p), 4) for e, p in zip(EMOTIONS, f.probabilities)}})
        columns = ["face", "emotion", "confidence", "x", "y", "width", "height", *EMOTIONS]
        return pd.DataFrame(rows, columns=columns)

    def csv_bytes(self, file: str = "photo") -> bytes:
        """The faces in the CSV schema of the command line and the video page (fer_core.records):
        frame 0 at 0 seconds, ``file`` the photo's name."""
        rows = face_rows(file, self.faces)
        return pd.DataFrame(rows, columns=list(CSV_COLUMNS)).to_csv(index=False).encode("utf-8")

    def png_bytes(self) -> bytes:
        return encode_png(self.annotated)


def number_faces(image_bgr: np.ndarray, faces: list[FaceResult]) -> np.ndarray:
    """Write each face's number (1, 2, …) under its box so the charts and the table can be matched."""
    out = image_bgr
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 300))
    scale = max(0.45, min(h, w) / 900)
    for i, f in enumerate(faces, start=1):
        x, y, bw, bh = (int(v) for v in f.box)
        text = f"#{i}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = min(y + bh + 2, max(0, h - th - base - 4))
        cv2.rectangle(out, (x, top), (x + tw + 6, top + th + base + 4), (40, 40, 40), cv2.FILLED)
        cv2.putText(out, text, (x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                    cv2.LINE_AA)
    return out


def analyze_photo(recognizer: EmotionRecognizer, data: bytes) -> PhotoAnalysis:
    """Decode ``data`` (raises fer_core.ImageError with a plain message), find and read every face."""
    image = load_image(data)
    faces = recognizer.analyze(image)
    annotated = number_faces(draw_results(image, faces), faces) if len(faces) > 1 else draw_results(image, faces)
    return PhotoAnalysis(image, faces, annotated)
