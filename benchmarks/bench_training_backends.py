"""Training speed on this CPU by Keras backend: TensorFlow, TensorFlow with XLA, JAX.

    FER2013_PATH=... python benchmarks/bench_training_backends.py [--jax-python /path/to/python]

Each backend runs in its own process (Keras picks its backend at import). The network is
fer_core.architectures' compact_vgg or wide_vgg, Adam, batch 64, on real FER-2013 Training faces
(random pixels when $FER2013_PATH is unset); the figure is the median wall time of a training
step after warm-up, times the 449 steps of one FER-2013 epoch. TensorFlow runs with oneDNN on
(as fer_core.train sets it). JAX is not in requirements.txt: install it in another environment
(`python -m venv jx && jx/bin/pip install jax keras numpy`) and pass that Python with --jax-python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STEPS_PER_EPOCH = 28709 // 64 + 1


def one_backend(arch: str, jit: bool, steps: int) -> dict:
    import numpy as np
    import keras

    sys.path.insert(0, str(REPO))
    from fer_core.architectures import ARCHITECTURES

    path = os.environ.get("FER2013_PATH")
    if path and path.endswith(".npz") and os.path.exists(path):
        with np.load(path) as z:
            x = z["images"][z["usage"] == 0][: 64 * 8].astype("float32")[..., None] / 255
            y = z["labels"][z["usage"] == 0][: 64 * 8]
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((64 * 8, 48, 48, 1), dtype=np.float32), rng.integers(0, 7, 64 * 8)
    y = np.eye(7, dtype="float32")[y]
    keras.utils.set_random_seed(0)
    model = ARCHITECTURES[arch]()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=jit)
    times = []
    for i in range(steps + 3):
        j = (i % 8) * 64
        t0 = time.perf_counter()
        model.train_on_batch(x[j : j + 64], y[j : j + 64])
        times.append(time.perf_counter() - t0)
    step = float(np.median(times[3:]))  # the first steps compile
    return {"backend": keras.backend.backend(), "xla": jit, "arch": arch, "ms_per_step": round(step * 1000, 1),
            "s_per_epoch": round(step * STEPS_PER_EPOCH, 1), "compile_s": round(sum(times[:3]), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="*", default=["compact_vgg", "wide_vgg"])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--jax-python", help="a Python with jax and keras installed (default: this one)")
    ap.add_argument("--child", nargs=2, metavar=("ARCH", "JIT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one_backend(a.child[0], a.child[1] == "1", a.steps)))
        return
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}; batch 64, "
          f"{STEPS_PER_EPOCH} steps an epoch")
    print(f"{'network':<13}{'backend':<20}{'ms/step':>9}{'s/epoch':>9}{'compile s':>11}")
    runs = [("tensorflow", "0", sys.executable), ("tensorflow", "1", sys.executable),
            ("jax", "1", a.jax_python or sys.executable)]
    for arch in a.arch:
        for backend, jit, python in runs:
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
            out = subprocess.run([python, __file__, "--steps", str(a.steps), "--child", arch, jit],
                                 env=env, capture_output=True, text=True)
            name = backend + (" + XLA" if backend == "tensorflow" and jit == "1" else "") + (" (jit)" if backend == "jax" else "")
            if out.returncode != 0:
                reason = (out.stderr.strip().splitlines() or ["failed"])[-1][:60]
                print(f"{arch:<13}{name:<20}   not run: {reason}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{arch:<13}{name:<20}{r['ms_per_step']:>9.1f}{r['s_per_epoch']:>9.1f}{r['compile_s']:>11.1f}", flush=True)


if __name__ == "__main__":
    main()
