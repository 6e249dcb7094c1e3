"""Skin patches for ``--faces regions``: one square image per skin region, nothing else in it.

Each patch is its region's box made square, with every pixel outside the region's mask
(eyes, brows, lips, hair, background) painted the region's median skin colour, so one
shared backbone sees skin and only skin. A region smaller than ``MIN_REGION_PX`` pixels is
absent (weight 0); the model pools over the regions present.

A photo without a usable face is taken for a skin close-up (most skin photos without a face
are): tiles of it stand in for the regions, the four quadrants and the centre of its central
square, so the model still sees skin at patch resolution rather than the whole photo shrunk
into one patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from beautytune.faces.landmarks import Face
from beautytune.faces.regions import MAKEUP_REGIONS, SKIN_REGIONS, Region, makeup_regions, skin_regions

REGION_NAMES: tuple[str, ...] = tuple(SKIN_REGIONS)
#: ``--face-regions``: which patches a regions model sees
REGION_SETS: dict[str, tuple[str, ...]] = {
    "skin": REGION_NAMES,
    "makeup": REGION_NAMES + tuple(MAKEUP_REGIONS),  # skin, plus the lips and eyes
}
MIN_REGION_PX = 100


@dataclass(frozen=True)
class Patches:
    """The patches a regions model sees for one photo, in its region set's order."""

    images: list[Image.Image]
    present: list[bool]
    #: the regions on the photo (None: no usable face; tiles of the photo stand in)
    regions: dict[str, Region] | None

    @property
    def weights(self) -> list[float]:
        return [1.0 if p else 0.0 for p in self.present]


def region_patches(image: Image.Image, face: Face | None, size: int, region_set: str = "skin") -> Patches:
    """``size`` x ``size`` patches of ``image`` for ``face``, one per region of ``region_set``;
    without a face (or without any skin region large enough) tiles of the photo fill every slot."""
    names = REGION_SETS[region_set]
    rgb = np.asarray(image.convert("RGB"))
    regions = skin_regions(face.points, image.size, rgb) if face is not None else None
    if regions is not None and not any(r.pixels >= MIN_REGION_PX for r in regions.values()):
        regions = None
    blank = Image.new("RGB", (size, size), (128, 128, 128))
    if regions is None or face is None:
        return Patches(close_up_tiles(image, size, len(names)), [True] * len(names), None)
    if any(name not in regions for name in names):
        regions = {**regions, **makeup_regions(face.points, image.size)}
    images, present = [], []
    for name in names:
        region = regions[name]
        if region.pixels < MIN_REGION_PX:
            images.append(blank)
            present.append(False)
            continue
        images.append(_patch(rgb, region, size))
        present.append(True)
    return Patches(images, present, regions)


def close_up_tiles(image: Image.Image, size: int, n: int = len(REGION_NAMES)) -> list[Image.Image]:
    """One tile per region slot: the quadrants of the photo's central square, then its centre
    (and, for more slots, the central square itself)."""
    w, h = image.size
    side = min(w, h)
    x0, y0, half = (w - side) // 2, (h - side) // 2, side // 2
    boxes = [(x0 + dx * half, y0 + dy * half) for dy in (0, 1) for dx in (0, 1)]
    boxes.append((x0 + half // 2, y0 + half // 2))
    rgb = image.convert("RGB")
    tiles = [
        rgb.crop((x, y, x + half, y + half)).resize((size, size), Image.Resampling.BICUBIC) for x, y in boxes
    ]
    whole = rgb.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.BICUBIC)
    return (tiles + [whole] * n)[:n]


def _patch(rgb: np.ndarray, region: Region, size: int) -> Image.Image:
    left, top, right, bottom = region.box
    side = max(right - left, bottom - top)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    x0, y0 = cx - side // 2, cy - side // 2
    fill = np.median(rgb[region.mask], axis=0).astype(np.uint8)
    out = np.empty((side, side, 3), dtype=np.uint8)
    out[:] = fill
    # the square may reach past the photo's edge: copy only the part inside it
    h, w = region.mask.shape
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    crop = rgb[sy0:sy1, sx0:sx1]
    keep = region.mask[sy0:sy1, sx0:sx1]
    window = out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
    window[keep] = crop[keep]
    return Image.fromarray(out).resize((size, size), Image.Resampling.BICUBIC)
