"""Memory over a long live stream: the real app (`streamlit run app.py`) streams Chromium's fake
camera (a video of a real face, tests/e2e/fake_camera.py) for N minutes, and the server process's
resident memory (RSS), thread count and the page's frames-per-second figure are printed over time.

    python benchmarks/bench_stream_memory.py               # 10 minutes, a sample every 10 s
    python benchmarks/bench_stream_memory.py --minutes 2 --every 5

Needs Debian's /usr/bin/chromium and /usr/bin/chromedriver (see tests/e2e/conftest.py) and Linux
(/proc). The test suite runs a short version (tests/e2e/test_e2e_stream_robustness.py) with a bound on
the growth; this script prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.e2e import live_stream as ls  # noqa: E402
from tests.e2e.conftest import StreamlitServer, new_browser, open_page  # noqa: E402
from tests.e2e.fake_camera import build_fake_camera  # noqa: E402


@dataclass
class Sample:
    seconds: float  # since the stream started labelling
    rss_mib: float
    threads: int
    fps: float | None


@dataclass
class StreamRun:
    before_mib: float  # the server's RSS with the live page open, before Start
    samples: list[Sample] = field(default_factory=list)
    after_stop_mib: float | None = None
    threads_before: int = 0
    threads_after_stop: int | None = None

    def at(self, seconds: float) -> Sample:
        """The sample nearest to ``seconds`` after the stream started."""
        return min(self.samples, key=lambda s: abs(s.seconds - seconds))

    def marks(self, step: float = 60.0) -> list[Sample]:
        """Samples nearest to each ``step`` mark: 0, step, 2*step, ..."""
        end = self.samples[-1].seconds
        return [self.at(k * step) for k in range(int(end // step + 1e-6) + 1)]


def stream_memory(server: StreamlitServer, driver, seconds: float, every: float = 10.0, log=print) -> StreamRun:
    """Open the live page in ``driver`` (a browser with the fake camera), stream for ``seconds``
    while sampling the server's memory every ``every`` s, then stop."""
    pid = server.proc.pid
    open_page(driver, server, "live")
    run = StreamRun(before_mib=ls.rss_mib(pid), threads_before=ls.thread_count(pid))
    log(f"live page open: RSS {run.before_mib:.0f} MiB, {run.threads_before} threads")
    ls.start_stream(driver)
    t0 = time.monotonic()
    next_at = 0.0
    while True:
        now = time.monotonic() - t0
        if now >= next_at:
            s = Sample(round(now, 1), ls.rss_mib(pid), ls.thread_count(pid), ls.page_fps(driver))
            run.samples.append(s)
            fps = f"{s.fps:5.1f}" if s.fps is not None else "   - "
            log(f"{s.seconds:7.0f} s  RSS {s.rss_mib:7.1f} MiB  threads {s.threads:3d}  page fps {fps}")
            next_at += every
            if now >= seconds:
                break
        time.sleep(max(0.0, min(next_at - (time.monotonic() - t0), 1.0)))
    ls.stop_stream(driver)
    time.sleep(5)
    run.after_stop_mib = ls.rss_mib(pid)
    run.threads_after_stop = ls.thread_count(pid)
    log(f"stopped: RSS {run.after_stop_mib:.0f} MiB, {run.threads_after_stop} threads")
    return run


def summary(run: StreamRun, step: float = 60.0) -> str:
    marks = run.marks(step)
    lines = [f"{'minute':>6}  {'RSS MiB':>8}  {'change':>7}"]
    for k, m in enumerate(marks):
        change = "" if k == 0 else f"{m.rss_mib - marks[k - 1].rss_mib:+7.1f}"
        lines.append(f"{m.seconds / 60:6.1f}  {m.rss_mib:8.1f}  {change:>7}")
    fps = [s.fps for s in run.samples if s.fps]
    if fps:
        fps = sorted(fps)
        lines.append(f"page fps: median {fps[len(fps) // 2]:.1f}, min {fps[0]:.1f}, max {fps[-1]:.1f} "
                     f"over {len(fps)} samples")
    if len(marks) >= 3:
        later = [b.rss_mib - a.rss_mib for a, b in zip(marks[1:], marks[2:])]
        lines.append(f"largest change between minute marks after the first minute: {max(later):+.1f} MiB")
    lines.append(f"RSS before Start {run.before_mib:.0f} MiB, at the end {run.samples[-1].rss_mib:.0f} MiB, "
                 f"after Stop {run.after_stop_mib:.0f} MiB")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to stream (default 10)")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--output", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="fer-bench-") as tmp:
        tmp = Path(tmp)
        camera = build_fake_camera(tmp / "astronaut.y4m")
        server = StreamlitServer(REPO, sys.executable, tmp / "streamlit.log").start()
        lines: list[str] = []

        def log(line: str) -> None:
            print(line, flush=True)
            lines.append(line)

        driver = new_browser(tmp / "chromedriver.log", camera)
        try:
            log(f"# stream memory: {args.minutes:g} min of the fake camera (640x480, 30 fps) through one "
                f"headless Chromium; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
                f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
            run = stream_memory(server, driver, args.minutes * 60, args.every, log)
        finally:
            driver.quit()
            server.stop()
        log("")
        log(summary(run))
        if "Traceback (most recent call last)" in (tmp / "streamlit.log").read_text(errors="replace"):
            log("WARNING: the server logged a traceback")
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
