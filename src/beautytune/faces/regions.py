"""Skin regions drawn from FaceMesh landmarks: forehead, cheeks, nose, chin, with the eyes,
brows and lips masked out; and, for makeup models, the makeup regions: the lips, and each eye
with its lid, lashes and brow.

No face-parsing model can be had offline, so the regions are polygons over landmark
indices of the canonical 478-point mesh (subject's left/right; the subject's left cheek is
on the image's right). Each mask is the region polygon inside the face oval, minus the
(slightly dilated) eyes, brows and lips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: landmark indices around each skin region (FaceMesh canonical mesh; left/right mirror
#: each other index for index); the region is their convex hull
SKIN_REGIONS: dict[str, tuple[int, ...]] = {
    "forehead": (54, 103, 67, 109, 10, 338, 297, 332, 284, 334, 296, 336, 9, 107, 66, 105),
    "left_cheek": (345, 346, 347, 348, 349, 329, 371, 423, 426, 436, 416, 433, 376, 352),
    "right_cheek": (116, 117, 118, 119, 120, 100, 142, 203, 206, 216, 192, 213, 147, 123),
    "nose": (168, 417, 465, 343, 437, 420, 279, 294, 327, 2, 98, 64, 49, 198, 217, 114, 245, 193),
    "chin": (150, 149, 176, 148, 152, 377, 400, 378, 379, 406, 313, 18, 83, 182),  # an outline (concave top)
}
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
#: what never counts as skin (outlines; the lips' outer contour covers the mouth opening)
EXCLUDED: dict[str, tuple[int, ...]] = {
    "left_eye": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "right_eye": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "left_brow": (276, 283, 282, 295, 285, 336, 296, 334, 293, 300),
    "right_brow": (46, 53, 52, 65, 55, 107, 66, 105, 63, 70),
    "lips": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185),
}

#: where most makeup sits (lipstick; eyeshadow, liner, mascara, brow pencil): convex hulls
MAKEUP_REGIONS: dict[str, tuple[int, ...]] = {
    "lips": EXCLUDED["lips"],
    "left_eye": EXCLUDED["left_eye"] + EXCLUDED["left_brow"],
    "right_eye": EXCLUDED["right_eye"] + EXCLUDED["right_brow"],
}


@dataclass(frozen=True)
class Region:
    name: str
    mask: np.ndarray  # (H, W) bool
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive) of the mask

    @property
    def pixels(self) -> int:
        return int(self.mask.sum())


def polygon_mask(points: np.ndarray, size: tuple[int, int], hull: bool = False) -> np.ndarray:
    """(H, W) bool mask of the polygon through ``points`` ((N, 2) x, y); ``hull``: of their
    convex hull, for outlines whose landmark order is not a simple cycle (brows)."""
    if hull:
        points = _convex_hull(points)
    w, h = size
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=255)
    return np.asarray(canvas) > 0


def skin_regions(
    points: np.ndarray,
    size: tuple[int, int],
    rgb: np.ndarray | None = None,
    margin: float = 0.02,
    max_colour_distance: float = 30.0,
) -> dict[str, Region]:
    """Each skin region's mask for one face's (478, 2) landmarks on an image of ``size``
    (width, height). ``margin``: how far (share of the face width) the eyes, brows and lips
    are grown before they are cut out, so their edges (lashes, liner, lip line) stay out.
    With the photo (``rgb``) hair, glasses and deep shadow are cut out too: pixels further
    than ``max_colour_distance`` (CIELAB delta E) from the median colour of the cheeks and
    nose, the parts hair covers least."""
    w, h = size
    oval = polygon_mask(points[list(FACE_OVAL)], size)
    face_w = float(np.ptp(points[list(FACE_OVAL), 0]))
    grow = max(1, round(margin * face_w)) * 2 + 1
    excluded = np.zeros((h, w), dtype=bool)
    for idx in EXCLUDED.values():
        excluded |= polygon_mask(points[list(idx)], size, hull=True)
    excluded = np.asarray(Image.fromarray(excluded).filter(ImageFilter.MaxFilter(grow))) > 0
    masks = {
        name: polygon_mask(points[list(idx)], size, hull=name != "chin") & oval & ~excluded
        for name, idx in SKIN_REGIONS.items()
    }
    if rgb is not None:
        skin = _skin_coloured(
            rgb, masks["left_cheek"] | masks["right_cheek"] | masks["nose"], max_colour_distance
        )
        if skin is not None:
            masks = {name: mask & skin for name, mask in masks.items()}
    return {name: Region(name, mask, _box(mask)) for name, mask in masks.items()}


def makeup_regions(points: np.ndarray, size: tuple[int, int]) -> dict[str, Region]:
    """Each makeup region's mask (its landmarks' convex hull, nothing cut out: the colour
    that differs from skin is the point)."""
    masks = {name: polygon_mask(points[list(idx)], size, hull=True) for name, idx in MAKEUP_REGIONS.items()}
    return {name: Region(name, mask, _box(mask)) for name, mask in masks.items()}


def _skin_coloured(rgb: np.ndarray, reference: np.ndarray, max_distance: float) -> np.ndarray | None:
    from skimage.color import deltaE_cie76, rgb2lab

    if not reference.any():
        return None
    lab = rgb2lab(rgb)
    centre = np.median(lab[reference], axis=0)
    return np.asarray(deltaE_cie76(lab, centre[None, None, :]) <= max_distance)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _convex_hull(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return points[ConvexHull(points).vertices]
