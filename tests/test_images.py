"""load_image on every kind of file a stranger may upload: each decodes correctly or raises
ImageError with a message a person understands. Inputs are built from a real photo (NASA's
astronaut portrait, scikit-image) at run time."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import fer_core.images as images
from fer_core import HaarFaceDetector, ImageError, load_image
from fer_core.images import MAX_PIXELS, MAX_SIDE, encode_png
from .fixtures import (
    ASTRONAUT_FACE,
    astronaut_bgr,
    astronaut_rgb,
    box_center_in,
    encode,
    exif_rotated_jpeg,
    group_photo,
    png_bomb,
    recognizer,  # noqa: F401  (a pytest fixture: the shipped seed model)
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def detector():
    return HaarFaceDetector()


@pytest.fixture(scope="module")
def astronaut_png() -> bytes:
    return encode(astronaut_rgb(), "PNG")


@pytest.fixture(scope="module")
def astronaut_jpeg() -> bytes:
    return encode(astronaut_rgb(), "JPEG", quality=95)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- What comes back from a good photo ------------------------------------------------------------


def test_png_decodes_to_the_exact_bgr_pixels(astronaut_png):
    out = load_image(astronaut_png)
    assert out.dtype == np.uint8 and out.shape == (512, 512, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, astronaut_bgr())


def test_jpeg_decodes_close_to_the_original(astronaut_jpeg):
    out = load_image(astronaut_jpeg)
    assert out.shape == (512, 512, 3)
    assert mean_abs_diff(out, astronaut_bgr()) < 3  # JPEG noise only; RGB/BGR swapped would be ~40
    assert mean_abs_diff(out, astronaut_rgb()) > 10


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP", "PPM"])
def test_other_lossless_formats(fmt):
    params = {"lossless": True} if fmt == "WEBP" else {}
    np.testing.assert_array_equal(load_image(encode(astronaut_rgb(), fmt, **params)), astronaut_bgr())


def test_mpo_from_a_phone_camera_gives_its_first_picture():
    first = Image.fromarray(astronaut_rgb())
    mpo = encode(first, "MPO", save_all=True, append_images=[first.rotate(90)], quality=95)
    assert Image.open(io.BytesIO(mpo)).format == "MPO"
    assert mean_abs_diff(load_image(mpo), astronaut_bgr()) < 3


def test_bytes_path_and_file_like_sources_agree(astronaut_png, tmp_path):
    path = tmp_path / "astronaut.png"
    path.write_bytes(astronaut_png)
    expected = astronaut_bgr()
    half_read = io.BytesIO(astronaut_png)
    half_read.read(100)  # a Streamlit upload that a preview already read from
    for source in (astronaut_png, bytearray(astronaut_png), memoryview(astronaut_png), path, str(path),
                   io.BytesIO(astronaut_png), half_read, open(path, "rb")):
        np.testing.assert_array_equal(load_image(source), expected, err_msg=type(source).__name__)


def test_non_seekable_stream_is_read(astronaut_png):
    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._buf = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def seek(self, *args):
            raise io.UnsupportedOperation("not seekable")

        def read(self, n=-1):
            return self._buf.read(n)

    np.testing.assert_array_equal(load_image(Pipe(astronaut_png)), astronaut_bgr())


def test_one_pixel_image():
    out = load_image(encode(np.array([[[10, 20, 30]]], np.uint8), "PNG"))
    assert out.shape == (1, 1, 3)
    assert out[0, 0].tolist() == [30, 20, 10]  # BGR
    assert HaarFaceDetector().detect(out) == []  # and finding faces in it does not fail


def test_grayscale_gives_three_equal_channels():
    gray = np.asarray(Image.fromarray(astronaut_rgb()).convert("L"))
    out = load_image(encode(gray, "PNG"))
    assert out.shape == (512, 512, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_rgba_is_composited_on_white():
    rgb = astronaut_rgb()
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :100] = 0  # fully transparent band
    alpha[:, 100:200] = 128  # half transparent band
    out = load_image(encode(np.dstack([rgb, alpha]), "PNG"))
    bgr = astronaut_bgr()
    np.testing.assert_array_equal(out[:, 200:], bgr[:, 200:])  # opaque: untouched
    assert (out[:, :100] == 255).all()  # transparent: white, not black
    half = bgr[:, 100:200].astype(np.float64) * 128 / 255 + 255 * 127 / 255
    assert np.abs(out[:, 100:200] - half).max() <= 1.5


def test_palette_image_and_palette_transparency():
    pal = Image.fromarray(astronaut_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    expected = np.asarray(pal.convert("RGB"))[:, :, ::-1]
    np.testing.assert_array_equal(load_image(encode(pal, "PNG")), expected)

    # A GIF-style palette with one transparent entry: that entry shows white.
    arr = np.zeros((8, 8), np.uint8)
    arr[:, 4:] = 1
    img = Image.fromarray(arr, "P")
    img.putpalette([200, 0, 0, 0, 0, 200] + [0] * 762)
    out = load_image(encode(img, "PNG", transparency=0))
    assert (out[:, :4] == 255).all()
    assert out[0, 6].tolist() == [200, 0, 0]  # blue in BGR


def test_sixteen_bit_grayscale_png_is_scaled_not_stretched():
    levels = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    sixteen = Image.fromarray(levels * 257)  # 16-bit grey: 0, 257, ..., 65535
    assert sixteen.mode.startswith("I;16")
    out = load_image(encode(sixteen, "PNG"))
    np.testing.assert_array_equal(out[:, :, 0], levels.astype(np.uint8))

    # A dark 16-bit photo stays dark: no per-image stretch.
    dark = Image.fromarray((levels // 4).astype(np.uint16) * 257)
    assert load_image(encode(dark, "PNG")).max() == 63


def test_sixteen_bit_colour_png():
    import cv2

    bgr16 = astronaut_bgr().astype(np.uint16) * 257
    ok, png = cv2.imencode(".png", bgr16)
    assert ok
    np.testing.assert_array_equal(load_image(png.tobytes()), astronaut_bgr())


def test_cmyk_jpeg_and_tiff():
    cmyk = Image.fromarray(astronaut_rgb()).convert("CMYK")
    np.testing.assert_array_equal(load_image(encode(cmyk, "TIFF")), astronaut_bgr())
    out = load_image(encode(cmyk, "JPEG", quality=95))
    assert out.shape == (512, 512, 3)
    assert mean_abs_diff(out, astronaut_bgr()) < 4


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(gif)).n_frames == 3
    out = load_image(gif)
    assert out.shape == (30, 40, 3)
    assert (out == [0, 0, 255]).all()  # red, in BGR


def test_huge_sides_are_scaled_down():
    wide = np.zeros((300, MAX_SIDE + 904, 3), np.uint8)
    wide[:, : wide.shape[1] // 2] = 255
    out = load_image(encode(wide, "PNG"))
    assert out.shape == (246, MAX_SIDE, 3)
    assert out[:, :2000].min() == 255 and out[:, -2000:].max() == 0


# --- EXIF orientation: the face must be found after turning the photo upright ------------------


@pytest.mark.parametrize("orientation", [3, 6, 8, 2])
def test_exif_orientation_is_applied(orientation, detector):
    upright = astronaut_rgb()[:, 60:460]  # 512 × 400: not square, so a turn changes the shape
    jpeg = exif_rotated_jpeg(upright, orientation)
    raw = np.asarray(Image.open(io.BytesIO(jpeg)))
    if orientation in (6, 8):
        assert raw.shape[:2] == (400, 512)  # stored on its side...
        assert detector.detect(np.ascontiguousarray(raw[:, :, ::-1])) == []  # ...where no face is found
    out = load_image(jpeg)
    assert out.shape == (512, 400, 3)
    assert mean_abs_diff(out, np.ascontiguousarray(upright[:, :, ::-1])) < 3
    faces = detector.detect(out)
    assert len(faces) == 1
    x, y, w, h = ASTRONAUT_FACE
    fx, fy, fw, fh = faces[0]
    assert abs(fx - (x - 60)) < 15 and abs(fy - y) < 15 and abs(fw - w) < 20


def test_exif_rotated_photo_is_analyzed_by_the_seed_model(recognizer):
    out = load_image(exif_rotated_jpeg(astronaut_rgb(), 6))
    results = recognizer.analyze(out)
    assert len(results) == 1
    assert box_center_in(results[0].box, ASTRONAUT_FACE)
    assert results[0].probabilities.shape == (7,)
    assert abs(float(results[0].probabilities.sum()) - 1) < 1e-4


# --- Files that are not usable images: a clear message each -------------------------------------


def test_empty_file(tmp_path):
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")


@pytest.mark.parametrize("data", [b"\x00\x01\x02 definitely not an image" * 10, os.urandom(4096)],
                         ids=["junk", "random"])
def test_bytes_that_are_no_image(data):
    with pytest.raises(ImageError, match="not an image we can read") as err:
        load_image(data)
    assert "JPEG" in str(err.value) and "PNG" in str(err.value)  # says what would work


def test_text_file_named_jpg(tmp_path):
    fake = tmp_path / "holiday.jpg"
    fake.write_text("Dear diary, today I took a photo of the astronaut.\n" * 20)
    with pytest.raises(ImageError, match="not an image we can read"):
        load_image(fake)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_image(fmt, keep):
    data = encode(astronaut_rgb(), fmt)
    with pytest.raises(ImageError, match="damaged or incomplete"):
        load_image(data[: int(len(data) * keep)])


def test_damaged_header():
    data = bytearray(encode(astronaut_rgb(), "PNG"))
    data[16:24] = b"\xff" * 8  # IHDR width/height garbled, CRC now wrong
    with pytest.raises(ImageError, match="damaged"):
        load_image(bytes(data))


def test_formats_that_run_programs_or_are_no_photos_are_not_opened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    for data in (eps, encode(astronaut_rgb(), "ICO"), encode(astronaut_rgb(), "TGA")):
        with pytest.raises(ImageError, match="not an image we can read"):
            load_image(data)


def test_missing_path_folder_and_wrong_types(tmp_path):
    with pytest.raises(ImageError, match="no image file"):
        load_image(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="not an image"):
        load_image(12345)
    (tmp_path / "t.png").write_bytes(encode(astronaut_rgb(), "PNG"))
    with open(tmp_path / "t.png", encoding="latin-1") as text_mode, pytest.raises(ImageError, match="binary"):
        load_image(text_mode)


def test_files_too_big_are_refused_before_reading(tmp_path, monkeypatch):
    sparse = tmp_path / "huge.jpg"
    with open(sparse, "wb") as f:
        f.truncate(images.MAX_BYTES + 1)  # a sparse file: nothing is written, nothing must be read
    with pytest.raises(ImageError, match="too big"):
        load_image(sparse)
    monkeypatch.setattr(images, "MAX_BYTES", 10_000)
    with pytest.raises(ImageError, match="too big"):
        load_image(io.BytesIO(encode(astronaut_rgb(), "PNG")))


# --- Decompression bombs: refused from the header, never decoded ---------------------------------


def test_bomb_above_pillows_own_limit_is_refused():
    bomb = png_bomb(20000, 20000)  # 400 megapixels
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="too large") as err:
        load_image(bomb)
    assert "400 megapixels" in str(err.value)


def test_bomb_between_our_limit_and_pillows_is_refused_with_its_size():
    side = int((MAX_PIXELS * 1.2) ** 0.5)
    with pytest.raises(ImageError, match="too large") as err:
        load_image(png_bomb(side, side))
    assert f"{side}×{side}" in str(err.value)
    assert f"{MAX_PIXELS // 1_000_000} megapixels" in str(err.value)


@pytest.mark.parametrize("side", [20000, 7000])
def test_bomb_is_refused_before_any_pixel_is_decoded(side, monkeypatch):
    def decode(self, *args, **kwargs):
        raise AssertionError("the bomb's pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    with pytest.raises(ImageError, match="too large"):
        load_image(png_bomb(side, side))


def test_bomb_costs_little_memory(tmp_path):
    """Peak memory of a fresh process that refuses a 400-megapixel PNG, against one that reads a
    small photo. Decoding the bomb would need at least 400 MB (1 byte a pixel)."""
    bomb, small = tmp_path / "bomb.png", tmp_path / "small.png"
    bomb.write_bytes(png_bomb(20000, 20000))
    small.write_bytes(encode(astronaut_rgb(), "PNG"))
    script = textwrap.dedent("""
        import json, resource, sys
        from fer_core.images import load_image, ImageError
        try:
            load_image(sys.argv[1]); outcome = "decoded"
        except ImageError as exc:
            outcome = str(exc)
        print(json.dumps({"peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "outcome": outcome}))
    """)

    def run(path):
        proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                              cwd=REPO, check=True)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    base, boom = run(small), run(bomb)
    assert base["outcome"] == "decoded"
    assert "too large" in boom["outcome"]
    assert boom["peak_kb"] - base["peak_kb"] < 50_000  # under 50 MB more than reading a small photo


# --- Photos with no face, and with very many ------------------------------------------------------


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_photo_without_a_face_gives_no_results(name, recognizer):
    from skimage import data

    photo = load_image(encode(getattr(data, name)(), "JPEG", quality=90))  # a cup, a cat, a rocket
    assert recognizer.analyze(photo) == []


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (23, 23), (5, 4000)])
def test_tiny_and_thin_images_are_analyzed_without_error(shape, recognizer):
    photo = load_image(encode(np.full((*shape, 3), 90, np.uint8), "PNG"))
    assert photo.shape == (*shape, 3)
    assert recognizer.analyze(photo) == []


# Six rows of real faces, 170 to 220 px (80 to 103 px after the detector's downscale to 640).
GROUP_ROWS = [(6, 220), (7, 190), (6, 210), (8, 170), (7, 180), (6, 200)]


def test_group_photo_every_face_is_annotated(recognizer):
    photo, tiles = group_photo(GROUP_ROWS)
    photo = load_image(encode(photo[:, :, ::-1], "JPEG", quality=92))  # as an upload arrives
    assert len(tiles) == 40 and max(photo.shape[:2]) > 640
    results = recognizer.analyze(photo)
    assert len(results) == 40
    for tile in tiles:  # exactly one result in each face
        assert sum(box_center_in(r.box, tile) for r in results) == 1, tile
    probs = np.array([r.probabilities for r in results])
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert [r.box[:2] for r in results] == sorted(r.box[:2] for r in results)  # left to right


def test_group_photo_above_the_cap_keeps_the_largest_faces(recognizer):
    from fer_core.recognizer import MAX_FACES

    photo, tiles = group_photo([(10, 128)] * 4 + [(11, 116)] * 4)  # 84 faces
    found = recognizer.detect(photo)
    assert len(found) == 84 > MAX_FACES
    results = recognizer.analyze(photo)
    assert len(results) == MAX_FACES
    kept = {r.box for r in results}
    assert kept <= set(found)
    dropped = [b for b in found if b not in kept]
    assert min(w * h for _, _, w, h in kept) >= max(w * h for _, _, w, h in dropped)
    assert len(recognizer.analyze(photo, max_faces=10)) == 10


# --- encode_png (downloads) ----------------------------------------------------------------------


def test_encode_png_round_trips():
    bgr = astronaut_bgr()
    np.testing.assert_array_equal(load_image(encode_png(bgr)), bgr)
    gray = bgr[:, :, 0].copy()
    np.testing.assert_array_equal(load_image(encode_png(gray))[:, :, 1], gray)
    with pytest.raises(ValueError):
        encode_png(bgr.astype(np.float32))
