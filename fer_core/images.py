"""Reading user images: any common format in, a BGR uint8 array out, or a plain-language ImageError."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse images above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 40_000_000
# Larger images are scaled down after decoding: faces stay findable, memory stays bounded.
MAX_SIDE = 4096

Source = Union[bytes, bytearray, str, os.PathLike, BinaryIO]


class ImageError(ValueError):
    """An image that cannot be used, with a message meant for the person who supplied it."""


def _read_bytes(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"There is no image file at '{path}'.")
        return path.read_bytes()
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        return source.read()
    raise ImageError("This is not an image: pass the image's bytes, a file path or an open file.")


def load_image(source: Source) -> np.ndarray:
    """Decode an image to a BGR uint8 array [H, W, 3], upright as its EXIF orientation says.

    Grayscale, RGBA, palette, 16-bit and CMYK images are converted; an animated image gives its
    first frame. Anything that cannot be read raises ImageError with a message a person understands.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes). Please choose a photo.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"This image is too large ({width}×{height} pixels). "
                    f"Please use an image under {MAX_PIXELS // 1_000_000} megapixels."
                )
            img.seek(0)  # first frame of an animation
            img.load()
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError("This image is too large to open safely. Please use a smaller image.") from None
        except UnidentifiedImageError:
            raise ImageError(
                "This file is not an image we can read. Please use a JPEG, PNG, WebP, BMP or GIF photo."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(
                "This image is damaged or incomplete and cannot be opened. "
                "Please try another copy of the photo."
            ) from exc
    if min(img.size) < 1:
        raise ImageError("This image has no pixels.")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not lose an otherwise good photo
        pass
    return _to_bgr(img)


def _to_bgr(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() or 1.0
        img = Image.fromarray((arr * (255.0 / top if top > 255 else 1.0)).clip(0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
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
    """PNG bytes of a BGR image (for downloads)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).save(buf, format="PNG")
    return buf.getvalue()
