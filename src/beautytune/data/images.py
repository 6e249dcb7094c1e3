"""Decoding images the same way everywhere (audit, training, prediction).

Every consumer goes through :func:`decode` (or its thin wrapper :func:`load_rgb`) so that the
audit judges exactly the pixels training will see: fully decoded (a truncated file is an
error, never silently grey-padded), EXIF orientation applied, first frame of an animation,
and any mode (CMYK, 16-bit, palette, alpha) converted to 8-bit RGB.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from beautytune.errors import InputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# Larger than any sane product photo; above this PIL's bomb check is our own, not a crash.
MAX_PIXELS = 64_000_000

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageError(InputError):
    """An image that cannot be used; ``str(err)`` is the reason shown to the user."""


@dataclass(frozen=True)
class Decoded:
    """An upright 8-bit RGB image plus notes on what was done to get it there.

    The notes (e.g. "converted from CMYK") let the audit tell the user about automatic
    conversions without decoding the file a second time.
    """

    image: Image.Image
    notes: tuple[str, ...] = ()


def is_image_path(path: Path) -> bool:
    """True for file names with a known image extension, in any case (``.JPG`` counts)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def load_rgb(path: str | Path) -> Image.Image:
    """Fully decode ``path`` into an upright 8-bit RGB image or raise ImageError."""
    return decode(path).image


def decode(path: str | Path, data: bytes | None = None) -> Decoded:
    """Decode ``path`` (or its already-read bytes ``data``) into an upright RGB image.

    Passing ``data`` lets the audit hash and decode a file with a single read.
    Raises ImageError with a short reason for anything that cannot be trained on.
    """
    if data is None:
        p = Path(path)
        if not p.is_file():
            raise ImageError("file not found")
        data = p.read_bytes()
    if not data:
        raise ImageError("zero-byte file")
    # Some libraries flip this global on; it would turn truncated files into grey-padded
    # "valid" images, so the audit could never see them. Writing False is idempotent.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return _decode_open(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(_bomb_reason(str(e))) from None
    except Exception as e:
        raise ImageError(_decode_failure_reason(e)) from None


def _decode_open(im: Image.Image) -> Decoded:
    """Size check, full decode, orientation and mode conversion of an opened image."""
    w, h = im.size
    if w * h > MAX_PIXELS:  # checked before load(), so the pixels are never allocated
        raise ImageError(f"decompression-bomb size {w}x{h} (over {MAX_PIXELS:,} pixels)")
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        im.seek(0)
        notes.append(f"multi-frame {im.format} ({frames} frames), first frame used")
    im.load()
    im, orientation_note = _upright(im)
    if orientation_note:
        notes.append(orientation_note)
    mode_note = _mode_note(im)
    if mode_note:
        notes.append(mode_note)
    return Decoded(to_rgb(im), tuple(notes))


def _upright(im: Image.Image) -> tuple[Image.Image, str]:
    """Apply the EXIF orientation tag, because phones store portrait shots sideways."""
    try:
        orientation = int(im.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return im, ""
    if orientation in (1, 0) or orientation > 8:
        return im, ""
    return ImageOps.exif_transpose(im), f"EXIF orientation {orientation} applied (rotated)"


def _mode_note(im: Image.Image) -> str:
    """Describe the conversion to RGB that :func:`to_rgb` will make ("" when none)."""
    mode = im.mode
    if mode == "RGB":
        return ""
    if mode in _SIXTEEN_BIT_MODES:
        return "converted from 16-bit"
    if mode in ("I", "F"):
        return "converted from 32-bit"
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        return "alpha composited on white"
    names = {"CMYK": "CMYK", "P": "palette", "L": "grayscale", "1": "1-bit", "YCbCr": "YCbCr"}
    return f"converted from {names.get(mode, mode)}"


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any mode (CMYK, 16-bit, palette, alpha) to RGB; alpha is composited on white.

    White, not black, because product shots with cut-out backgrounds sit on white.
    """
    if im.mode == "RGB":
        return im.copy()
    if im.mode in _SIXTEEN_BIT_MODES or im.mode in ("I", "F"):
        return _wide_to_rgb(im)
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")


def _wide_to_rgb(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit grey to 8 bits (PIL's own convert clips, turning most pixels white)."""
    arr = np.asarray(im, dtype=np.float64)
    sixteen_bit = im.mode in _SIXTEEN_BIT_MODES or (arr.size > 0 and arr.max() > 255)
    if sixteen_bit:
        arr = arr / 257.0
    grey = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    return grey.convert("RGB")


def _bomb_reason(message: str) -> str:
    """Shorten PIL's decompression-bomb message to the pixel count and our limit."""
    m = re.search(r"\((\d+) pixels\)", message)
    pixels = f"{int(m.group(1)):,} pixels" if m else "too many pixels"
    return f"decompression-bomb size ({pixels}, limit {MAX_PIXELS:,})"


def _decode_failure_reason(e: Exception) -> str:
    """Map PIL's many failure messages onto the few reasons users can act on."""
    msg = str(e)
    low = msg.lower()
    if isinstance(e, EOFError) or "truncated" in low:
        return "truncated image"
    if "cannot identify image file" in low:
        return "not an image"
    return f"cannot decode ({type(e).__name__}: {msg})" if msg else f"cannot decode ({type(e).__name__})"
