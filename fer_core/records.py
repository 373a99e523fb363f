"""One table for every result, photo or video: the rows of the CSV files the command line and the
pages write. A photo is frame 0 at 0 seconds; a video's faces keep their track's number."""

from __future__ import annotations

from collections.abc import Iterable

from .emotions import EMOTIONS
from .live import TrackedFace

CSV_COLUMNS = ("file", "frame", "time_s", "face", "x", "y", "w", "h", "emotion", "confidence", *EMOTIONS)


def face_rows(file: str, faces: Iterable, frame: int = 0, time_s: float = 0.0) -> list[dict]:
    """CSV_COLUMNS rows for the faces of one image or video frame.

    ``face`` is the face's ``face_id`` when it has one (a video's tracks), else its 1-based place
    in ``faces`` (a photo's faces, left to right)."""
    rows = []
    for i, f in enumerate(faces, start=1):
        x, y, w, h = (int(v) for v in f.box)
        rows.append({"file": file, "frame": int(frame), "time_s": round(float(time_s), 4),
                     "face": f.face_id if isinstance(f, TrackedFace) else i, "x": x, "y": y, "w": w, "h": h,
                     "emotion": f.label, "confidence": round(f.confidence, 4),
                     **{e: round(float(p), 4) for e, p in zip(EMOTIONS, f.probabilities)}})
    return rows
