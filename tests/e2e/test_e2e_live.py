"""Live camera, as a person uses it: Chromium's fake camera plays a video of a real face, the page's
Start button opens the WebRTC stream, the app's frame callback labels every frame, and Stop ends it.

The fps figure the page shows is written to docs/e2e_live_fps.json (the README quotes it). It is a
measurement, not asserted: it depends on the machine.

How far the labelled video lags the camera is measured too (docs/e2e_live_fps.json, ``overlay_lag_ms``),
and also not asserted. Every camera frame carries its number in a strip of big black and white
blocks (fake_camera.draw_frame_index), which survives VP8 both ways and the server's drawing (it is
above the face and its label). While the stream plays, LAG_JS, inside the WebRTC iframe, plays the
very camera stream the page sends (its MediaStream, kept by live_stream.RECORD_CAMERAS_JS) in a
second, small <video>, and for every frame either video presents (requestVideoFrameCallback) reads
the frame's number from that frame and notes a time: for the camera, when the camera captured it
(the callback's captureTime), for the page's video, when it was presented. The lag of a frame the
page shows is the difference: capture, encode, send, decode, find the face and classify it, draw,
encode, send back, decode and display, i.e. how far the labelled video is behind the camera, which
is what a person sees. Both times are taken inside the page on one clock, so the test's own
polling (a WebDriver round trip takes 100 ms and more on a loaded machine) does not enter the
figure. Camera frames without a record get their capture time by interpolation between their
neighbours (_video_lag); the fake camera loops every 10 s, so a number is matched with its latest
capture before the page showed it.

The boxes are drawn on the very frame they were found in, so the overlay itself cannot lag the
video; the test checks that too: on frames grabbed from the page's video, read by their number, the
drawn box sits on the face of that camera frame, and a fit of the box's position against the face's
motion shows which frame the box came from (``overlay_box_frame_offset``: 0 = the same frame).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import statistics
import subprocess
import time

import cv2
import numpy as np

from fer_core import EMOTIONS, HaarFaceDetector
from fer_core.emotions import color_bgr

from .conftest import (CHROMIUM, DOCS, app_idle, assert_no_exception, open_page, screenshot, wait_for,
                       wait_until)
from .fake_camera import (BLOCK, INDEX_BLOCKS, INDEX_REF, INDEX_X, INDEX_Y, face_track, moving_face_frames,
                          read_frame_index, read_y4m)
from .live_stream import button, connection_status, press_start, record_cameras

WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
LABEL_RE = re.compile(rf"^({'|'.join(EMOTIONS)}) · (\d+)%$")
SAMPLE_SECONDS = 12  # how long the test watches the page while the stream plays
MIN_LOOKS = 16  # and at least this many looks (a starved machine answers slowly)
GRABS = 20  # frames grabbed from the page's video to check the boxes drawn on them

VIDEO_STATE_JS = """
const v = document.querySelector('video');
if (!v) return null;
const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
return {width: v.videoWidth, height: v.videoHeight, time: v.currentTime, ready: v.readyState,
        frames: q.totalVideoFrames || 0, live: !!(v.srcObject && v.srcObject.active)};
