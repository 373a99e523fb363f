"""Live camera: every frame goes through the recognizer in the WebRTC thread; results come back here
through a bounded queue and are shown below the video while it plays.

Stable texts for browser tests (inside the main Streamlit document, not the WebRTC iframe):
  #fer-live-emotion  "Happy · 87%" (or "No face in view" / "Waiting for the camera…"), data-emotion
  #fer-live-fps      "Frames per second: 24.8", data-fps
  #fer-live-bars     7 rows .fer-bar[data-emotion=...] each with its percentage
  #fer-live-status   the connection in plain words, data-state idle / connecting / connected /
                     reconnecting / failed / no-camera, data-route direct / relayed once known

The page's own Start and Stop drive the WebRTC component (desired_playing_state): while the person
wants the stream, streamlit-webrtc's frontend reconnects by itself when the connection drops, and the
page says so; with no connection within FER_CONNECT_TIMEOUT seconds of the browser's offer (default 30)
it says it could not connect (and, without an offer at all, that the camera did not start).
Settings (TURN relay, ICE servers, that timeout): dashboard/turn.py.
"""

import html
import secrets
import time

import streamlit as st
import streamlit.components.v1 as components
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from dashboard import charts, turn
from dashboard.live import (MEDIA_CONSTRAINTS, TIMELINE_SECONDS, LiveSession, StreamWatch, Timeline, emotion_text,
                            fps_text, status_text)
from dashboard.state import selected_recognizer_with_detector
from dashboard.webrtc_session import connection_kind, take_new_offer
from dashboard.webrtc_tuning import install_webrtc_tunings
from fer_core import EMOTION_COLORS, EMOTIONS

STREAM_KEY = "fer-live"
# The browser's camera errors as streamlit-webrtc's component shows them (DOMException names).
CAMERA_GUARD_JS = """<script>
(() => {
  const doc = window.parent.document;
  let pressed = 0;
  const errors = /\\b(NotAllowedError|NotFoundError|NotReadableError|OverconstrainedError|SecurityError)\\b|Cannot create so many PeerConnections/;
  setInterval(() => {
    const frame = doc.querySelector('iframe[title="streamlit_webrtc.component.webrtc_streamer"]');
    let text = "";
    try { text = frame && frame.contentDocument ? frame.contentDocument.body.innerText : ""; } catch (e) { return; }
    const wanted = doc.querySelector('.st-key-live-button button');
    if (!errors.test(text) || !wanted || wanted.innerText.trim() !== "Stop") return;
    const button = doc.querySelector('.st-key-live-camera-error button');
    if (button && Date.now() - pressed > 2000) { pressed = Date.now(); button.click(); }
  }, 200);
})();
</script>"""
TEXT_EVERY = 0.2  # seconds between updates of the label, the fps figure and the bars
CHART_EVERY = 1.0  # seconds between redraws of the timeline
TIMELINE_POINTS = 300  # the timeline is thinned to at most this many points per emotion
STALE_SECONDS = 3.0  # without a frame for this long (camera unplugged), the label goes back to waiting

st.title("Live camera")
recognizer, detector = selected_recognizer_with_detector("live")  # the sidebar's model and detector

smoothing = st.sidebar.slider(
    "Smoothing (frames averaged)", min_value=1, max_value=15, value=5, key="live_smoothing",
    help="Each face's probabilities are averaged over this many recent frames: higher is steadier, "
         "lower reacts faster. 1 = no smoothing.",
)

live: LiveSession | None = st.session_state.get("live_session")
if live is None:  # one analyzer and one queue per browser session (and so per stream)
    live = st.session_state["live_session"] = LiveSession(recognizer, smoothing=smoothing)
live.configure(recognizer, smoothing)  # a new detector or model: a new analyzer, swapped in at once


