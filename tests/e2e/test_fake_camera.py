"""The fake camera's video itself: a valid YUV4MPEG2 file whose frames show one face that moves."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core import HaarFaceDetector

from .fake_camera import draw_frame_index, moving_face_frames, read_frame_index, read_y4m, write_y4m


@pytest.fixture(scope="module")
def camera_frames(fake_camera):
    return read_y4m(fake_camera)


def test_y4m_header_and_frames_round_trip(fake_camera, camera_frames):
    with open(fake_camera, "rb") as f:
        header = f.readline().decode("ascii").split()
    assert header[:4] == ["YUV4MPEG2", "W640", "H480", "F30:1"] and "C420jpeg" in header
    assert fake_camera.stat().st_size == len(" ".join(header)) + 1 + 300 * (6 + 640 * 480 * 3 // 2)

    frames = camera_frames
    originals = list(moving_face_frames())
    assert len(frames) == len(originals) == 300
    for i in (0, 77, 150, 299):
        # 4:2:0 halves the colour resolution: close to the original, not equal
        diff = np.abs(frames[i].astype(int) - originals[i].astype(int))
        assert diff.mean() < 4, (i, diff.mean())


def test_every_frame_shows_one_face_that_moves(camera_frames):
    detector = HaarFaceDetector()
    frames = camera_frames
    xs = []
    for frame in frames[::15]:
        boxes = detector.detect(frame)
        assert len(boxes) == 1, boxes
        xs.append(boxes[0][0])
    assert max(xs) - min(xs) > 200, xs  # it crosses the frame
    assert abs(xs[0] - detector.detect(frames[-1])[0][0]) < 20  # and comes back: the loop has no jump


def test_writer_refuses_odd_sizes_and_wrong_frames(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_y4m(tmp_path / "odd.y4m", [], 641, 480, 30)
    with pytest.raises(ValueError, match="expected"):
        write_y4m(tmp_path / "wrong.y4m", [np.zeros((10, 10, 3), np.uint8)], 640, 480, 30)
    with pytest.raises(ValueError, match="no frames"):
        write_y4m(tmp_path / "empty.y4m", [], 640, 480, 30)


def test_every_frame_carries_its_number(camera_frames):
    """The strip in the top-left corner reads back as the frame's number, also after the damage a
    video stream does (scaled to half size, JPEG at quality 25), and reads as nothing where there is
    no strip or a smeared one."""
    assert [read_frame_index(f) for f in camera_frames] == list(range(300))
    for i in (0, 1, 150, 255, 299):
        small = cv2.resize(camera_frames[i], (320, 240), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 25])
        assert ok and read_frame_index(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)) == i
    plain = next(iter(moving_face_frames(frame_index=False)))
    assert read_frame_index(plain) is None
    half = cv2.addWeighted(draw_frame_index(plain.copy(), 21), 0.5, draw_frame_index(plain.copy(), 42), 0.5, 0)
    assert read_frame_index(half) is None  # two frames blended: neither number
    with pytest.raises(ValueError, match="does not fit"):
        draw_frame_index(plain.copy(), 512)
