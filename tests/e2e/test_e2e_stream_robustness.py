"""The live stream under a person's rough handling, in the real app and a real browser: Start/Stop
again and again, a camera that is unplugged mid-stream, a tab closed while streaming — none of it
leaves threads behind in the server — and memory stays flat while a stream plays.

The server's threads and memory are read from /proc/<pid> of the `streamlit run` process. Streams end
asynchronously (the WebRTC worker, decoder and ICE threads close one by one; a closed tab is only
noticed when ICE gives up), so the counts are compared after a settle delay, against the count after
a first Start/Stop (the first stream starts threads that live as long as the server: the event loop's
executor, the session's script thread).

benchmarks/bench_stream_memory.py runs the long (10 minute) version of the memory check and prints it.
"""

from __future__ import annotations

import statistics
import time
import urllib.request

from benchmarks.bench_stream_memory import stream_memory

from .conftest import assert_no_exception, open_page, wait_until
from .live_stream import (label_state, record_cameras, settle_threads, start_stream, stop_stream, thread_count,
                          thread_names, unplug_camera)

CYCLES = 5
SPARE_THREADS = 3  # threads the count may differ by after settling (thread pools grow and shrink)
SETTLE = 90  # seconds for the threads of ended streams to finish (ICE notices a closed tab in ~30 s)
STREAM_SECONDS = 75  # the in-suite memory check; the benchmark streams 10 minutes
WARMUP_SECONDS = 25  # the first seconds fill caches, codec buffers and allocator arenas
MAX_GROWTH_MIB = 40  # between the warm stream's first and last RSS (a leak of every frame: ~1 GB/min)


def _server_alive(server) -> bool:
    with urllib.request.urlopen(server.url + "/_stcore/health", timeout=10) as r:
        return r.status == 200


def test_start_stop_unplug_and_closed_tab_leave_no_threads(app_server, make_browser, fake_camera):
    pid = app_server.proc.pid
    driver = make_browser(fake_video=fake_camera)
    record_cameras(driver)  # lets the test unplug the camera later
    open_page(driver, app_server, "live")
    assert_no_exception(driver)

    # A first stream starts what lives as long as the server; its count after Stop is the baseline.
    start_stream(driver)
    stop_stream(driver)
    time.sleep(5)
    baseline = thread_count(pid)
    print(f"\nserver threads after a first Start/Stop: {baseline}")

    def settled(what: str) -> int:
        n = settle_threads(pid, baseline + SPARE_THREADS, SETTLE)
        print(f"server threads {what}: {n}")
        assert n <= baseline + SPARE_THREADS, \
            f"{n} server threads {what}, {baseline} before: threads were left behind ({thread_names(pid)})"
        return n

    # Start/Stop again and again: each stream's threads end with it.
    playing = []
    for _ in range(CYCLES):
        start_stream(driver)
        playing.append(thread_count(pid))
        stop_stream(driver)
    assert min(playing) > baseline, "a playing stream should run threads of its own"  # (the count can tell)
    settled(f"after {CYCLES} more Start/Stop cycles")

    # The camera is unplugged while streaming: the label goes back to waiting, Stop still works.
    start_stream(driver)
    assert unplug_camera(driver) >= 1, "the page opened no camera stream to unplug"
    wait_until(lambda: label_state(driver).get("text") == "Waiting for the camera…", 30,
               f"the page kept showing a label after the camera was unplugged: {label_state(driver)}")
    assert label_state(driver)["fps"] == 0.0
    stop_stream(driver)
    settled("after a stream whose camera was unplugged")

    # Plug in again (a fresh camera on Start) and close the tab while streaming.
    start_stream(driver)
    assert_no_exception(driver)
    driver.quit()
    settled("after the tab was closed while streaming")
    assert _server_alive(app_server)


def test_memory_stays_flat_while_streaming(app_server, make_browser, fake_camera):
    driver = make_browser(fake_video=fake_camera)
    run = stream_memory(app_server, driver, STREAM_SECONDS, every=5.0, log=print)
    warm = [s.rss_mib for s in run.samples if WARMUP_SECONDS - 10 <= s.seconds <= WARMUP_SECONDS + 10]
    last = [s.rss_mib for s in run.samples if s.seconds >= STREAM_SECONDS - 20]
    growth = statistics.median(last) - statistics.median(warm)
    print(f"server RSS: {statistics.median(warm):.0f} MiB at {WARMUP_SECONDS} s, "
          f"{statistics.median(last):.0f} MiB at the end ({growth:+.0f} MiB)")
    # The stream really played all along (a stalled stream would keep memory flat too).
    fps = [s.fps for s in run.samples if s.seconds >= WARMUP_SECONDS]
    assert sum(1 for f in fps if f and f > 0) >= 0.8 * len(fps), f"the page showed no frame rate: {fps}"
    assert growth < MAX_GROWTH_MIB, \
        f"the server grew by {growth:.0f} MiB in {STREAM_SECONDS - WARMUP_SECONDS} s of streaming: " + \
        ", ".join(f"{s.seconds:.0f}s {s.rss_mib:.0f}" for s in run.samples)
    assert_no_exception(driver)