def _secrets():
    """.streamlit/secrets.toml, if there is one (the live camera's keys: see dashboard/turn.py)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except Exception:  # no secrets.toml at all: the normal case on localhost
        return None


settings = turn.load_settings(_secrets())
for problem in settings.problems:
    st.warning(f"The live camera's network settings: {problem}.")


def browser_rtc_configuration() -> dict:
    """This browser session's RTCConfiguration, with TURN credentials of its own, renewed at half
    their lifetime (a reconnection later on gets valid ones); the shared secret stays here."""
    now = time.time()
    issued = st.session_state.get("live_rtc")
    ttl = settings.turn.ttl if settings.turn is not None else float("inf")
    if issued is None or issued[0] != settings or now - issued[1] > ttl / 2:
        name = st.session_state.setdefault("live_rtc_name", secrets.token_urlsafe(9))
        issued = st.session_state["live_rtc"] = (settings, now, settings.browser(name, now))
    return issued[2]


watch: StreamWatch = st.session_state.setdefault("live_watch", StreamWatch())
watch.timeout = settings.connect_timeout  # the operator's FER_CONNECT_TIMEOUT (dashboard.turn)
if "live-button" not in st.session_state:
    # The last run drew no Start/Stop (Streamlit forgets a widget a finished run did not draw): this
    # is a first visit or a person back from another page. The camera starts only on a press of Start.
    watch.stop()
st.caption("Press **Start** and allow the camera. Frames are analysed on this machine and never stored.")
# One button with one key (its label changes): a keyed element of the previous run stays on the page
# while this run loops, so a Start and a Stop of their own would both show.
st.button("Stop" if watch.wanted else "Start", key="live-button", type="secondary" if watch.wanted else "primary",
          on_click=watch.stop if watch.wanted else watch.start)
# Installed once at start-up (app.py): the newest frame, not a queue; a frame decoded on its last packet;
# each frame's own result computed off the event loop (then async_processing=False).
tunings = install_webrtc_tunings()
take_new_offer(st.session_state, STREAM_KEY)  # a reconnection: the new offer gets a new worker
ctx = webrtc_streamer(
    key=STREAM_KEY,
    mode=WebRtcMode.SENDRECV,
    frontend_rtc_configuration=browser_rtc_configuration(),
    server_rtc_configuration=settings.server(),
    desired_playing_state=watch.wanted,  # the page's Start and Stop; while True, a dropped stream restarts
    media_stream_constraints=MEDIA_CONSTRAINTS,
    video_frame_callback=live.on_frame,
    async_processing=not tunings.off_loop_frames,  # each frame's own result, without blocking the loop
    video_html_attrs={"autoPlay": True, "controls": False, "muted": True, "playsInline": True,
                      "style": {"width": "100%", "maxWidth": "640px"}},
    translations={"start": "Start", "stop": "Stop"},
)
status_box = st.empty()
# While the page wants the stream, streamlit-webrtc's frontend starts again as soon as it stopped, also
# when the browser refused the camera: some hundred tries a second, which tell the server nothing (no
# offer is made) and soon hit Chromium's limit of 500 peer connections. This guard, in the page, sees
# the component's camera error while the page offers Stop, and presses a hidden button instead. Drawn
# on every run, after the component, so that no element before the component comes and goes.
with st.container(key="live-camera-guard"):
    st.button("Camera error", key="live-camera-error", on_click=watch.camera_failed)
st.html("<style>.st-key-live-camera-guard {display: none}</style>")
components.html(CAMERA_GUARD_JS, height=0)


def show_status(state: str, route: str | None = None) -> None:
    text = html.escape(status_text(state, route))
    color = {"failed": "#b42318", "no-camera": "#b42318", "reconnecting": "#b54708",
             "connected": "#067647"}.get(state, "#555")
    status_box.markdown(f'<div id="fer-live-status" data-state="{state}" data-route="{route or ""}" '
                        f'style="color:{color}">{text}</div>', unsafe_allow_html=True)


def emotion_html(report) -> str:
    face = report.main_face if report is not None else None
    text = html.escape(emotion_text(report) if report is not None else "Waiting for the camera…")
    label = face.label if face is not None else ""
    color = EMOTION_COLORS.get(label, "#555")
    conf = f"{face.confidence:.3f}" if face is not None else ""
    return (f'<div id="fer-live-emotion" data-emotion="{label}" data-confidence="{conf}" '
            f'style="font-size:2.2rem;font-weight:700;color:{color}">{text}</div>')


def fps_html(report) -> str:
    fps = report.fps if report is not None else 0.0
    extra = f" · {report.ms:.0f} ms per frame" if report is not None else ""
    return (f'<div id="fer-live-fps" data-fps="{fps:.1f}" style="color:#555">'
            f'<span class="fer-fps-text">{fps_text(report)}</span>{extra}</div>')


def bars_html(report) -> str:
    face = report.main_face if report is not None else None
    rows = []
    for i, e in enumerate(EMOTIONS):
        p = float(face.probabilities[i]) if face is not None else 0.0
        rows.append(
            f'<div class="fer-bar" data-emotion="{e}" data-probability="{p:.3f}" '
            f'style="display:flex;align-items:center;gap:.5rem;margin:2px 0">'
            f'<span style="width:5.5rem">{e}</span>'
            f'<span style="flex:1;background:#eef0f4;height:14px;border-radius:3px">'
            f'<span style="display:block;width:{p * 100:.1f}%;height:14px;border-radius:3px;'
            f'background:{EMOTION_COLORS[e]}"></span></span>'
            f'<span style="width:3rem;text-align:right">{p:.0%}</span></div>'
        )
    return f'<div id="fer-live-bars">{"".join(rows)}</div>'


def timeline_figure(timeline: Timeline):
    times, probs = timeline.arrays()
    if len(times) > TIMELINE_POINTS:
        step = len(times) // TIMELINE_POINTS + 1
        times, probs = times[::-step][::-1], probs[::-step][::-1]  # keep the newest point
    return charts.timeline(times, probs, window=TIMELINE_SECONDS, height=240)


left, right = st.columns([1, 1])
with left:
    emotion_box = st.empty()
    fps_box = st.empty()
with right:
    bars_box = st.empty()
timeline_box = st.empty()
note_box = st.empty()  # while playing, this empty slot replaces the idle note of the previous run

was_wanted = watch.wanted
state = watch.observe(ctx.state.playing, ctx.state.signalling)
if was_wanted and not watch.wanted:
    st.rerun()  # it gave up: the next run tells the component to stop trying (desired_playing_state=False)
show_status(state)

if ctx.state.playing and watch.wanted:  # (after Stop, the component may still play for a moment)
    timeline = Timeline(TIMELINE_SECONDS)
    latest = None
    last_text = last_chart = last_route = 0.0
    route = None
    draws = 0
    while ctx.state.playing:
        reports = live.next_reports(timeout=0.5)  # blocks: no busy waiting
        for report in reports:
            timeline.add(report)
        now = time.monotonic()
        if route is None and now - last_route >= 1.0:  # known once ICE has picked its candidate pair
            last_route = now
            route = connection_kind(ctx)
            if route is not None:
                show_status("connected", route)
        if not reports:
            # No frame for a while (camera starting, paused or unplugged). Writing to the page also
            # lets Streamlit stop this loop when the user presses Stop.
            if latest is not None and time.time() - latest.time > STALE_SECONDS:
                latest = None  # no stale label: back to waiting for the camera
                fps_box.markdown(fps_html(None), unsafe_allow_html=True)
                bars_box.markdown(bars_html(None), unsafe_allow_html=True)
            emotion_box.markdown(emotion_html(latest), unsafe_allow_html=True)
            continue
        latest = reports[-1]
        if now - last_text >= TEXT_EVERY:
            last_text = now
            emotion_box.markdown(emotion_html(latest), unsafe_allow_html=True)
            fps_box.markdown(fps_html(latest), unsafe_allow_html=True)
            bars_box.markdown(bars_html(latest), unsafe_allow_html=True)
            if latest.error:
                fps_box.warning("A frame could not be analysed; the stream goes on.")
        if now - last_chart >= CHART_EVERY:
            last_chart = now
            draws += 1
            timeline_box.plotly_chart(timeline_figure(timeline), key=f"live-timeline-{draws}",
                                      config=charts.STATIC)
else:
    emotion_box.markdown(emotion_html(None), unsafe_allow_html=True)
    fps_box.markdown(fps_html(None), unsafe_allow_html=True)
    bars_box.markdown(bars_html(None), unsafe_allow_html=True)
    note_box.info(
        "While the camera plays, the emotion of the largest face, its seven probabilities, a timeline "
        "of the last 30 seconds and the frames processed per second appear here."
    )
    # Connecting or reconnecting: the component reruns this script whenever its state changes; until
    # then, count the time, and give up with a plain message when no connection comes.
    while watch.wanted and not ctx.state.playing:
        time.sleep(0.5)
        state = watch.observe(False, ctx.state.signalling)
        show_status(state)  # writing to the page also lets Streamlit end this loop for a new run
        if not watch.wanted:  # gave up ("failed" or "no-camera")
            st.rerun()
