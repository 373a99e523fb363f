"""Face detection: recall, false positives and cost of each detector configuration on real frames.

    FER2013_PATH=... python benchmarks/bench_detection.py [--frames 60] [--grid]

The reference is a full-resolution Haar pass at scaleFactor 1.1, minNeighbors 5 (the seed's
detector at full detail). For each configuration it prints, over 640×480 scenes built from real
photos (benchmarks/scenes.py):
  vs Haar-1.1: recall = share of the reference's boxes found (box overlap IoU >= 0.4), "real" =
               share of those reference boxes that are on a pasted face, FP = boxes the reference
               does not have;
  vs pasted:   the same against the faces actually pasted into the scenes, then recall per source
               (astronaut: a sharp colour photo; LFW and FER-2013: small grey face crops, upscaled);
  cpu ms:                median CPU time of one detection on one core (wall time moves with the
                         load other programs put on the machine; CPU time does not).
Clips (faces moving across a background) add the tracker: full detection every N frames, a search
near the last boxes in between, as fer_core.live.LiveAnalyzer does.
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

from fer_core.blazeface import BlazeFaceDetector, weights_folder  # noqa: E402
from fer_core.faces import DETECTORS, HaarFaceDetector  # noqa: E402
from fer_core.preprocess import to_gray  # noqa: E402
from fer_core.tracking import FaceTracker  # noqa: E402

MATCH_IOU = 0.4


def iou(a, b) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match(truth, found, thr=MATCH_IOU) -> tuple[int, int]:
    """(faces of ``truth`` found, boxes of ``found`` matching nothing), one box per face."""
    left, hits = list(found), 0
    for t in truth:
        best = max(left, key=lambda f: iou(t, f), default=None)
        if best is not None and iou(t, best) >= thr:
            hits += 1
            left.remove(best)
    return hits, len(left)


def pin_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)


def reference() -> HaarFaceDetector:
    return HaarFaceDetector(scale_factor=1.1, min_neighbors=5, max_side=None)


def configurations(grid: bool) -> dict[str, object]:
    configs = {f"{name} = {DETECTORS[name].make()!r}": DETECTORS[name].make()
               for name in DETECTORS if name != "blazeface" or weights_folder()}
    if grid:
        for side in (480, 400, 320, 240):
            for sf, mn in ((1.1, 5), (1.1, 3), (1.2, 3), (1.2, 2), (1.3, 2)):
                for min_face in (24, 28):
                    d = HaarFaceDetector(scale_factor=sf, min_neighbors=mn, max_side=side, min_face=min_face)
                    configs[repr(d)] = d
        if weights_folder():
            configs["BlazeFaceDetector(model='short')"] = BlazeFaceDetector("short")
    return configs


SOURCES = ("astronaut", "lfw", "fer2013")


def run_detector(det, stills, refs):
    """Counts: found-ref, fp-ref, found-real-ref, found-pasted, fp-pasted, found per source; cpu ms."""
    stats = np.zeros(5 + len(SOURCES), int)
    cpu = []
    for sc, ref in zip(stills, refs):
        gray = to_gray(sc.frame)
        c0 = time.thread_time()
        boxes = det.detect(sc.frame, gray=gray)
        cpu.append(time.thread_time() - c0)
        real_ref = [r for r in ref if match(sc.placed, [r])[0]]
        stats[:5] += (*match(ref, boxes), match(real_ref, boxes)[0], *match(sc.placed, boxes))
        for face, source in zip(sc.placed, sc.sources):
            stats[5 + SOURCES.index(source)] += match([face], boxes)[0]
    return stats, float(np.median(cpu) * 1000)


def run_tracker(det, every, clips, refs):
    stats, cpu = np.zeros(4, int), []
    for clip, clip_refs in zip(clips, refs):
        tracker = FaceTracker(det, every=every)
        for sc, ref in zip(clip, clip_refs):
            gray = to_gray(sc.frame)
            c0 = time.thread_time()
            boxes = tracker.update(sc.frame, gray)
            cpu.append(time.thread_time() - c0)
            stats += (*match(ref, boxes), *match(sc.placed, boxes))
    return stats, float(np.median(cpu) * 1000), float(np.percentile(cpu, 95) * 1000)


def still_line(name, stats, n):
    per_source = " ".join(f"{stats[5 + i] / n[s]:4.0%}" for i, s in enumerate(SOURCES))
    return (f"{stats[0] / n['ref']:6.1%} {stats[2] / n['real']:6.1%} {stats[1]:3d}   "
            f"{stats[3] / n['pasted']:6.1%} {stats[4]:3d}  {per_source}   {stats[-1]:6.1f}  {name}")


def line(name, stats, n_ref, n_truth, cpu, extra=""):
    return (f"{stats[0] / n_ref:6.1%} {stats[1]:4d}   {stats[2] / n_truth:6.1%} {stats[3]:4d}   "
            f"{cpu:7.1f}{extra}  {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60, help="still scenes (default 60)")
    ap.add_argument("--clips", type=int, default=3, help="clips of 90 frames (default 3)")
    ap.add_argument("--grid", action="store_true", help="also try a grid of Haar settings")
    args = ap.parse_args()
    pin_one_core()
    print(f"FER-2013 faces in the scenes: {'yes' if os.environ.get('FER2013_PATH') else 'no (set FER2013_PATH)'}; "
          f"load average {os.getloadavg()[0]:.1f}")

    stills = scenes.photo_scenes(args.frames)
    ref = reference()
    refs = [ref.detect(sc.frame) for sc in stills]
    n = {"ref": sum(map(len, refs)), "pasted": sum(len(sc.placed) for sc in stills)}
    n["real"] = sum(match(sc.placed, [r])[0] for sc, rs in zip(stills, refs) for r in rs)
    n.update({s: sum(sc.sources.count(s) for sc in stills) for s in SOURCES})
    print(f"\n{len(stills)} still 640x480 frames, {n['pasted']} pasted faces (" +
          ", ".join(f"{n[s]} {s}" for s in SOURCES) + f"); the reference finds {n['ref']} boxes, "
          f"{n['real']} of them on pasted faces")
    print(f"{'--- vs Haar-1.1 ---':>20}   {'--- vs pasted ---':>16}  {'astro  lfw  fer':>14}  {'cpu ms':>6}")
    print(f"{'recall':>6} {'real':>6} {'FP':>3}   {'recall':>6} {'FP':>3}  {'(recall)':>14}")
    for name, det in {f"reference = {ref!r}": ref, **configurations(args.grid)}.items():
        stats, cpu = run_detector(det, stills, refs)
        print(still_line(name, [*stats, cpu], n))

    clips = [scenes.clip(90, n_faces=1 + k % 2, seed=k) for k in range(args.clips)]
    clip_refs = [[ref.detect(sc.frame) for sc in c] for c in clips]
    n_ref = sum(len(r) for c in clip_refs for r in c)
    n_truth = sum(len(sc.placed) for c in clips for sc in c)
    print(f"\n{args.clips} clips, {sum(map(len, clips))} frames, {n_truth} pasted faces, {n_ref} reference boxes "
          "(tracker: full detection every N frames, search near the last boxes in between)")
    print(f"{'recall':>6} {'FP':>4}   {'recall':>6} {'FP':>4}   {'cpu ms':>7} {'p95':>6}")
    for name in [n for n in ("haar", "haar-fast", "blazeface") if n != "blazeface" or weights_folder()]:
        for every in (1, 10, 30):
            if name == "blazeface" and every > 1:
                continue  # BlazeFace has no cheap local search; it runs on every frame
            stats, cpu, p95 = run_tracker(DETECTORS[name].make(), every, clips, clip_refs)
            print(line(f"{name}, full detection every {every} frame(s)", stats, n_ref, n_truth, cpu, f" {p95:6.1f}"))


if __name__ == "__main__":
    main()
