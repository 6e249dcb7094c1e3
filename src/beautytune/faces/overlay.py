"""An overlay a person can check a face analysis on: the face box, the landmarks, and each
skin region tinted by what the model said about it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from beautytune.faces.regions import Region

# a colour per predicted class (tab10), so the same label is the same colour on every photo
PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip
NEUTRAL = (255, 255, 255)


def draw_overlay(
    image: Image.Image,
    points: np.ndarray | None,
    box: tuple[int, int, int, int] | None,
    regions: dict[str, Region] | None,
    region_labels: dict[str, tuple[str, float]] | None,
    labels: list[str],
    caption: str,
) -> Image.Image:
    """The photo with the regions tinted by their predicted class (white: no per-region
    prediction), the landmarks as dots, the face box, and ``caption`` along the top."""
    base = image.convert("RGB")
    scale = max(1.0, 640 / max(base.size))  # small photos are enlarged so the text stays legible
    out = np.asarray(base, dtype=np.float32).copy()
    for name, region in (regions or {}).items():
        said = (region_labels or {}).get(name)
        colour = PALETTE[labels.index(said[0]) % len(PALETTE)] if said and said[0] in labels else NEUTRAL
        out[region.mask] = 0.55 * out[region.mask] + 0.45 * np.asarray(colour, dtype=np.float32)
    canvas = Image.fromarray(out.astype(np.uint8))
    if scale > 1:
        canvas = canvas.resize((round(canvas.width * scale), round(canvas.height * scale)))
    draw = ImageDraw.Draw(canvas)
    if points is not None:
        r = max(1.0, scale * max(base.size) / 400)
        for x, y in points * scale:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 255, 180))
    if box is not None:
        draw.rectangle(
            tuple(round(v * scale) for v in box), outline=(255, 230, 0), width=max(2, round(scale))
        )
    for name, region in (regions or {}).items():
        said = (region_labels or {}).get(name)
        if said is None or not region.pixels:
            continue
        ys, xs = np.nonzero(region.mask)
        text = f"{name}: {said[0]} {said[1]:.2f}"
        at = (float(xs.mean()) * scale, float(ys.mean()) * scale)
        draw.text(at, text, fill=(255, 255, 255), anchor="mm", stroke_width=2, stroke_fill=(0, 0, 0))
    draw.text((6, 6), caption, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return canvas
