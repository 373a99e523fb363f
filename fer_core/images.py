"""Reading user images: any common format in, a BGR uint8 array out, or a plain-language ImageError.

Safety first, because the files come from strangers:

- only the usual photo formats are opened (no EPS/PDF-style formats that run external programs);
- the pixel count is read from the file's header and an image above ``MAX_PIXELS`` is refused
  *before* it is decoded (a 20000×20000 PNG of a few KB would otherwise need gigabytes);
- at most ``MAX_BYTES`` are read from a file or stream;
- decoded images larger than ``MAX_SIDE`` on a side are scaled down, so memory stays bounded.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse images above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 40_000_000
# Larger images are scaled down after decoding: faces stay findable, memory stays bounded.
MAX_SIDE = 4096
# Refuse files larger than this many bytes (a 40-megapixel photo is far smaller as JPEG or PNG).
MAX_BYTES = 100 * 1024 * 1024
# The formats we open. JPEG covers the MPO files many phones and cameras write.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "DIB", "GIF", "TIFF", "PPM", "AVIF")
FORMAT_NAMES = "JPEG, PNG, WebP, BMP, GIF or TIFF"
# File names of photos in a folder that predict and evaluate read (the formats above by their usual suffixes).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".dib", ".gif", ".tif", ".tiff",
                            ".ppm", ".avif"})

Source = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO]

# We refuse oversized images ourselves (with a clearer message) before Pillow's own guard would
# warn. Ignoring its warning here, once, is thread-safe, unlike warnings.catch_warnings() per call.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageError(ValueError):
    """An image that cannot be used, with a message meant for the person who supplied it."""


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"There is no image file at '{path}'.")
        if not path.is_file():
            raise ImageError(f"'{path}' is a folder, not an image file.")
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ImageError(
                    f"This file is too big ({_megabytes(path.stat().st_size)}). "
                    f"Please use an image smaller than {_megabytes(MAX_BYTES)}."
                )
            data = path.read_bytes()
        except PermissionError:
            raise ImageError(f"The image file '{path}' cannot be opened: permission denied.") from None
        except OSError as exc:
            raise ImageError(f"The image file '{path}' cannot be read ({exc.strerror or exc}).") from None
    elif hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)  # a Streamlit upload read before (e.g. by a preview) starts over
        except (OSError, ValueError):
            pass  # not seekable (a pipe): read what is left
        try:
            data = source.read(MAX_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise ImageError(f"The image could not be read from this file ({exc}).") from None
        if isinstance(data, str):
            raise ImageError("This file was opened as text; open the image in binary mode ('rb').")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError("This is not an image: pass the image's bytes, a file path or an open file.")
        data = bytes(data)
    else:
        raise ImageError("This is not an image: pass the image's bytes, a file path or an open file.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"This file is too big. Please use an image smaller than {_megabytes(MAX_BYTES)}.")
    return data


# The first bytes of the formats we read: a file that starts like one but cannot be opened is
# a damaged image, not some other kind of file.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


def _looks_like_image(data: bytes) -> bool:
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _open_checked(data: bytes) -> Image.Image:
    """Open the image and check its size from the header, decoding no pixels yet."""
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (over ~179 megapixels), also raised from the header alone.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "hundreds of megapixels"
        raise ImageError(
            f"This image is far too large to open safely ({size}). "
            f"Please use an image under {MAX_PIXELS // 1_000_000} megapixels."
        ) from None
    except UnidentifiedImageError:
        if _looks_like_image(data):
            raise ImageError(
                "This image is damaged and cannot be opened. Please try another copy of the photo."
            ) from None
        raise ImageError(
            f"This file is not an image we can read. Please use a {FORMAT_NAMES} photo."
        ) from None
    except Exception as exc:  # a header so broken that the format's parser gives up
        raise ImageError(
            "This image is damaged and cannot be opened. Please try another copy of the photo."
        ) from exc
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError("This image has no pixels.")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"This image is too large ({width}×{height} pixels, {width * height / 1e6:.0f} megapixels). "
            f"Please use an image under {MAX_PIXELS // 1_000_000} megapixels."
        )
    return img


def load_image(source: Source) -> np.ndarray:
    """Decode an image to a BGR uint8 array [H, W, 3], upright as its EXIF orientation says.

    ``source`` is the image's bytes, a file path, or a binary file-like object (a Streamlit
    upload). Grayscale, RGBA, palette, 16-bit and CMYK images are converted; an animated image
    gives its first frame. Anything that cannot be read raises ImageError with a message a
    person understands.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes). Please choose a photo.")
    img = _open_checked(data)
    try:
        img.seek(0)  # first frame of an animation
        img.load()
    except Image.DecompressionBombError:  # a later frame/tile claiming more pixels than the header
        raise ImageError("This image is too large to open safely. Please use a smaller image.") from None
    except MemoryError:
        raise ImageError("This image is too large to open. Please use a smaller image.") from None
    except Exception as exc:
        raise ImageError(
            "This image is damaged or incomplete and cannot be opened. "
            "Please try another copy of the photo."
        ) from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not lose an otherwise good photo
        pass
    try:
        return _to_bgr(img)
    except MemoryError:
        raise ImageError("This image is too large to open. Please use a smaller image.") from None
    except Exception as exc:
        raise ImageError(
            f"This image uses a colour format we cannot convert ({img.mode}). "
            "Please save it as an ordinary JPEG or PNG and try again."
        ) from exc


def _to_8bit(arr: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    """Grey levels of any integer or float depth → uint8."""
    floats = np.asarray(arr).dtype.kind == "f"
    arr = np.asarray(arr, dtype=np.float64)
    if sixteen_bit:
        return np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if floats and 0.0 <= lo and hi <= 1.0:
        arr = arr * 255.0  # floats in [0, 1]
    elif hi > 255 and hi <= 65535 and lo >= 0:
        arr = arr / 257.0  # 16-bit values in a 32-bit container
    elif hi > 255 or lo < 0:
        arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))  # anything else: stretch to 0..255
    return np.clip(np.round(np.nan_to_num(arr)), 0, 255).astype(np.uint8)


def _to_bgr(img: Image.Image) -> np.ndarray:
    if img.mode.startswith("I;16"):
        img = Image.fromarray(_to_8bit(np.asarray(img), sixteen_bit=True))
    elif img.mode in ("I", "F"):
        sixteen = img.mode == "I" and img.format == "PNG"  # older Pillow opens 16-bit PNGs as "I"
        img = Image.fromarray(_to_8bit(np.asarray(img), sixteen_bit=sixteen))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode in ("P", "L", "RGB") and "transparency" in img.info):
        # Transparent areas become white, as a browser shows them on a white page.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    rgb = np.asarray(img.convert("RGB"))
    if max(rgb.shape[:2]) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def encode_png(image_bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR (or grayscale) uint8 image, for downloads."""
    image = np.asarray(image_bgr)
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png needs a uint8 image, got {image.dtype}.")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]  # BGRA → RGBA
    elif image.ndim == 3:
        image = image[:, :, ::-1]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()
