"""The live camera's plumbing: the connection as the page tells it (StreamWatch), the per-session
analyzer, the frame callback and the queue through which results leave the WebRTC thread for the page.
(The WebRTC settings, ICE servers and TURN credentials: dashboard.turn.)"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque

import numpy as np

from dashboard import turn
from fer_core import EMOTIONS, EmotionRecognizer, FrameReport, LiveAnalyzer

log = logging.getLogger(__name__)

MAX_WIDTH = 640
# Video only, at most 640 px wide; the browser picks the nearest mode its camera supports.
MEDIA_CONSTRAINTS = {
    "video": {"width": {"ideal": MAX_WIDTH, "max": MAX_WIDTH}, "height": {"ideal": 480, "max": 480},
              "frameRate": {"ideal": 30, "max": 30}},
    "audio": False,
}
QUEUE_SIZE = 90  # about 3 s of reports; when full the oldest is dropped
TIMELINE_SECONDS = 30.0
TRACK_EVERY = 10  # whole-frame face search every this many frames; near the known faces in between
# Seconds from the browser's offer without a connection: "could not connect" (the page uses the
# operator's FER_CONNECT_TIMEOUT, dashboard.turn; this is its default).
CONNECT_TIMEOUT = turn.DEFAULT_CONNECT_TIMEOUT
CAMERA_TIMEOUT = 120.0  # seconds after Start without an offer (camera not allowed or busy): "no camera"


class StreamWatch:
    """The stream a person asked for, as the page sees it from run to run: connecting, connected,
    reconnecting (the connection dropped; streamlit-webrtc's frontend makes a new one by itself while
    the page wants the stream), failed (the browser sent its offer but no connection came within
    ``timeout`` seconds: no route to the server, the page stops trying), no-camera (no offer within
    ``camera_timeout`` s: the camera was not allowed or would not open) or idle. Free of Streamlit;
    the page keeps one per session."""

    def __init__(self, timeout: float = CONNECT_TIMEOUT, camera_timeout: float = CAMERA_TIMEOUT):
        self.timeout = timeout
        self.camera_timeout = camera_timeout
        self.wanted = False
        self.state = "idle"
        self.since = 0.0  # when the current attempt began (Start, the drop, or the browser's offer)
        self.offered = False  # the browser has sent an offer in this attempt (its camera is open)
        self.reconnections = 0

    def start(self, now: float | None = None) -> None:
        self.wanted, self.state, self.offered = True, "connecting", False
        self.since = time.monotonic() if now is None else now

    def stop(self) -> None:
        self.wanted, self.state = False, "idle"

    def camera_failed(self) -> None:
        """The browser could not open the camera (not allowed, none, busy): stop trying, say so."""
        self.wanted, self.state = False, "no-camera"

    def observe(self, playing: bool, signalling: bool = False, now: float | None = None) -> str:
        """The state after the component reported ``playing`` / ``signalling`` (an offer is out);
        gives up after the timeouts."""
        now = time.monotonic() if now is None else now
        if not self.wanted:
            return self.state
        if playing:
            if self.state == "reconnecting":
                self.reconnections += 1
            self.state = "connected"
            return self.state
        if self.state == "connected":
            self.state, self.since, self.offered = "reconnecting", now, False
        if signalling and not self.offered:
            self.offered, self.since = True, now
        if self.offered and now - self.since > self.timeout:
            self.wanted, self.state = False, "failed"
        elif not self.offered and now - self.since > self.camera_timeout:
            self.wanted, self.state = False, "no-camera"
        return self.state


STATUS_TEXT = {
    "idle": "Press Start to open the camera.",
    "connecting": "Connecting to the server…",
    "connected": "Connected",
    "reconnecting": "The connection dropped: reconnecting…",
    "failed": ("Could not connect the video to the server. The browser found no network route to it: "
               "this network needs a TURN relay. Whoever runs this app can set one up as the README's "
               "section \u201cShare it with a link\u201d explains; then press Start again."),
    "no-camera": ("The camera did not start. Allow this page to use the camera (the browser asks next to "
                  "the address bar) and close other programs that use it, then press Start again."),
}


def status_text(state: str, route: str | None = None) -> str:
    """What the page says about the connection, e.g. "Connected (relayed through the TURN server)"."""
    text = STATUS_TEXT.get(state, STATUS_TEXT["idle"])
    if state == "connected" and route:
        text += " (relayed through the TURN server)" if route == "relayed" else " (direct)"
    return text


class LiveSession:
    """One browser session's stream: its LiveAnalyzer (smoothing state, fps) and its result queue.

    The WebRTC worker thread calls ``on_frame``; the page thread reads ``reports``. The analyzer is
    replaced (never mutated across threads) when the model, the face detector or the smoothing
    changes: the worker thread finishes its frame with the analyzer it took and picks up the new
    one at the next frame.
    """

    def __init__(self, recognizer: EmotionRecognizer, smoothing: int = 5, maxsize: int = QUEUE_SIZE,
                 track_every: int = TRACK_EVERY):
        self.reports: queue.Queue[FrameReport] = queue.Queue(maxsize=maxsize)
        self.track_every = track_every
        self.analyzer = LiveAnalyzer(recognizer, smoothing=smoothing, track_every=track_every)

    def configure(self, recognizer: EmotionRecognizer, smoothing: int) -> None:
        """Apply the sidebar's model and face detector (both carried by ``recognizer``) and the
        smoothing slider; called on every page run. Nothing changes unless one of them did."""
        current = self.analyzer
        same = (current.recognizer.classifier is recognizer.classifier
                and current.recognizer.detector is recognizer.detector
                and current.smoothing == max(1, int(smoothing)))
        if not same:  # a fresh analyzer (its own tracker for the new detector), one atomic swap
            self.analyzer = LiveAnalyzer(recognizer, smoothing=smoothing, track_every=self.track_every)

    def process(self, image_bgr: np.ndarray) -> np.ndarray:
        """Analyse one frame, queue its report (dropping the oldest when full), return the annotated frame."""
        analyzer = self.analyzer
        out, report = analyzer.process(image_bgr)
        self.publish(report)
        return out

    def publish(self, report: FrameReport) -> None:
        while True:
            try:
                self.reports.put_nowait(report)
                return
            except queue.Full:
                try:
                    self.reports.get_nowait()
                except queue.Empty:
                    pass

    def on_frame(self, frame):
        """streamlit-webrtc's video_frame_callback: av.VideoFrame in, annotated av.VideoFrame out."""
        import av

        try:
            image = frame.to_ndarray(format="bgr24")
        except Exception:  # an undecodable frame: pass it on untouched
            log.exception("could not convert a video frame")
            return frame
        out = self.process(image)
        # streamlit-webrtc copies pts and time_base from the input frame onto the returned one.
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(out), format="bgr24")

    def next_reports(self, timeout: float = 0.5) -> list[FrameReport]:
        """Block until at least one report arrives (or ``timeout``), then take all that are waiting."""
        try:
            got = [self.reports.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                got.append(self.reports.get_nowait())
            except queue.Empty:
                return got


class Timeline:
    """The main face's probabilities over the last ``seconds`` (frames without a face are gaps)."""

    def __init__(self, seconds: float = TIMELINE_SECONDS):
        self.seconds = seconds
        self.times: deque[float] = deque()
        self.probs: deque[np.ndarray] = deque()

    def add(self, report: FrameReport) -> None:
        face = report.main_face
        p = face.probabilities if face is not None else np.full(len(EMOTIONS), np.nan)
        self.times.append(report.time)
        self.probs.append(np.asarray(p, dtype=float))
        while self.times and report.time - self.times[0] > self.seconds:
            self.times.popleft()
            self.probs.popleft()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.times:
            return np.zeros(0), np.zeros((0, len(EMOTIONS)))
        return np.array(self.times), np.stack(self.probs)


def emotion_text(report: FrameReport | None) -> str:
    """'Happy · 87%' for the largest face, or a short note when there is none."""
    face = report.main_face if report is not None else None
    if face is None:
        return "No face in view"
    return f"{face.label} · {face.confidence:.0%}"


def fps_text(report: FrameReport | None) -> str:
    return f"Frames per second: {report.fps:.1f}" if report is not None else "Frames per second: 0.0"
