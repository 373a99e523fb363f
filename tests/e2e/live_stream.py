"""Driving the live page's stream from a test or a benchmark, and watching the server process.

Used by the robustness tests (threads, memory, several users) and by benchmarks/bench_stream_memory.py
and benchmarks/bench_concurrency.py. Linux only: the server's threads and memory are read from /proc.
"""

from __future__ import annotations

import time
from pathlib import Path

from fer_core import EMOTIONS

WAITING = "Waiting for the camera…"  # the label below the video when no stream plays
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'

# Runs before any page script in every frame (the WebRTC component lives in an iframe): keeps a
# handle on each camera stream the page opens, so a test can "unplug" the camera by ending its tracks.
RECORD_CAMERAS_JS = """
(() => {
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia || md.__ferRecorded) return;
  const original = md.getUserMedia.bind(md);
  window.__ferCameras = [];
  md.getUserMedia = async (constraints) => {
    const stream = await original(constraints);
    window.__ferCameras.push(stream);
    return stream;
  };
  md.__ferRecorded = true;
  // And each peer connection, for its WebRTC statistics (test_e2e_live's lag breakdown).
  const PC = window.RTCPeerConnection;
  if (PC) {
    window.__ferPeers = [];
    window.RTCPeerConnection = function (...args) {
      const pc = new PC(...args);
      window.__ferPeers.push(pc);
      return pc;
    };
    window.RTCPeerConnection.prototype = PC.prototype;
    Object.setPrototypeOf(window.RTCPeerConnection, PC);  // its static methods
  }
})();
"""

VIDEO_STATE_JS = """
const v = document.querySelector('video');
if (!v) return null;
const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
return {width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames || 0,
        live: !!(v.srcObject && v.srcObject.active)};
"""

LABEL_STATE_JS = """
const e = document.getElementById('fer-live-emotion'), f = document.getElementById('fer-live-fps');
return {text: e ? e.innerText.trim() : null, emotion: e ? e.dataset.emotion : null,
        fps: f ? parseFloat(f.dataset.fps) : null};
"""


# ------------------------------------------------------------------------------------- the server process

def thread_count(pid: int) -> int:
    """Threads of process ``pid`` (its /proc/<pid>/task entries)."""
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def thread_names(pid: int) -> list[str]:
    """The kernel's names of the process's threads (Python threads show as the interpreter's name
    unless renamed; native ones such as aiortc's codecs or ICE may have their own)."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:
            pass
    return sorted(names)


def settle_threads(pid: int, limit: int, timeout: float = 60.0) -> int:
    """Wait (up to ``timeout`` s) for the thread count to drop to ``limit`` or below; return the
    last count. Streams end asynchronously (ICE, decoder and worker threads close one by one)."""
    deadline = time.monotonic() + timeout
    while True:
        n = thread_count(pid)
        if n <= limit or time.monotonic() > deadline:
            return n
        time.sleep(1.0)


# ------------------------------------------------------------------------------------------ the live page

def record_cameras(driver) -> None:
    """Install RECORD_CAMERAS_JS (camera streams and peer connections) in every document this browser
    opens from now on (call before the page)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CAMERAS_JS})


def in_iframe(driver, fn, iframe=None):
    from selenium.webdriver.common.by import By

    iframe = iframe or driver.find_element(By.CSS_SELECTOR, WEBRTC_IFRAME)
    driver.switch_to.frame(iframe)
    try:
        return fn()
    finally:
        driver.switch_to.default_content()


def button(driver, text: str):
    """The visible button with exactly this text in the current frame, or None."""
    from selenium.webdriver.common.by import By

    for b in driver.find_elements(By.TAG_NAME, "button"):
        try:
            if b.text.strip().lower() == text.lower() and b.is_displayed():
                return b
        except Exception:  # noqa: BLE001 - re-rendered while we looked
            continue
    return None


def label_state(driver) -> dict:
    """What the page shows below the video: the label's text and emotion, and the fps figure."""
    return driver.execute_script(LABEL_STATE_JS) or {}


def video_state(driver) -> dict | None:
    return in_iframe(driver, lambda: driver.execute_script(VIDEO_STATE_JS))


def _poll(predicate, timeout: float, message, interval: float = 0.5):
    """Poll ``predicate()`` until it returns something truthy (``message``, a text or a function giving
    one, explains a timeout); an element that is missing or being re-rendered (the iframe appears late,
    Streamlit replaces nodes) counts as not yet."""
    from selenium.common.exceptions import ElementClickInterceptedException, NoSuchElementException, \
        NoSuchFrameException, StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (NoSuchElementException, NoSuchFrameException, StaleElementReferenceException,
                ElementClickInterceptedException):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)


