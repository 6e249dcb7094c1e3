"""Face preparation as a processor step: the photo a model sees is the face, not the scene.

``crop``: the landmarks' box grown by a margin, made square; ``align``: the same after
turning the photo so the eyes are level; ``regions``: the aligned face's skin patches
(faces/patches.py) for a model that pools one backbone over them. What FaceMesh finds in a file is cached on disk
(keyed by the file's path, size and mtime and the mesh settings), so each photo is meshed
once across epochs, runs and strategies. A photo without a usable face is used whole
(``fallback="whole"``) or refused with its reason (``"skip"``).
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from beautytune.errors import InputError
from beautytune.faces.landmarks import NUM_LANDMARKS, Face, FaceMesher
from beautytune.faces.patches import Patches, region_patches
from beautytune.faces.quality import Quality, QualitySettings, assess
from beautytune.faces.tone import Tone, face_tone

FACE_MODES = ("off", "crop", "align", "regions")
FALLBACKS = ("whole", "skip")
_EYE_R, _EYE_L = 33, 263
_CACHE_VERSION = "facemesh-0.10.21-v1"


@dataclass(frozen=True)
class FaceOptions:
    mode: str = "off"
    margin: float = 0.25  # share of the face box added on each side
    fallback: str = "whole"
    regions: str = "skin"  # the region set of ``regions`` (faces/patches.py REGION_SETS)

    def check(self) -> None:
        if self.mode not in FACE_MODES:
            raise ValueError(f"--faces {self.mode}: use one of {', '.join(FACE_MODES)}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"--faces-fallback {self.fallback}: use whole or skip")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"--face-margin {self.margin}: use a share of the face size from 0 to 2")


@lru_cache(maxsize=1)
def _mesher() -> FaceMesher:
    return FaceMesher()


def faces_of(rgb: np.ndarray, source: str | Path | None = None) -> list[Face]:
    """FaceMesh on ``rgb``; cached on disk by the file's fingerprint when ``source`` is its path."""
    from beautytune.data.cache import cache_root, file_fingerprint
    from beautytune.io import write_bytes_atomic

    path = None
    if source is not None:
        key = f"{_CACHE_VERSION}|{file_fingerprint(str(source))}|{rgb.shape}"
        path = cache_root() / "faces" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"
        if path.is_file():
            try:
                arr = np.load(path, allow_pickle=False)
                return [Face(a[:, :2], a[:, 2]) for a in arr]
            except (OSError, ValueError):
                pass
    found = _mesher().faces(rgb)
    if path is not None:
        arr = (
            np.stack([np.column_stack([f.points, f.depth]) for f in found])
            if found
            else np.zeros((0, NUM_LANDMARKS, 3))
        )
        buf = io.BytesIO()
        np.save(buf, arr.astype(np.float32), allow_pickle=False)
        write_bytes_atomic(path, buf.getvalue())
    return found


def tone_of_file(path: str | Path) -> Tone | None:
    """The skin tone of the first face in the photo at ``path`` (None: no face, or unreadable)."""
    from beautytune.data.images import ImageError, load_rgb

    try:
        rgb = np.asarray(load_rgb(path))
    except ImageError:
        return None
    found = faces_of(rgb, path)
    return face_tone(rgb, found[0].points) if found else None


def face_box(face: Face, size: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """A square around the landmarks, grown by ``margin`` on each side, kept inside the photo
    where it fits (a face near the edge keeps its square by moving it, not by shrinking it)."""
    left, top, right, bottom = face.box
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    side = min(side, float(min(size)))
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0 = min(max(0.0, cx - side / 2), size[0] - side)
    y0 = min(max(0.0, cy - side / 2), size[1] - side)
    return round(x0), round(y0), round(x0 + side), round(y0 + side)


def aligned(image: Image.Image, face: Face) -> tuple[Image.Image, Face]:
    """The photo turned about the eyes' midpoint so they are level, and the landmarks with it."""
    p = face.points
    dx, dy = p[_EYE_L] - p[_EYE_R]
    angle = math.degrees(math.atan2(float(dy), float(dx)))
    centre = (p[_EYE_L] + p[_EYE_R]) / 2
    turned = image.rotate(
        angle, resample=Image.Resampling.BICUBIC, center=(float(centre[0]), float(centre[1]))
    )
    a = math.radians(angle)
    # PIL turns the picture counter-clockwise by `angle`; the points turn with it
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]], dtype=np.float32)
    points = (p - centre) @ rot.T + centre
    return turned, Face(points.astype(np.float32), face.depth)


def locate(
    image: Image.Image, options: FaceOptions, source: str | Path | None = None
) -> tuple[Face | None, Quality]:
    """The photo's first face (None: none found) and its capture quality. Raises InputError
    (the reason) when there is no face and the fallback is ``skip``."""
    rgb = np.asarray(image.convert("RGB"))
    faces = faces_of(rgb, source)
    quality = assess(rgb, faces, QualitySettings())
    if not faces and options.fallback == "skip":
        raise InputError(quality.issues[0])
    return (faces[0] if faces else None), quality


def prepare_face(
    image: Image.Image, options: FaceOptions, source: str | Path | None = None
) -> tuple[Image.Image, Quality]:
    """The image the model sees under ``options`` (crop or align) and the photo's capture
    quality; without a face the photo is used whole (or refused: ``skip``)."""
    face, quality = locate(image, options, source)
    if face is None:
        return image, quality
    if options.mode == "align":
        image, face = aligned(image, face)
    return image.crop(face_box(face, image.size, options.margin)), quality


def prepare_regions(
    image: Image.Image, options: FaceOptions, size: int, source: str | Path | None = None
) -> tuple[Patches, Quality]:
    """The skin patches of the face (eyes levelled first, so every patch is upright)."""
    face, quality = locate(image, options, source)
    if face is not None:
        image, face = aligned(image, face)
    return region_patches(image, face, size, options.regions), quality
