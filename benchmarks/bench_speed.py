"""Speed on one CPU core: the emotion CNN per face, and face detection + CNN per 640×480 frame.

    FER2013_PATH=... python benchmarks/bench_speed.py [--models seed default] [--runs 200]

Pinned to one core (os.sched_setaffinity) with OpenCV and the TFLite interpreter on one thread,
as a live stream gets in the app. Each figure is a median after a warm-up. "wall" is elapsed
time, which grows when other programs share the core; "cpu" is the time this thread actually
ran, the figure an idle core would give. Frames: 640×480 scenes built from real photos with one
to three faces each (benchmarks/scenes.py); live: LiveAnalyzer on clips of moving faces.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenes  # noqa: E402

from fer_core import EmotionRecognizer, LiveAnalyzer  # noqa: E402
from fer_core.faces import available_detectors, make_detector  # noqa: E402
from fer_core.preprocess import crop_faces, to_gray  # noqa: E402
from fer_core.registry import list_models  # noqa: E402


def timed(fn, args_list, warmup: int = 3) -> tuple[float, float]:
    """Median wall and CPU milliseconds of fn(*args) over args_list, after a warm-up."""
    for args in args_list[:warmup]:
        fn(*args)
    wall, cpu = [], []
    for args in args_list:
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(*args)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return float(np.median(wall) * 1000), float(np.median(cpu) * 1000)


def test_faces(n: int = 32) -> np.ndarray:
    """uint8 [n, 48, 48] real faces: FER-2013 PrivateTest when $FER2013_PATH is set, else the astronaut."""
    path = os.environ.get("FER2013_PATH")
    if path and os.path.exists(path):
        with np.load(path) as z:
            return z["images"][z["usage"] == 2][:n]
    astro = to_gray(scenes.astronaut_head())
    return np.repeat(crop_faces(astro, [(52, 67, 93, 93)]), n, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None, help="models to time (default: all in models/)")
    ap.add_argument("--runs", type=int, default=200, help="classify calls per batch size (default 200)")
    ap.add_argument("--frames", type=int, default=40, help="still scenes (default 40)")
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    models = args.models or list_models()
    print(f"one core (cpu {min(os.sched_getaffinity(0))}), load average {os.getloadavg()[0]:.1f}; "
          f"models: {', '.join(models)}; detectors: {', '.join(available_detectors())}")

    faces = test_faces(32)
    stills = [sc.frame for sc in scenes.photo_scenes(args.frames)]
    clips = [scenes.clip(90, n_faces=1 + k % 2, seed=k) for k in range(2)]

    print("\nper face, classify (TFLite, 1 thread)      wall ms   cpu ms")
    for name in models:
        rec = EmotionRecognizer.load(name, threads=1)
        for batch in (1, 32):
            wall, cpu = timed(rec.classify, [(faces[:batch],)] * args.runs)
            print(f"  {name:<10} batch {batch:<2}                      {wall / batch:7.2f}  {cpu / batch:7.2f}")

    print("\nper 640x480 frame with 1-3 faces               wall ms   cpu ms")
    for det_name in available_detectors():
        det = make_detector(det_name)
        wall, cpu = timed(lambda f: det.detect(f), [(f,) for f in stills])
        print(f"  detection alone, {det_name:<12}                {wall:7.1f}  {cpu:7.1f}   {det!r}")
        for name in models:
            rec = EmotionRecognizer.load(name, detector=det, threads=1)
            wall, cpu = timed(rec.analyze, [(f,) for f in stills])
            print(f"  analyze, {det_name:<12} {name:<10}          {wall:7.1f}  {cpu:7.1f}")
    print("\nlive: LiveAnalyzer.process on clips (tracking), wall ms   cpu ms   (p95 cpu)")
    for det_name in available_detectors():
        for name in models:
            rec = EmotionRecognizer.load(name, detector=make_detector(det_name), threads=1)
            cpu_all, wall_all = [], []
            for clip in clips:
                live = LiveAnalyzer(rec)
                for sc in clip:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    live.process(sc.frame)
                    cpu_all.append(time.thread_time() - c0)
                    wall_all.append(time.perf_counter() - t0)
            print(f"  {det_name:<12} {name:<10} track_every=10       {np.median(wall_all) * 1000:7.1f}  "
                  f"{np.median(cpu_all) * 1000:7.1f}   ({np.percentile(cpu_all, 95) * 1000:.1f})")


if __name__ == "__main__":
    main()