def click_on_page(driver, text: str, timeout: float = 60) -> None:
    """Click the live page's own button labelled ``text`` (Start / Stop), waiting for it. (The page
    drives the WebRTC component through desired_playing_state: the component shows no buttons.)"""
    def click():
        b = button(driver, text)
        if b is None:
            return False
        b.click()
        return True

    _poll(click, timeout, f"no {text} button on the live page")


def connection_status(driver) -> dict:
    """The page's words about the connection (#fer-live-status): text, state and route."""
    return driver.execute_script(
        "const s = document.getElementById('fer-live-status');"
        "return s ? {text: s.innerText.trim(), state: s.dataset.state, route: s.dataset.route} : {};") or {}


def press_start(driver, until, timeout: float = 120):
    """Press the page's Start once and poll ``until()`` (the caller's sign that the stream plays) for
    ``timeout`` s; returns its value. A connection that drops meanwhile is the page's to restore
    (it reconnects by itself): the test does not press Start again. Reconnections are printed."""
    click_on_page(driver, "Start", timeout)
    seen = []

    def playing():
        state = connection_status(driver).get("state")
        if state and (not seen or seen[-1] != state):
            seen.append(state)
        return until()

    value = _poll(playing, timeout, lambda: f"the stream did not start within {timeout:.0f} s "
                  f"(connection states {seen}): {_stream_report(driver)}")
    if "reconnecting" in seen:
        print(f"the stream reconnected by itself before playing: states {seen}; {_stream_report(driver)}")
    return value


def _stream_report(driver) -> str:
    try:  # the component logs each change of its connection's state to the console
        states = [m["message"].rsplit(" ", 1)[-1] for m in driver.get_log("browser")
                  if "connectionstatechange" in m.get("message", "")]
    except Exception:  # noqa: BLE001 - only for a message
        states = "(unknown)"
    component = _safe(lambda: in_iframe(driver, lambda: driver.find_element("tag name", "body").text))
    return (f"the page says {label_state(driver)} and {connection_status(driver)}, its video "
            f"{_safe(lambda: video_state(driver))}, the component {component!r}, browser connection states {states}")


def start_stream(driver, timeout: float = 120) -> dict:
    """Press Start and wait until the page labels a face; returns the label state."""
    _poll(lambda: label_state(driver).get("text") == WAITING, timeout,
          lambda: f"the page is not waiting for the camera before Start: {label_state(driver)}")
    return press_start(driver, lambda: (s := label_state(driver)).get("emotion") in EMOTIONS and s, timeout)


def wait_for_label(driver, timeout: float = 120) -> dict:
    try:
        return _poll(lambda: (s := label_state(driver)).get("emotion") in EMOTIONS and s, timeout, "")
    except AssertionError:
        component = _safe(lambda: in_iframe(driver, lambda: driver.find_element("tag name", "body").text))
        raise AssertionError(f"no emotion label appeared below the video within {timeout:.0f} s; the page says "
                             f"{label_state(driver)}, its video {_safe(lambda: video_state(driver))}, "
                             f"the component {component!r}") from None


def wait_until_streaming(driver, min_fps: float = 5.0, timeout: float = 60) -> dict:
    """Wait until the page labels a face while processing at least ``min_fps`` frames per second
    (a stream catching up after a stall shows its last label at a low rate first)."""
    return _poll(lambda: (s := label_state(driver)).get("emotion") in EMOTIONS and (s.get("fps") or 0) >= min_fps
                 and s, timeout, lambda: f"the stream did not recover within {timeout:.0f} s: {label_state(driver)}")


def _safe(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - only for a failure message
        return f"({type(exc).__name__})"


def stop_stream(driver, timeout: float = 60) -> None:
    """Press Stop and wait until the stream has ended, Start is offered again and the page has gone
    back to waiting (so that the next start_stream sees a fresh label, not this stream's last one)."""
    click_on_page(driver, "Stop", timeout)

    def stopped():
        state = in_iframe(driver, lambda: driver.execute_script(VIDEO_STATE_JS))
        return button(driver, "Start") is not None and (state is None or not state["live"])

    _poll(stopped, timeout, "the stream did not stop after Stop")
    _poll(lambda: label_state(driver).get("text") == WAITING, timeout,
          lambda: f"the page still shows a live label after Stop: {label_state(driver)}")


def unplug_camera(driver) -> int:
    """End every camera track the page opened, as when a USB camera is pulled out; returns how many."""
    return in_iframe(driver, lambda: driver.execute_script(
        "let n = 0; for (const s of (window.__ferCameras || [])) for (const t of s.getTracks())"
        " { if (t.readyState === 'live') { t.stop(); n++; } } return n;"))


def page_fps(driver) -> float | None:
    """The frames-per-second figure the page shows (#fer-live-fps data-fps)."""
    value = label_state(driver).get("fps")
    return float(value) if value is not None else None
