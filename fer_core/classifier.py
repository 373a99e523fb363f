"""Running a trained emotion CNN from its .tflite file: many faces, one batch, no TensorFlow."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

from .calibration import apply_temperature
from .emotions import EMOTIONS
from .preprocess import normalize


class ModelError(RuntimeError):
    """A model file that is missing or damaged; the message says which and how to restore it."""


LITERT_MISSING = ("The package ai-edge-litert, which runs the .tflite models, is not installed. Install it with "
                  "`pip install -r requirements.txt`.")


def _interpreter_class():
    """ai-edge-litert's Interpreter. Never TensorFlow's: importing tensorflow in the app's process,
    next to streamlit-webrtc's aiortc, crashes the server (two OpenSSL builds), so a missing
    ai-edge-litert is an error with a plain message (a ModelError, which the app and the CLI show)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ModelError(LITERT_MISSING) from None
    return Interpreter


class TFLiteClassifier:
    """Classifies uint8 [N, 48, 48] faces with a .tflite model.

    A TFLite interpreter is not thread-safe, so each thread (a Streamlit session, a WebRTC
    frame callback) gets its own; they share the model bytes read once from disk.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        self.path = Path(path)
        try:
            self._model = self.path.read_bytes()
        except OSError:
            raise ModelError(
                f"The model file '{self.path}' is missing. Restore it with "
                f"`git checkout -- {self.path}` or train it again with `python -m fer_core train`."
            ) from None
        self.temperature = 1.0
        self._check_checksum()
        self._threads = threads
        self._local = threading.local()
        self._new_interpreter()  # fail now, not on the first frame, if the file is damaged

    def _check_checksum(self):
        """Damaged weights can still load and give wrong answers: compare with info.json's sha256."""
        try:
            info = json.loads((self.path.parent / "info.json").read_text())
            expected = info.get("sha256")
            self.temperature = float(info.get("temperature", 1.0))
        except (OSError, ValueError, AttributeError, TypeError):
            return  # a model without info.json (e.g. copied by hand) is taken as it is
        if expected and hashlib.sha256(self._model).hexdigest() != expected:
            raise ModelError(
                f"The model file '{self.path}' is damaged (its checksum does not match info.json). "
                f"Restore it with `git checkout -- {self.path.parent}` or train it again with `python -m fer_core train`."
            )

    def _new_interpreter(self):
        interpreter = _interpreter_class()  # ai-edge-litert missing: its own message, not "damaged"
        try:
            interp = interpreter(model_content=self._model, num_threads=self._threads)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"The model file '{self.path}' is damaged and cannot be loaded ({exc}). Restore it "
                f"with `git checkout -- {self.path}` or train it again with `python -m fer_core train`."
            ) from None
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        self._local.state = (interp, inp["index"], out["index"], [1])
        return self._local.state

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        x = normalize(faces)
        if len(x) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32)
        interp, i_in, i_out, batch = getattr(self._local, "state", None) or self._new_interpreter()
        if batch[0] != len(x):  # resizing re-plans the graph: only when the face count changes
            interp.resize_tensor_input(i_in, [len(x), 48, 48, 1])
            interp.allocate_tensors()
            batch[0] = len(x)
        interp.set_tensor(i_in, x)
        interp.invoke()
        return apply_temperature(interp.get_tensor(i_out).copy(), self.temperature)
