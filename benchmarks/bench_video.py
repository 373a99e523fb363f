"""Frames per second analysed from a recorded video on one CPU core, with each face detector.

    python benchmarks/bench_video.py [--frames 300] [--model default] [--long-seconds 180] \
        | tee benchmarks/results/video_speed.txt

The clip: 640×480 at 30 fps, H.264 (PyAV's libx264), faces of real photos (the astronaut and LFW
faces, benchmarks/scenes.py) gliding over a real background, one face in the first half and two
in the second. Each detector runs fer_core.video.analyze_video over the whole clip (decoding,
tracking between full-frame searches, classification, smoothing), pinned to one core with OpenCV,
TFLite and FFmpeg on it; once alone and once also writing the annotated H.264 copy. "wall" is
elapsed time (it grows when other programs share the core); "cpu" is the CPU time of this process,
all threads, the figure an idle core would give.

Then memory: a long clip (``--long-seconds``, default 3 minutes, the same scenes looped) read from a
file with haar-fast, writing the annotated copy to a file as the command line does; the resident
memory of the process is printed as it goes. It should stay flat: frames are decoded, analysed and
encoded one at a time.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
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


def make_clip(frames: int, target=None, loop: int | None = None) -> bytes | None:
    """640×480, 30 fps H.264 in MP4: one moving face, then two. With ``loop`` only that many distinct
    frames are made and repeated (a long clip without holding it all in memory). Written to
    ``target`` (a path) or returned as bytes."""
    distinct = min(frames, loop or frames)
    half = distinct // 2
    shots = [sc.frame for sc in scenes.clip(half, n_faces=1, seed=0)]
    shots += [sc.frame for sc in scenes.clip(distinct - half, n_faces=2, seed=1)]
    buf = io.BytesIO() if target is None else None
    with av.open(buf if target is None else str(target), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "23", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = scenes.W, scenes.H, "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(shots[i % distinct], format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue() if buf is not None else None


def rss_mib() -> float:
    """Resident memory of this process now (not its peak)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory(seconds: int, rec: EmotionRecognizer) -> None:
    frames = seconds * 30
    with tempfile.TemporaryDirectory() as tmp:
        clip, annotated = Path(tmp) / "long.mp4", Path(tmp) / "long-emotions.mp4"
        make_clip(frames, clip, loop=300)
        print(f"\nmemory: a {seconds} s clip ({frames} frames, {clip.stat().st_size / 1e6:.1f} MB) read from a file, "
              "haar-fast, annotated copy to a file")
        print("  frames read   resident memory (MiB)")
        marks = {300, frames // 4, frames // 2, 3 * frames // 4, frames}
        for r in analyze_video(clip, rec, annotated=annotated):
            if r.done in marks:
                print(f"  {r.done:>11}   {rss_mib():8.0f}")
        print(f"  annotated copy: {annotated.stat().st_size / 1e6:.1f} MB")


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
    ap.add_argument("--long-seconds", type=int, default=180, help="length of the memory run's clip (0: skip it)")
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
    if args.long_seconds:
        memory(args.long_seconds, EmotionRecognizer.load(args.model, detector=make_detector("haar-fast"), threads=1))


if __name__ == "__main__":
    main()
