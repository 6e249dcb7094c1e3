"""A deliberately broken and unusual image corpus, written on demand for tests.

Every file is a row in ``CASES`` with the verdict the audit must reach, so tests can be
table-driven and a new edge case is one new row. Normal images are smooth random blobs
tinted per class: distinct from each other (no accidental near duplicates) yet learnable,
so a tiny training run on the usable rest is meaningful.
"""

from __future__ import annotations

import csv
import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LABELS = ("lipstick", "nail_polish", "perfume")
TINTS = {"lipstick": (200, 40, 60), "nail_polish": (60, 60, 200), "perfume": (220, 190, 80)}
NORMAL_PER_CLASS = 12
IMAGES_DIR = "images"
MANIFEST = "manifest.csv"
MISSING_REL = f"{IMAGES_DIR}/lipstick/missing.jpg"  # named in the manifest, never written
EXIF_STORED_SIZE = (96, 64)  # stored landscape; orientation 6 makes it 64x96 portrait
BOMB_SIZE = (20_000, 20_000)


@dataclass(frozen=True)
class CorpusCase:
    """One corpus file and the audit verdict expected for it (``keyword`` is in the reason)."""

    path: Path
    label: str
    status: str  # "ok" | "warning" | "error"
    keyword: str
    usable: bool


# name -> (label, file name under images/<label>/, status, reason keyword, writer name)
CASES: dict[str, tuple[str, str, str, str, str]] = {
    "zero_byte": ("lipstick", "empty.jpg", "error", "zero-byte", "zero_byte"),
    "truncated": ("lipstick", "truncated.jpg", "error", "truncated", "truncated"),
    "text_as_jpg": ("perfume", "readme.jpg", "error", "not an image", "text"),
    "tiny": ("lipstick", "tiny.png", "error", "too small", "tiny"),
    "bomb": ("perfume", "huge.png", "error", "decompression-bomb", "bomb"),
    "cmyk": ("nail_polish", "cmyk.jpg", "ok", "CMYK", "cmyk"),
    "png16": ("perfume", "gray16.png", "ok", "16-bit", "png16"),
    "alpha": ("lipstick", "alpha.png", "ok", "alpha", "alpha"),
    "animated_gif": ("nail_polish", "animated.gif", "ok", "first frame", "gif"),
    "exif_rotated": ("perfume", "rotated.jpg", "ok", "EXIF orientation 6", "exif"),
    "webp": ("nail_polish", "photo.webp", "ok", "ok", "webp"),
    "upper_ext": ("lipstick", "IMG_0001.JPG", "ok", "ok", "jpeg"),
    "non_ascii": ("lipstick", "rouge à lèvres 01.png", "ok", "ok", "png"),
    "wide": ("nail_polish", "banner.jpg", "warning", "aspect ratio", "wide"),
    "dup_conflict_a": ("lipstick", "same.jpg", "error", "conflicting label", "dup"),
    "dup_conflict_b": ("perfume", "same.jpg", "error", "conflicting label", "dup"),
    "twin_a": ("nail_polish", "twin.jpg", "ok", "ok", "twin"),
    "twin_b": ("nail_polish", "extra/twin.jpg", "warning", "copy skipped", "twin"),
    "near_dup_original": ("lipstick", "lookalike.jpg", "warning", "conflicting label", "near_original"),
    "near_dup_copy": ("perfume", "lookalike_copy.jpg", "warning", "conflicting label", "near_copy"),
}
UNUSABLE = {name for name, case in CASES.items() if case[2] == "error"} | {"twin_b"}


def make_broken_corpus(root: Path) -> dict[str, CorpusCase]:
    """Write the corpus under ``root/images/<label>/`` plus ``root/manifest.csv``.

    Returns case name -> CorpusCase for every file, and ``"missing"`` for the manifest row
    whose file does not exist. Deterministic: the same seed gives the same bytes.
    """
    rng = np.random.default_rng(1234)
    cases: dict[str, CorpusCase] = {}
    for label in LABELS:
        for k in range(NORMAL_PER_CLASS):
            path = root / IMAGES_DIR / label / f"{label}_{k:02d}.jpg"
            _save(picture(rng, TINTS[label]), path, "JPEG", quality=92)
            cases[f"normal_{label}_{k:02d}"] = CorpusCase(path, label, "ok", "ok", True)
    shared = _jpeg_bytes(picture(rng, (128, 128, 128)))  # one payload per byte-identical pair
    twins = {"dup": shared, "twin": _jpeg_bytes(picture(rng, TINTS["nail_polish"]))}
    lookalike = picture(rng, TINTS["lipstick"], size=(80, 80))
    for name, (label, filename, status, keyword, writer) in CASES.items():
        path = root / IMAGES_DIR / label / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        if writer in twins:
            path.write_bytes(twins[writer])
        elif writer.startswith("near_"):
            _write_lookalike(path, lookalike, copy=writer == "near_copy")
        else:
            _WRITERS[writer](path, rng, TINTS[label])
        cases[name] = CorpusCase(path, label, status, keyword, name not in UNUSABLE)
    cases["missing"] = CorpusCase(root / MISSING_REL, "lipstick", "error", "missing file", False)
    _write_manifest(root, cases)
    return cases


