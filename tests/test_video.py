"""Recorded video (fer_core.video and `python -m fer_core predict`): clips the tests encode with PyAV
(H.264 MP4 and VP8 WebM) of the astronaut's real face moving, read back frame by frame."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from fer_core import EMOTIONS, EmotionRecognizer
from fer_core.faces import make_detector
from fer_core.records import CSV_COLUMNS
from fer_core.video import VideoError, analyze_video

from .conftest import REPO
from .fixtures import astronaut_bgr
from .video_clips import make_clip, scene, slide

CODECS = ["libx264", "libvpx"]  # H.264 in MP4, VP8 in WebM


@pytest.fixture(scope="module")
def rec():
    """The shipped default model with the detector videos use by default (haar-fast, tracking)."""
    return EmotionRecognizer.load("default", detector=make_detector("haar-fast"))


def frame_ids(results) -> list[list[int]]:
    return [[f.face_id for f in r.faces] for r in results]


@pytest.mark.parametrize("codec", CODECS)
def test_frames_times_and_one_steady_face(rec, codec):
    # Irregular timestamps, as a phone's variable frame rate writes them: times must come from them.
    times_ms = [0, 40, 70, 100, 160, 200, 230, 300, 333, 366, 400, 480, 500, 533, 600, 700, 733, 766, 800, 900]
    n = len(times_ms)
    data = make_clip(None, n, slide((20, 40), (160, 70), 130, n), codec=codec, times_ms=times_ms)
    results = list(analyze_video(data, rec, name=f"clip-{codec}"))
    assert [r.frame for r in results] == list(range(n))
    assert np.allclose([r.time_s for r in results], np.array(times_ms) / 1000, atol=0.002)
    assert [r.done for r in results] == list(range(1, n + 1))
    # MP4 counts its frames; WebM does not, so the total is estimated from its duration and nominal rate.
    assert results[-1].total == (n if codec == "libx264" else round(0.9333 * 30))
    # The astronaut in every frame, one face, always id 1, boxes following her to the right.
    assert frame_ids(results) == [[1]] * n
    xs = [r.faces[0].box[0] for r in results]
    assert xs[-1] - xs[0] > 100, xs
    for r in results:
        f = r.faces[0]
        assert f.probabilities.shape == (7,) and f.probabilities.sum() == pytest.approx(1, abs=1e-4)
        assert f.label == EMOTIONS[int(np.argmax(f.probabilities))]
    assert sum(r.faces[0].label == "Happy" for r in results) >= 0.8 * n  # she smiles


@pytest.mark.parametrize("codec,container", [
    ("libvpx-vp9", "webm"), ("libx264", "mov"), ("libvpx", "matroska"), ("mpeg4", "avi"), ("libx264", "matroska"),
])
def test_other_codecs_and_containers(rec, codec, container):
    n = 15
    data = make_clip(None, n, slide((20, 40), (160, 70), 130, n), codec=codec, container=container)
    results = list(analyze_video(data, rec, name=f"clip.{container}"))
    assert [r.frame for r in results] == list(range(n))
    assert np.allclose([r.time_s for r in results], np.arange(n) / 30, atol=0.002)
    assert frame_ids(results) == [[1]] * n


def test_a_face_that_leaves_and_a_face_that_comes_get_new_ids(rec):
    # Frames 0-9 empty; 10-29 a face crossing; 30-59 empty (1 s); 60-84 a face again, which blinks
    # out for 3 frames (70-72, 0.1 s): ids 1, then 2 that survives the blink.
    def faces(i):
        if 10 <= i < 30:
            return slide((10, 50), (150, 50), 130, 20)(i - 10)
        if 60 <= i < 85 and not 70 <= i < 73:
            return slide((170, 60), (60, 60), 130, 25)(i - 60)
        return []

    results = list(analyze_video(make_clip(None, 85, faces), rec))
    ids = frame_ids(results)
    assert ids[:10] == [[]] * 10
    assert ids[12:28] == [[1]] * 16  # allow a frame at each edge for the face to be found
    assert ids[32:58] == [[]] * 26
    assert ids[62:70] == [[2]] * 8 and ids[73:83] == [[2]] * 10, ids[60:]
    assert {i for frame in ids for i in frame} == {1, 2}


def test_two_faces_keep_two_ids(rec):
    n = 40
    left, right = slide((10, 10), (10, 100), 110, n), slide((190, 110), (190, 20), 110, n)
    results = list(analyze_video(make_clip(None, n, lambda i: left(i) + right(i)), rec))
    assert all(len(r.faces) == 2 for r in results), frame_ids(results)
    by_id = {}
    for r in results:
        for f in r.faces:
            by_id.setdefault(f.face_id, []).append(f.box[0] + f.box[2] / 2)
    assert sorted(by_id) == [1, 2]
    sides = sorted((np.mean(x), max(x) - min(x)) for x in by_id.values())
    assert sides[0][0] < 160 < sides[1][0]  # one id stays left, the other right
    assert all(spread < 40 for _, spread in sides), sides


def test_every_k_analyses_every_kth_frame_and_annotates_all(rec):
    n = 30
    data = make_clip(None, n, slide((20, 40), (160, 70), 130, n))
    out = io.BytesIO()
    results = list(analyze_video(data, rec, every=4, annotated=out))
    assert [r.frame for r in results] == list(range(0, n, 4))
    assert np.allclose([r.time_s for r in results], np.arange(0, n, 4) / 30, atol=0.002)
    assert frame_ids(results) == [[1]] * len(results)
    # The annotated copy: every frame (not only the analysed ones), H.264 in yuv420p, browser-playable.
    with av.open(io.BytesIO(out.getvalue())) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt, s.width, s.height) == ("h264", "yuv420p", 320, 240)
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
    assert len(frames) == n
    # Boxes and labels drawn: frames differ from the plain scene around the face, not elsewhere.
    plain = scene(320, 240, slide((20, 40), (160, 70), 130, n)(5))
    diff = np.abs(frames[5].astype(int) - plain.astype(int)).max(axis=2) > 80
    assert 0.005 < diff.mean() < 0.2, diff.mean()


def test_rotation_metadata_is_honoured(rec):
    # Stored on its side (portrait pixels) with a display matrix turning it upright, as a phone does.
    n = 12
    data = make_clip(None, n, slide((40, 50), (120, 50), 130, n), rotation=90)
    with av.open(io.BytesIO(data)) as c:
        stored = next(c.decode(video=0)).to_ndarray(format="bgr24")
    assert stored.shape[:2] == (320, 240)  # portrait as stored
    assert rec.analyze(stored) == []  # a sideways face is not found: turning it matters
    out = io.BytesIO()
    results = list(analyze_video(data, rec, annotated=out))
    assert frame_ids(results) == [[1]] * n
    for r in results:
        x, y, w, h = r.faces[0].box
        assert x + w <= 320 and y + h <= 240  # boxes in the upright (landscape) frame
    assert abs(results[0].faces[0].box[0] - 60) < 40, results[0].faces[0].box
    with av.open(io.BytesIO(out.getvalue())) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (320, 240)


def test_the_file_is_read_as_it_is_analysed_not_loaded_first(rec):
    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            self.read_bytes += len(data)
            return data

    n = 60
    data = make_clip(None, n, slide((20, 40), (160, 70), 130, n), noise=40)  # noise: a file of ~1 MB
    assert len(data) > 500_000
    source = Counting(data)
    frames = analyze_video(source, rec)
    next(frames)
    after_first = source.read_bytes
    rest = list(frames)
    assert len(rest) == n - 1
    assert after_first < 0.5 * len(data) <= source.read_bytes, (after_first, source.read_bytes, len(data))


# --- bad input: a plain message naming the file, never a traceback --------------------------------

def _audio_only() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for i in range(20):
            frame.pts = i * 1024
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return buf.getvalue()


def _zero_frames() -> bytes:
    buf = io.BytesIO()
    out = av.open(buf, "w", format="avi")  # AVI keeps an empty video track (MP4 drops it)
    stream = out.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    out.start_encoding()
    out.close()
    return buf.getvalue()


def _unknown_codec() -> bytes:
    # MPEG-4 Part 2 in AVI with its codec tag (FMP4) replaced by one no decoder claims.
    avi = make_clip(None, 10, slide((20, 40), (160, 70), 130, 10), codec="mpeg4", container="avi")
    assert avi.count(b"FMP4") == 2
    return avi.replace(b"FMP4", b"QQZ9")


def _clip(codec="libx264"):
    return make_clip(None, 60, slide((20, 40), (160, 70), 130, 60), codec=codec)


BAD = {
    "notes.mp4": (lambda: b"These are my notes, not a video.\n" * 40, "not a video"),
    "empty.webm": (lambda: b"", "empty"),
    "cut.mp4": (lambda: _clip()[:6000], "cut short"),  # H.264 MP4 whose index (at the end) is missing
    "voice.m4a.mp4": (_audio_only, "no video track (it holds only sound)"),
    "odd.avi": (_unknown_codec, "cannot be decoded"),
    "nothing.avi": (_zero_frames, "no video frames"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_gets_a_plain_message_naming_it(rec, name):
    make, expected = BAD[name]
    with pytest.raises(VideoError) as err:
        list(analyze_video(make(), rec, name=name))
    message = str(err.value)
    assert name in message and expected in message, message
    assert "Traceback" not in message and "Errno" not in message
    assert err.value.frames_done == 0


def test_a_truncated_webm_keeps_the_frames_before_the_cut(rec):
    data = _clip("libvpx")
    results = []
    with pytest.raises(VideoError) as err:
        for r in analyze_video(data[: len(data) * 6 // 10], rec, name="cut.webm"):
            results.append(r)
    assert "cut.webm is cut short" in str(err.value)
    assert 10 <= len(results) == err.value.frames_done < 60
    assert frame_ids(results) == [[1]] * len(results)


def test_frames_too_large_are_refused_before_decoding(rec, monkeypatch):
    import fer_core.video

    monkeypatch.setattr(fer_core.video, "MAX_PIXELS", 320 * 240 - 1)  # a 320x240 clip is then "too big"
    with pytest.raises(VideoError, match=r"big\.mp4 is 320×240 pixels; videos up to"):
        list(analyze_video(_clip(), rec, name="big.mp4"))


def test_missing_path_is_named(rec, tmp_path):
    with pytest.raises(VideoError, match="There is no video file at"):
        list(analyze_video(tmp_path / "nope.mp4", rec))



def test_no_h264_encoder_leaves_no_file_and_nothing_open(rec, tmp_path, monkeypatch):
    """A PyAV build without an H.264 encoder: the error says so, and no empty or partial MP4 is left
    behind (the output file is opened only once an encoder is found)."""
    import fer_core.video

    def none_here() -> str:
        raise RuntimeError("This PyAV build has no H.264 encoder, so no annotated video can be written.")

    monkeypatch.setattr(fer_core.video, "h264_encoder", none_here)
    out = tmp_path / "clip-emotions.mp4"
    with pytest.raises(RuntimeError, match="no H.264 encoder"):
        list(analyze_video(_clip(), rec, annotated=out))
    assert list(tmp_path.iterdir()) == []

    writer = fer_core.video.AnnotatedWriter(io.BytesIO(), 30)
    with pytest.raises(RuntimeError, match="no H.264 encoder"):
        writer.write(astronaut_bgr(), 0.0)
    assert writer._container is None  # nothing left open: close() has nothing to finish
    writer.close()

# --- the command line: one CSV schema for photos and videos ---------------------------------------

def test_predict_writes_one_csv_for_photos_and_videos(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "astronaut.jpg"), astronaut_bgr())
    make_clip(folder / "clip.mp4", 30, slide((20, 40), (160, 70), 130, 30))
    make_clip(folder / "clip.webm", 20, slide((160, 70), (20, 40), 130, 20), codec="libvpx")
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 100)
    out_csv, annotated = tmp_path / "out.csv", tmp_path / "annotated"
    proc = subprocess.run([sys.executable, "-m", "fer_core", "predict", str(folder), "--csv", str(out_csv),
                           "--annotated", str(annotated), "--every", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "broken.mp4 is not a video this app can read" in proc.stdout
    with open(out_csv, newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        assert ",".join(CSV_COLUMNS) == ("file,frame,time_s,face,x,y,w,h,emotion,confidence,"
                                         "Angry,Disgust,Fear,Happy,Sad,Surprise,Neutral")
        rows = list(reader)
    by_file = {}
    for row in rows:
        by_file.setdefault(row["file"].rsplit("/", 1)[-1], []).append(row)
    assert sorted(by_file) == ["astronaut.jpg", "clip.mp4", "clip.webm"]
    (photo,) = by_file["astronaut.jpg"]
    assert (photo["frame"], float(photo["time_s"]), photo["face"], photo["emotion"]) == ("0", 0.0, "1", "Happy")
    for name, n in (("clip.mp4", 30), ("clip.webm", 20)):
        video = by_file[name]
        assert [int(r["frame"]) for r in video] == list(range(0, n, 2))
        assert np.allclose([float(r["time_s"]) for r in video], np.arange(0, n, 2) / 30, atol=0.002)
        assert {r["face"] for r in video} == {"1"}
        for r in video:
            probs = np.array([float(r[e]) for e in EMOTIONS])
            assert probs.sum() == pytest.approx(1, abs=2e-3)
            assert r["emotion"] == EMOTIONS[int(probs.argmax())] and float(r["confidence"]) == probs.max()
    for name, n in (("clip-mp4-emotions.mp4", 30), ("clip-webm-emotions.mp4", 20)):
        with av.open(str(annotated / name)) as c:
            assert sum(1 for _ in c.decode(video=0)) == n
    assert "face 1 seen" in proc.stdout


def test_predict_single_video_with_annotated_file(tmp_path):
    clip = make_clip(tmp_path / "talk.mp4", 20, slide((20, 40), (160, 70), 130, 20))
    out = tmp_path / "talk-emotions.mp4"
    proc = subprocess.run([sys.executable, "-m", "fer_core", "predict", str(clip), "--annotated", str(out),
                           "--detector", "haar"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"Annotated video written to {out}" in proc.stdout
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.frames == 20