"""
GRAB_FRAME_JS = """
const v = document.querySelector('video');
if (!v || v.readyState < 2 || !v.videoWidth) return null;
const c = document.createElement('canvas');
c.width = v.videoWidth; c.height = v.videoHeight;
c.getContext('2d').drawImage(v, 0, 0);
return c.toDataURL('image/png');
"""


STRIP_BOTTOM = INDEX_Y + BLOCK + 16  # rows above this hold the frame-number strip, not the overlay

# Started inside the WebRTC iframe once the stream plays; reads back with LAG_RESULT_JS. See the
# module docstring. read() is fake_camera.read_frame_index: each block of the strip is drawn into an
# 8x8 cell of a small canvas and read as the mean of its inner 4x4 pixels.
LAG_JS = """
if (window.__ferLag) return 'already running';
const out = document.querySelector('video');
const stream = (window.__ferCameras || []).filter(s => s.active).pop();
if (!out || !stream) return 'no ' + (out ? 'camera stream' : 'video element');
if (!out.requestVideoFrameCallback) return 'no requestVideoFrameCallback in this browser';
const [REF, X, Y, B, NB] = arguments;
const cam = document.createElement('video');
cam.id = 'fer-lag-camera'; cam.muted = true; cam.playsInline = true; cam.autoplay = true;
cam.style.cssText = 'position:fixed;left:0;bottom:0;width:64px;height:48px;pointer-events:none';
cam.srcObject = stream;
document.body.appendChild(cam);
cam.play().catch(() => {});
const L = window.__ferLag = {camera: [], shown: [], calls: 0, running: true, cam: cam};
const canvas = document.createElement('canvas');
canvas.width = NB * 8; canvas.height = 8;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
function read(v) {
  const w = v.videoWidth;
  if (!w || !v.videoHeight) return null;
  const s = w / REF;
  ctx.drawImage(v, X * s, Y * s, NB * B * s, B * s, 0, 0, NB * 8, 8);
  const d = ctx.getImageData(0, 0, NB * 8, 8).data, lv = [];
  for (let k = 0; k < NB; k++) {
    let sum = 0;
    for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) {
      const i = (y * NB * 8 + k * 8 + x) * 4;
      sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    }
    lv.push(sum / 16);
  }
  const black = lv[0], white = lv[1];
  if (white - black < 100) return null;
  const bits = [];
  for (const level of lv.slice(2)) {
    const t = (level - black) / (white - black);
    if (t > 0.3 && t < 0.7) return null;
    bits.push(t >= 0.5 ? 1 : 0);
  }
  const data = bits.slice(0, -1);
  if (data.reduce((a, b) => a + b, 0) % 2 !== bits[bits.length - 1]) return null;
  let index = 0, bit = 0;
  for (const g of data) { bit ^= g; index = index * 2 + bit; }  // Gray code to binary
  return index;
}
// Camera frames: when the camera captured them (captureTime; the preview's presentation time where the
// browser gives none), every 4th frame the preview presents (the camera's clock is steady, and each
// read costs the browser a frame conversion that would slow the stream). Page frames: every one,
// when the page presented it. Frame numbers: null = unreadable.
function onCamera(now, meta) {
  if (!L.running) return;
  if (L.calls++ % 4 === 0 && L.camera.length < 20000)
    L.camera.push([read(cam), meta.captureTime || meta.presentationTime]);
  cam.requestVideoFrameCallback(onCamera);
}
function onOutput(now, meta) {
  if (!L.running) return;
  if (L.shown.length < 20000) L.shown.push([read(out), meta.presentationTime]);
  out.requestVideoFrameCallback(onOutput);
}
cam.requestVideoFrameCallback(onCamera);
out.requestVideoFrameCallback(onOutput);
return 'started';
"""
LAG_RESULT_JS = """
const L = window.__ferLag;
if (!L) return null;
L.running = false;
if (L.cam) { L.cam.srcObject = null; L.cam.remove(); }
return {camera: L.camera, shown: L.shown};
"""

# A snapshot of the WebRTC statistics of the page's connection (kept by live_stream.RECORD_CAMERAS_JS):
# the video it sends (the camera) and the video it receives (the labelled frames), and the round trip.
STATS_JS = """
const done = arguments[arguments.length - 1];
const pc = (window.__ferPeers || []).filter(p => p.connectionState === 'connected').pop();
if (!pc) { done(null); return; }
const KEEP = {
  'outbound-rtp': ['framesEncoded', 'totalEncodeTime', 'packetsSent', 'totalPacketSendDelay', 'framesSent'],
  'inbound-rtp': ['framesDecoded', 'totalDecodeTime', 'jitterBufferDelay', 'jitterBufferEmittedCount',
                  'totalProcessingDelay', 'framesReceived', 'framesDropped', 'packetsLost', 'packetsReceived'],
};
pc.getStats().then(report => {
  const out = {time: performance.now()};
  report.forEach(s => {
    if (KEEP[s.type] && s.kind === 'video') {
      out[s.type] = {};
      for (const k of KEEP[s.type]) out[s.type][k] = s[k] || 0;
    }
    if (s.type === 'candidate-pair' && s.nominated && s.currentRoundTripTime !== undefined)
      out.rtt = s.currentRoundTripTime;
  });
  done(out);
}).catch(e => done({error: String(e)}));
"""


def _lag_breakdown(before: dict | None, after: dict | None, lag_ms: float, server_ms: float | None) -> dict:
    """Where the capture-to-screen time goes, per frame, from two STATS_JS snapshots: the browser's
    encoding of the camera (and the wait for the network's pacer), the network (half the round trip,
    each way), the browser's receive side (from the first packet of a frame to its decoding: the
    jitter buffer, in which frames wait for a steady playout, and the decoder), the server's analysis
    (the page's 'ms per frame'), and what remains: the server's WebRTC work (receiving, decoding,
    handing the frame to the analysis thread and its result back, which streamlit-webrtc does at the
    next incoming frame, encoding) and rendering."""
    if not before or not after or "error" in before or "error" in after:
        return {"error": (after or before or {}).get("error", "no WebRTC statistics")}

    def per(kind, total, count, scale=1000.0):
        d_total = after[kind][total] - before[kind][total]
        d_count = after[kind][count] - before[kind][count]
        return round(scale * d_total / d_count, 1) if d_count > 0 else None

    parts = {
        "browser_encode": per("outbound-rtp", "totalEncodeTime", "framesEncoded"),
        "browser_send_pacing": per("outbound-rtp", "totalPacketSendDelay", "packetsSent"),
        "network_both_ways": round(1000 * after.get("rtt", 0.0), 1),
        "browser_jitter_buffer": per("inbound-rtp", "jitterBufferDelay", "jitterBufferEmittedCount"),
        "browser_receive_to_decoded": per("inbound-rtp", "totalProcessingDelay", "framesDecoded"),
        "browser_decode": per("inbound-rtp", "totalDecodeTime", "framesDecoded"),
        "server_analysis": server_ms,
    }
    known = [parts[k] for k in ("browser_encode", "browser_send_pacing", "network_both_ways",
                                "browser_receive_to_decoded", "server_analysis")]
    parts["rest_server_webrtc_and_render"] = round(lag_ms - sum(v for v in known if v), 1)
    seconds = (after["time"] - before["time"]) / 1000
    inbound = {k: after["inbound-rtp"][k] - before["inbound-rtp"][k]
               for k in ("framesReceived", "framesDecoded", "framesDropped", "packetsLost", "packetsReceived")}
    return {"ms_per_frame": parts, "seconds": round(seconds, 1),
            "received_fps": round(inbound["framesDecoded"] / seconds, 1) if seconds > 0 else None,
            "received": inbound,
            "note": "browser_receive_to_decoded includes browser_jitter_buffer and browser_decode"}


def _in_iframe(driver, iframe, fn):
    driver.switch_to.frame(iframe)
    try:
        return fn()
    finally:
        driver.switch_to.default_content()


def _label_state(driver) -> dict:
    """What the page says below the video: the label text, its emotion and the fps figure."""
    return driver.execute_script("""
        const e = document.getElementById('fer-live-emotion'), f = document.getElementById('fer-live-fps');
        return {text: e ? e.innerText.trim() : null, emotion: e ? e.dataset.emotion : null,
                confidence: e ? e.dataset.confidence : null,
                fps: f ? parseFloat(f.dataset.fps) : null, fps_text: f ? f.innerText.trim() : null};
    """)


def _grab_frame(driver) -> np.ndarray | None:
    url = driver.execute_script(GRAB_FRAME_JS)
    if not url:
        return None
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def _color_pixels(image_bgr: np.ndarray, emotion: str, tolerance: int = 40) -> int:
    """Pixels within ``tolerance`` (per channel) of the emotion's overlay colour, below the frame-number
    strip (its black and white blocks turn grey at their edges when compressed)."""
    target = np.array(color_bgr(emotion), np.int16)
    image = image_bgr[round(STRIP_BOTTOM * image_bgr.shape[0] / 480):]
    return int((np.abs(image.astype(np.int16) - target).max(axis=2) <= tolerance).sum())


def _drawn_box_columns(frame_bgr: np.ndarray, camera_bgr: np.ndarray) -> tuple[float, float] | None:
    """Left and right edge (x, 640x480 pixels) of the one box drawn on ``frame_bgr``, the camera's
    ``camera_bgr`` with the overlay: pixels in an emotion colour that the camera frame does not have
    there, and of those the columns that hold a box side (a side is as tall as the box; the label
    plate is a fraction of that). None when there is no such box (no face found in that frame)."""
    frame_bgr = cv2.resize(frame_bgr, (640, 480)) if frame_bgr.shape[:2] != (480, 640) else frame_bgr
    f, c = frame_bgr[STRIP_BOTTOM:].astype(np.int16), camera_bgr[STRIP_BOTTOM:].astype(np.int16)
    changed = np.abs(f - c).max(axis=2) > 60
    coloured = np.zeros_like(changed)
    for emotion in EMOTIONS:
        coloured |= np.abs(f - np.array(color_bgr(emotion), np.int16)).max(axis=2) <= 50
    per_column = (changed & coloured).sum(axis=0)
    if per_column.max() < 40:  # a box side is ~100 px tall here
        return None
    columns = np.flatnonzero(per_column >= 0.5 * per_column.max())
    groups = np.split(columns, np.flatnonzero(np.diff(columns) > 4) + 1)
    if len(groups) != 2:
        return None
    return float(groups[0].mean()), float(groups[1].mean())


def _video_lag(camera: list, shown: list, loop: int, max_gap: int = 30) -> dict:
    """Match LAG_JS's records: for each frame the page showed (first showing of each frame number),
    how long after the camera captured that frame. ``camera`` and ``shown`` are [frame number or None,
    time in ms]; the camera counts up and wraps at ``loop``. Camera frames without a record (the
    preview presents at most one per screen refresh, fewer on a busy machine, and LAG_JS reads every
    4th) get their time by interpolation between the nearest recorded ones, if those are at most
    ``max_gap`` frames apart: the fake camera captures on a steady clock (33-34 ms a frame, within
    ~50 ms of a straight line over 10 s on a loaded 2-core machine)."""
    numbers, times, base, last = [], [], 0, None
    for k, t in camera:
        if k is None:
            continue
        if last is not None and k < last:
            if last - k < loop // 2:
                continue  # out of order: not expected, not used
            base += loop
        numbers.append(base + k)
        times.append(t)
        last = k
    numbers, times = np.array(numbers, float), np.array(times, float)
    lags, repeats, unmatched, previous = [], 0, 0, None
    for k, t in shown:
        if k is None:
            continue
        if k == previous:
            repeats += 1  # the same frame again (the server resent its last one)
            continue
        previous = k
        # The camera's latest showing of this number before the page showed it (the camera loops).
        u = max((u for u in range(k, int(numbers[-1]) + 1 if len(numbers) else 0, loop)
                 if u >= numbers[0] and np.interp(u, numbers, times) <= t), default=None)
        i = int(np.searchsorted(numbers, u)) if u is not None else 0
        if u is None or (numbers[i] != u and numbers[i] - numbers[i - 1] > max_gap):
            unmatched += 1  # shown before the camera's record began, or its neighbours are too far apart
        else:
            lags.append(t - float(np.interp(u, numbers, times)))
    return {"lags": lags, "repeats": repeats, "unmatched": unmatched,
            "camera_read": len(numbers), "camera_unreadable": sum(k is None for k, _ in camera),
            "shown": len(shown), "shown_unreadable": sum(k is None for k, _ in shown)}


def _check_overlay_frames(grabs: list[np.ndarray], fake_camera) -> dict:
    """Each grabbed frame of the page's video, read by its frame number: its drawn box is on the face
    of that camera frame, and (a least-squares fit over all of them) comes from that frame, not an
    older one. Returns the figures for the record."""
    xs = face_track()[0]
    n = len(xs)
    # Where the face is in a camera frame: the thorough detector on frame 0 (without the strip),
    # moved with the portrait (it slides rigidly).
    first = next(iter(moving_face_frames(frame_index=False)))
    (fx, _, fw, _), = HaarFaceDetector().detect(first)
    offset = fx + fw / 2 - xs[0]
    numbered = [(k, g) for g in grabs if (k := read_frame_index(g)) is not None]
    assert len(numbered) >= 0.5 * len(grabs), \
        f"the frame number was readable in only {len(numbered)} of {len(grabs)} frames grabbed from the page's video"
    camera = dict(zip(sorted({k for k, _ in numbered}), read_y4m(fake_camera, sorted({k for k, _ in numbered}))))
    rows = []  # (frame number, drawn box centre x - face centre x in that frame, face speed px/frame)
    for k, grab in numbered:
        edges = _drawn_box_columns(grab, camera[k])
        if edges is None:
            continue
        centre = (edges[0] + edges[1]) / 2
        face_centre = xs[k] + offset
        assert abs(centre - face_centre) < 0.25 * fw, \
            f"frame {k}: the box drawn on it is centred at x={centre:.0f}, its face at x={face_centre:.0f}"
        rows.append((k, centre - face_centre, (xs[(k + 1) % n] - xs[(k - 1) % n]) / 2))
    assert len(rows) >= 0.5 * len(numbered), \
        f"a box was found on only {len(rows)} of {len(numbered)} numbered frames"
    # A box from frame k - d would sit d * speed behind the face: fit error = bias - d * speed.
    error, speed = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    fit = None
    if len(rows) >= 6 and (speed > 1).sum() >= 2 and (speed < -1).sum() >= 2:
        _, slope = np.linalg.lstsq(np.stack([np.ones_like(speed), speed], 1), error, rcond=None)[0]
        fit = round(float(-slope), 2)
        assert abs(fit) <= 3, f"the boxes lag the faces they are drawn on by {fit} frames: {rows}"
    return {"frames_grabbed": len(grabs), "frames_numbered": len(numbered), "frames_with_a_box": len(rows),
            "box_centre_error_px_median": round(float(np.median(np.abs(error))), 1),
            "overlay_box_frame_offset": fit}


def _chromium_version() -> str:
    try:
        return subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def test_live_camera_labels_the_face_and_stops(app_server, make_browser, fake_camera):
    driver = make_browser(fake_video=fake_camera)
    record_cameras(driver)  # keeps the page's camera stream at hand for the lag measurement
    open_page(driver, app_server, "live")
    assert_no_exception(driver)
    iframe = wait_for(driver, WEBRTC_IFRAME, timeout=60)

    # Before Start: no stream, the page waits for the camera.
    idle = wait_until(lambda: (s := _label_state(driver))["text"] is not None and s, 30,
                      "the live page shows no emotion line below the video")
    assert idle["text"] == "Waiting for the camera…", idle
    assert idle["fps"] == 0.0, idle

    # Start the stream. Processed frames arrive: the <video> (SENDRECV: it plays what the server sends
    # back) gets frames.
    def playing():
        state = _in_iframe(driver, iframe, lambda: driver.execute_script(VIDEO_STATE_JS))
        return state if state and state["live"] and state["frames"] >= 30 and state["width"] > 0 else None

    video = press_start(driver, playing, 90)
    assert (video["width"], video["height"]) == (640, 480), video

    # The page shows an emotion label and a frame rate from the frame callback.
    first = wait_until(lambda: (s := _label_state(driver))["emotion"] in EMOTIONS and s, 60,
                       f"no emotion label appeared below the video; the page says {_label_state(driver)}")
    assert LABEL_RE.match(first["text"]), first
    wait_until(lambda: (_label_state(driver)["fps"] or 0) > 0, 30, "the page never showed a frame rate above 0")

    # Watch the page for a while: the label keeps coming and the figures keep changing. Meanwhile the
    # page times every frame of both videos (LAG_JS).
    lag_start = _in_iframe(driver, iframe, lambda: driver.execute_script(
        LAG_JS, INDEX_REF, INDEX_X, INDEX_Y, BLOCK, INDEX_BLOCKS))
    assert lag_start == "started", f"could not start the lag measurement: {lag_start}"
    stats_before = _in_iframe(driver, iframe, lambda: driver.execute_async_script(STATS_JS))
    video_frames = lambda: _in_iframe(driver, iframe, lambda: driver.execute_script(VIDEO_STATE_JS))["frames"]  # noqa: E731
    frames_seen = [video_frames()]
    samples, started = [], time.monotonic()
    while (time.monotonic() - started < SAMPLE_SECONDS or len(samples) < MIN_LOOKS) \
            and time.monotonic() - started < 5 * SAMPLE_SECONDS:
        samples.append(_label_state(driver))
        time.sleep(0.5)
    frames_seen.append(video_frames())
    stats_after = _in_iframe(driver, iframe, lambda: driver.execute_async_script(STATS_JS))
    lag = _in_iframe(driver, iframe, lambda: driver.execute_script(LAG_RESULT_JS))
    # Then frames for the checks of the overlay below (grabbing them costs the browser CPU time,
    # which would lower the figures above on a small machine).
    grabs = []
    for _ in range(GRABS):
        if (grab := _in_iframe(driver, iframe, lambda: _grab_frame(driver))) is not None:
            grabs.append(grab)
        time.sleep(0.3)
    labelled = [s for s in samples if s["emotion"] in EMOTIONS]
    # The face is in every frame. On a starved machine Chromium's encoder lowers the video quality and
    # a frame here and there loses its face, so at least half the looks must show a label; a callback
    # that produces no labels shows none.
    assert len(labelled) >= 0.5 * len(samples), f"the label was missing in {len(samples) - len(labelled)} " \
                                                 f"of {len(samples)} looks at the page: {samples}"
    for s in labelled:
        assert LABEL_RE.match(s["text"]), s
        assert re.fullmatch(r"Frames per second: \d+\.\d", s["fps_text"].split(" · ")[0]), s
    assert len({(s["confidence"], s["fps"]) for s in samples}) > 1, "the page stopped updating while playing"
    assert frames_seen[-1] > frames_seen[0], "the video froze while playing"

    # The frames the browser shows carry the overlay: the label's colour (box and label plate) is on
    # them, and the camera's own frames hardly have that colour at all.
    label = labelled[-1]["emotion"]
    camera_frames = read_y4m(fake_camera)[::30]
    camera_max = max(_color_pixels(f, label) for f in camera_frames)
    overlay = [_color_pixels(f, label) for f in grabs[:5]]
    assert overlay, "could not read a frame from the video"
    print(f"\n{label} overlay pixels in the video: {overlay}; in the camera's frames at most {camera_max}")
    assert max(overlay) > camera_max + 400, \
        f"no {label} overlay in the video frames ({overlay} pixels of its colour, camera alone: {camera_max})"

    # Every frame the page shows is a numbered camera frame, and its box is on that frame's face.
    boxes = _check_overlay_frames(grabs, fake_camera)
    print(f"overlay boxes: {boxes}")
    # How far the labelled video lags the camera (module docstring): measured, not asserted; what is
    # asserted is that the measurement works, i.e. that the page's frames can be told apart.
    assert lag is not None, "the lag measurement stopped (the iframe was reloaded?)"
    timing = _video_lag(lag["camera"], lag["shown"], loop=len(face_track()[0]))
    assert timing["shown"] > 0 and timing["camera_read"] > 0, \
        f"no video frame was presented while the test watched: {({k: v for k, v in timing.items() if k != 'lags'})}"
    assert timing["shown_unreadable"] <= 0.5 * timing["shown"], \
        f"the frame number was unreadable in {timing['shown_unreadable']} of the {timing['shown']} frames the page showed"
    assert len(timing["lags"]) >= 10 and len(timing["lags"]) >= 2 * timing["unmatched"], \
        f"only {len(timing['lags'])} frames the page showed were matched with the camera's: " \
        f"{({k: v for k, v in timing.items() if k != 'lags'})}"
    lags = np.array(timing["lags"])
    overlay_lag = {
        "median": round(float(np.median(lags)), 1), "p95": round(float(np.percentile(lags, 95)), 1),
        "min": round(float(lags.min()), 1), "max": round(float(lags.max()), 1), "frames_timed": len(lags),
        **{k: v for k, v in timing.items() if k != "lags"},
        "method": "per frame shown by the page (first showing): the time the page's annotated video presented "
                  "camera frame k minus the time the camera captured frame k (requestVideoFrameCallback on the "
                  "page's video and on a preview of the camera stream it sends; frame numbers read from a strip "
                  "in each frame); tests/e2e/test_e2e_live.py",
    }
    print(f"labelled video behind the camera: {overlay_lag}")

    fps_values = [s["fps"] for s in labelled if s["fps"]]
    ms_values = [float(m.group(1)) for s in labelled if (m := re.search(r"(\d+) ms per frame", s["fps_text"]))]
    breakdown = _lag_breakdown(stats_before, stats_after, overlay_lag["median"],
                               statistics.median(ms_values) if ms_values else None)
    print(f"where the lag goes: {breakdown}")
    overlay_lag["breakdown"] = breakdown
    model = driver.execute_script(  # the sidebar's model selector
        "const s = document.querySelector('[data-testid=stSidebar] [data-testid=stSelectbox] input');"
        "return s ? s.value : null;")
    record = {
        "page_fps_median": round(statistics.median(fps_values), 1),
        "page_fps_max": round(max(fps_values), 1),
        "page_fps_samples": fps_values,
        "camera": "640x480 at 30 fps, Chromium's fake camera playing tests/e2e/fake_camera.py's y4m",
        "page_ms_per_frame_median": statistics.median(ms_values) if ms_values else None,
        "overlay_lag_ms": overlay_lag,
        "overlay_boxes": boxes,
        "model": model,
        "last_label": labelled[-1]["text"],
        "machine": {"cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "chromium": _chromium_version()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    DOCS.mkdir(exist_ok=True)
    (DOCS / "e2e_live_fps.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nlive page fps: median {record['page_fps_median']}, max {record['page_fps_max']}; video behind "
          f"the camera: median {overlay_lag['median']} ms, p95 {overlay_lag['p95']} ms "
          f"({os.cpu_count()} CPUs, load {record['machine']['load_average_1min']})")
    screenshot(driver, "live")
    assert_no_exception(driver)

    # The page says how it is connected: on the same machine without ICE servers, directly.
    status = wait_until(lambda: (s := connection_status(driver)).get("route") and s, 30,
                        f"the page never said how it is connected: {connection_status(driver)}")
    assert (status["state"], status["route"], status["text"]) == ("connected", "direct", "Connected (direct)"), status

    # Stop (the page's own button): the stream ends, the button says Start again and the page goes
    # back to waiting.
    stop = button(driver, "Stop")
    assert stop is not None, "no Stop button while playing"
    stop.click()

    def stopped():  # (the component's iframe may be drawn anew meanwhile: found again each time)
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            state = _in_iframe(driver, wait_for(driver, WEBRTC_IFRAME, timeout=10),
                               lambda: driver.execute_script(VIDEO_STATE_JS))
        except StaleElementReferenceException:
            return None
        start_again = button(driver, "Start")
        return start_again is not None and (state is None or not state["live"])

    wait_until(stopped, 30, "the stream did not stop after Stop")
    app_idle(driver, 60)
    wait_until(lambda: connection_status(driver).get("state") == "idle", 30,
               f"the page does not say the stream is off after Stop: {connection_status(driver)}")
    wait_until(lambda: _label_state(driver)["text"] == "Waiting for the camera…", 30,
               f"the page still shows a live label after Stop: {_label_state(driver)}")
    after = _label_state(driver)
    assert after["fps"] == 0.0, after
    time.sleep(2)
    assert _label_state(driver) == after, "the page kept changing after Stop"
    assert_no_exception(driver)
