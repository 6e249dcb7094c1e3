"""Skin tone as the Individual Typology Angle (ITA) of CIELAB colour, in six categories.

ITA = atan((L* - 50) / b*) in degrees (Chardon et al., 1991); the categories are those of
Del Bino et al. (2006). It is an *estimate from the colour of the pixels*, which lighting,
white balance and makeup move: it groups photos to check a model across the range of skin
colours, and is not a person's identity or ethnicity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from beautytune.faces.regions import Region

#: (name, lowest ITA in degrees) from lightest to darkest; each category runs up to the one above
ITA_CATEGORIES: tuple[tuple[str, float], ...] = (
    ("very_light", 55.0),
    ("light", 41.0),
    ("intermediate", 28.0),
    ("tan", 10.0),
    ("brown", -30.0),
    ("dark", -math.inf),
)
CATEGORY_NAMES = tuple(name for name, _ in ITA_CATEGORIES)


@dataclass(frozen=True)
class Tone:
    ita: float  # degrees
    category: str
    lightness: float  # median L*
    b: float  # median b* (yellow-blue)
    pixels: int  # how many skin pixels the estimate rests on


def ita(lightness: float, b: float) -> float:
    """ITA in degrees; ``atan2`` keeps it defined (±90) where b* is 0."""
    return math.degrees(math.atan2(lightness - 50.0, b)) if b > 0 else math.copysign(90.0, lightness - 50.0)


def ita_category(angle: float) -> str:
    for name, lowest in ITA_CATEGORIES:
        if angle > lowest:
            return name
    return ITA_CATEGORIES[-1][0]


def skin_tone(rgb: np.ndarray, mask: np.ndarray | None = None) -> Tone | None:
    """The tone of the pixels of ``rgb`` ((H, W, 3) uint8 sRGB) under ``mask``; medians of
    L* and b* so that a highlight or a freckle does not move it. None: no pixels."""
    from skimage.color import rgb2lab

    pixels = rgb[mask] if mask is not None else rgb.reshape(-1, 3)
    if len(pixels) == 0:
        return None
    lab = rgb2lab(pixels.reshape(1, -1, 3).astype(np.float64) / 255.0).reshape(-1, 3)
    lightness, b = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
    angle = ita(lightness, b)
    return Tone(round(angle, 2), ita_category(angle), round(lightness, 2), round(b, 2), len(pixels))


def face_tone(rgb: np.ndarray, points: np.ndarray) -> Tone | None:
    """The tone of one face (its (478, 2) landmarks on ``rgb``) from its cheek patches, the
    skin least covered by hair, brows or shadow. None: no cheek pixels."""
    from beautytune.faces.regions import skin_regions

    return cheek_tone(rgb, skin_regions(points, (rgb.shape[1], rgb.shape[0]), rgb))


def cheek_tone(rgb: np.ndarray, regions: dict[str, Region]) -> Tone | None:
    """``face_tone`` for regions already drawn on ``rgb``."""
    cheeks = regions["left_cheek"].mask | regions["right_cheek"].mask
    return skin_tone(rgb, cheeks) if cheeks.any() else None
