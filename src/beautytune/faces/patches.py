"""Skin patches for ``--faces regions``: one square image per skin region, nothing else in it.

Each patch is its region's box made square, with every pixel outside the region's mask
(eyes, brows, lips, hair, background) painted the region's median skin colour, so one
shared backbone sees skin and only skin. A region smaller than ``MIN_REGION_PX`` pixels is
absent (weight 0); the model pools over the regions present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from beautytune.faces.landmarks import Face
from beautytune.faces.regions import SKIN_REGIONS, Region, skin_regions

REGION_NAMES: tuple[str, ...] = tuple(SKIN_REGIONS)
MIN_REGION_PX = 100


@dataclass(frozen=True)
class Patches:
    """The patches a regions model sees for one photo, in ``REGION_NAMES`` order."""

    images: list[Image.Image]
    present: list[bool]
    #: the regions on the photo (None: no usable face; the whole photo stands in as one patch)
    regions: dict[str, Region] | None

    @property
    def weights(self) -> list[float]:
        return [1.0 if p else 0.0 for p in self.present]


def region_patches(image: Image.Image, face: Face | None, size: int) -> Patches:
    """``size`` x ``size`` patches of ``image`` for ``face``; without a face (or without any
    region large enough) the whole photo fills the first slot and the rest are empty."""
    rgb = np.asarray(image.convert("RGB"))
    regions = skin_regions(face.points, image.size, rgb) if face is not None else None
    if regions is not None and not any(r.pixels >= MIN_REGION_PX for r in regions.values()):
        regions = None
    blank = Image.new("RGB", (size, size), (128, 128, 128))
    if regions is None:
        whole = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        return Patches(
            [whole] + [blank] * (len(REGION_NAMES) - 1), [True] + [False] * (len(REGION_NAMES) - 1), None
        )
    images, present = [], []
    for name in REGION_NAMES:
        region = regions[name]
        if region.pixels < MIN_REGION_PX:
            images.append(blank)
            present.append(False)
            continue
        images.append(_patch(rgb, region, size))
        present.append(True)
    return Patches(images, present, regions)


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
