"""Frames per second analysed from a recorded video on one CPU core, with each face detector.

    python benchmarks/bench_video.py [--frames 300] [--model default] | tee benchmarks/results/video_speed.txt

The clip: 640×480 at 30 fps, H.264 (PyAV's libx264), faces of real photos (the astronaut and LFW
faces, benchmarks/scenes.py) gliding over a real background, one face in the first half and two
in the second. Each detector runs fer_core.video.analyze_video over the whole clip (decoding,
tracking between full-frame searches, classification, smoothing), pinned to one core with OpenCV,
TFLite and FFmpeg on it; once alone and once also writing the annotated H.264 copy. "wall" is
elapsed time (it grows when other programs share the core); "cpu" is the CPU time of this process,
all threads, the figure an idle core would give.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import av
import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenes  # noqa: E402

from fer_core import EmotionRecognizer  # noqa: E402
from fer_core.faces import available_detectors, make_detector  # noqa: E402
from fer_core.video import analyze_video  # noqa: E402


def make_clip(frames: int) -> bytes:
    """640×480, 30 fps H.264 in MP4: one moving face, then two."""
    half = frames // 2
    shots = [sc.frame for sc in scenes.clip(half, n_faces=1, seed=0)]
    shots += [sc.frame for sc in scenes.clip(frames - half, n_faces=2, seed=1)]
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "23", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = scenes.W, scenes.H, "yuv420p"
        for image in shots:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def processor() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown processor"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return f"{name}, {'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'}"


def run(data: bytes, rec: EmotionRecognizer, annotate: bool) -> tuple[int, float, float, int]:
    """Frames, wall seconds, CPU seconds and face detections of one pass over the clip."""
    out = io.BytesIO() if annotate else None
    t0, c0 = time.perf_counter(), time.process_time()
    frames = faces = 0
    for r in analyze_video(data, rec, annotated=out):
        frames, faces = r.done, faces + len(r.faces)
    return frames, time.perf_counter() - t0, time.process_time() - c0, faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300, help="frames in the clip (default 300: 10 s)")
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    cv2.setNumThreads(1)
    data = make_clip(args.frames)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one core (cpu {cpu}) of {os.cpu_count()}: "
          f"{processor()}; load average {os.getloadavg()[0]:.1f}; model {args.model}")
    print(f"clip: {args.frames} frames 640x480 at 30 fps, H.264, {len(data) / 1e6:.1f} MB; "
          "1 face for the first half, 2 for the second")
    print("\nanalyze_video, every frame, tracking (track_every=10)   frames/s wall   frames/s cpu   faces/frame")
    warm_up = make_clip(30)
    for det_name in available_detectors():
        rec = EmotionRecognizer.load(args.model, detector=make_detector(det_name), threads=1)
        run(warm_up, rec, True)  # loads the interpreter, the cascade and the encoder
        for annotate in (False, True):
            frames, wall, cpu_s, faces = run(data, rec, annotate)
            what = f"{det_name}{' + annotated H.264 copy' if annotate else ''}"
            print(f"  {what:<52} {frames / wall:10.1f}   {frames / cpu_s:12.1f}   {faces / frames:8.2f}")


if __name__ == "__main__":
    main()
