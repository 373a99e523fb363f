"""Several live streams at once: per-stream frames per second (as the page reports it, #fer-live-fps
data-fps) and the server's memory for 1, 2 and 4 concurrent streams.

Each stream is a headless Chromium playing the fake camera (a 640x480, 30 fps video of a real face,
tests/e2e/fake_camera.py) into the live page of one `streamlit run app.py` server. Note that the
browsers run on the same machine as the server: on a small machine they take a good part of the CPU
(decoding and encoding video), so the figures are a lower bound for a server with remote viewers.

    python benchmarks/bench_concurrency.py                       # 1, 2, 4 streams; 45 s measured each
    python benchmarks/bench_concurrency.py --streams 1 2 --seconds 30 --output /tmp/c.txt

Writes its table to benchmarks/results/concurrency.txt (the README quotes it) unless --output says
otherwise. Needs /usr/bin/chromium, /usr/bin/chromedriver and Linux (/proc). Prints figures, asserts
nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e import live_stream as ls  # noqa: E402
from tests.e2e.conftest import CHROMIUM, StreamlitServer, new_browser, open_page  # noqa: E402
from tests.e2e.fake_camera import build_fake_camera  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "concurrency.txt"


def measure(server: StreamlitServer, camera: Path, n: int, seconds: float, warmup: float, tmp: Path, log=print):
    """Start ``n`` streams, let them run ``warmup`` s, then sample for ``seconds``. Returns a dict."""
    pid = server.proc.pid
    drivers = []
    try:
        for k in range(n):
            d = new_browser(tmp / f"chromedriver-{n}-{k}.log", camera)
            drivers.append(d)
            open_page(d, server, "live")
        rss_idle = ls.rss_mib(pid)
        for d in drivers:
            ls.start_stream(d, timeout=180)
        log(f"  {n} stream(s) labelled; warming up {warmup:.0f} s")
        time.sleep(warmup)
        fps = [[] for _ in drivers]
        rss, threads, load = [], [], []
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            for k, d in enumerate(drivers):
                value = ls.page_fps(d)
                if value is not None:
                    fps[k].append(value)
            rss.append(ls.rss_mib(pid))
            threads.append(ls.thread_count(pid))
            load.append(os.getloadavg()[0])
            time.sleep(2.0)
        per_stream = [statistics.median(f) if f else 0.0 for f in fps]
        for d in drivers:
            ls.stop_stream(d)
        return {"streams": n, "fps": per_stream, "rss_idle": rss_idle, "rss_median": statistics.median(rss),
                "rss_max": max(rss), "threads": max(threads), "load": statistics.median(load)}
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:  # noqa: BLE001
                pass


def table(rows: list[dict]) -> str:
    head = (f"{'streams':>7}  {'fps per stream (median of each)':<34}  {'mean fps':>8}  {'total fps':>9}  "
            f"{'RSS MiB (median / max)':>22}  {'threads':>7}  {'load':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        each = ", ".join(f"{f:.1f}" for f in r["fps"])
        lines.append(f"{r['streams']:>7}  {each:<34}  {statistics.mean(r['fps']):8.1f}  {sum(r['fps']):9.1f}  "
                     f"{r['rss_median']:10.0f} / {r['rss_max']:<9.0f}  {r['threads']:>7}  {r['load']:5.1f}")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _chromium() -> str:
    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--seconds", type=float, default=45.0, help="seconds measured per setting (default 45)")
    ap.add_argument("--warmup", type=float, default=15.0, help="seconds of streaming before measuring")
    ap.add_argument("--output", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    lines: list[str] = []

    def log(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
        tmp = Path(tmp)
        camera = build_fake_camera(tmp / "astronaut.y4m")
        server = StreamlitServer(REPO, sys.executable, tmp / "streamlit.log").start()
        pid = server.proc.pid
        rows = []
        try:
            # One page view first: the model loads once, as on a server that has had a visitor.
            d = new_browser(tmp / "chromedriver-warm.log")
            try:
                open_page(d, server, "live")
            finally:
                d.quit()
            rss_start = ls.rss_mib(pid)
            log(f"# concurrent live streams: {time.strftime('%Y-%m-%d %H:%M %Z')}")
            log(f"# machine: {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
                f"{_chromium()}")
            log(f"# each stream: one headless Chromium on the same machine, fake camera 640x480 at 30 fps "
                f"(a real face); {args.warmup:.0f} s warm-up, {args.seconds:.0f} s measured")
            log(f"# fps: the live page's own figure (#fer-live-fps data-fps: frames analysed per second over "
                f"the last 2 s), sampled every 2 s")
            log(f"# server RSS with the model loaded and no stream: {rss_start:.0f} MiB")
            for n in args.streams:
                log(f"measuring {n} stream(s)…")
                rows.append(measure(server, camera, n, args.seconds, args.warmup, tmp, log))
                time.sleep(10)  # let the ended streams' threads finish before the next setting
            log("")
            log(table(rows))
            log("")
            log(f"# server RSS after all streams ended: {ls.rss_mib(pid):.0f} MiB, "
                f"{ls.thread_count(pid)} threads")
        finally:
            server.stop()
        if "Traceback (most recent call last)" in (tmp / "streamlit.log").read_text(errors="replace"):
            log("WARNING: the server logged a traceback")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(l for l in lines if not l.startswith("measuring") and
                                      not l.startswith("  ")) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
