"""Drawing results on an image: one look for the photo page and the live video alike."""

from __future__ import annotations

import cv2
import numpy as np

from .emotions import color_bgr


def draw_results(image_bgr: np.ndarray, results, copy: bool = True) -> np.ndarray:
    """Box, emotion and confidence for each face. Line and text sizes follow the image size."""
    out = image_bgr.copy() if copy else image_bgr
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 240))
    font_scale = max(0.4, min(h, w) / 800)
    for r in results:
        x, y, bw, bh = map(int, r.box)
        color = color_bgr(r.label)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), color, thick + 1)
        text = f"{r.label} {r.confidence:.0%}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        top = y - th - base - 4 if y - th - base - 4 >= 0 else y + bh  # below the box at the top edge
        cv2.rectangle(out, (x, top), (x + tw + 6, top + th + base + 4), color, cv2.FILLED)
        cv2.putText(out, text, (x + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (255, 255, 255), thick, cv2.LINE_AA)
    return out