def picture(
    rng: np.random.Generator, tint: tuple[int, int, int], size: tuple[int, int] = (64, 64)
) -> Image.Image:
    """A random RGB image: upsampled 12x12 noise blended with a class tint.

    Blotchy rather than per-pixel noise, so that perceptual hashes are stable under
    re-encoding as they are for real photos (too smooth and the fine hash flips at random);
    random so that no two pictures look alike.
    """
    coarse = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    mixed = 0.55 * field + 0.45 * np.array(tint, dtype=np.float32)
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


def write_blank_png(path: Path, width: int, height: int) -> None:
    """A valid 1-bit PNG of any size, built by hand so nothing width x height is allocated.

    A 20000x20000 image is ~48 KB on disk but would be 400 M pixels decoded.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


# --- writers: one per kind of file -----------------------------------------------------

Writer = Callable[[Path, np.random.Generator, tuple[int, int, int]], None]


def _save(im: Image.Image, path: Path, fmt: str, **kw: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt, **kw)


def _jpeg_bytes(im: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _zero_byte(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    path.write_bytes(b"")


def _truncated(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    data = _jpeg_bytes(picture(rng, tint, size=(96, 96)))
    path.write_bytes(data[: len(data) * 6 // 10])  # header intact, scan data cut short


def _text(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    path.write_text("These are my notes about perfume, saved with the wrong extension.\n")


def _tiny(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(Image.new("RGB", (1, 1), tint), path, "PNG")


def _bomb(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    write_blank_png(path, *BOMB_SIZE)


def _cmyk(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(picture(rng, tint).convert("CMYK"), path, "JPEG", quality=95)


def _png16(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    grey = np.asarray(picture(rng, tint).convert("L"), dtype=np.uint16) * 257
    _save(Image.fromarray(grey), path, "PNG")  # mode I;16


def _alpha(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    """RGBA with a fully transparent top-left quarter (must come out white)."""
    im = picture(rng, tint).convert("RGBA")
    alpha = np.full((64, 64), 255, dtype=np.uint8)
    alpha[:32, :32] = 0
    im.putalpha(Image.fromarray(alpha))
    _save(im, path, "PNG")


def _gif(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    """Three frames: red first, then blue and green, so "first frame used" is checkable."""
    frames = [picture(rng, c) for c in ((230, 20, 20), (20, 20, 230), (20, 230, 20))]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    """Stored 96x64 with a red left half and blue right half, orientation 6 (rotate 90 CW).

    Displayed upright it is 64x96 with red on top and blue at the bottom.
    """
    w, h = EXIF_STORED_SIZE
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[:, : w // 2] = (220, 30, 30)
    arr[:, w // 2 :] = (30, 30, 220)
    noise = np.asarray(picture(rng, (128, 128, 128), size=(w, h)), dtype=np.int16) - 128
    im = Image.fromarray(np.clip(arr + noise // 4, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    _save(im, path, "JPEG", quality=95, exif=exif)


def _webp(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(picture(rng, tint), path, "WEBP", quality=90)


def _jpeg(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(picture(rng, tint), path, "JPEG", quality=92)


def _png(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(picture(rng, tint), path, "PNG")


def _wide(path: Path, rng: np.random.Generator, tint: tuple[int, int, int]) -> None:
    _save(picture(rng, tint, size=(400, 40)), path, "JPEG", quality=92)


def _write_lookalike(path: Path, im: Image.Image, *, copy: bool) -> None:
    """The original, or a resized, re-compressed copy: different bytes, same picture."""
    if copy:
        im = im.resize((72, 72), Image.Resampling.LANCZOS)
    _save(im, path, "JPEG", quality=70 if copy else 92)


_WRITERS: dict[str, Writer] = {
    "zero_byte": _zero_byte,
    "truncated": _truncated,
    "text": _text,
    "tiny": _tiny,
    "bomb": _bomb,
    "cmyk": _cmyk,
    "png16": _png16,
    "alpha": _alpha,
    "gif": _gif,
    "exif": _exif,
    "webp": _webp,
    "jpeg": _jpeg,
    "png": _png,
    "wide": _wide,
}


def _write_manifest(root: Path, cases: dict[str, CorpusCase]) -> None:
    """``path,label`` for every case, paths relative to ``root`` (the manifest's folder)."""
    with open(root / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label"])
        for case in cases.values():
            writer.writerow([case.path.relative_to(root).as_posix(), case.label])
