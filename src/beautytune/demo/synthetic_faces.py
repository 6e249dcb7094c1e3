"""A drawn face that mediapipe's FaceMesh finds: for tests and demos of the face tools
without shipping anyone's photo."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def drawn_face(
    size: int = 256,
    skin: tuple[int, int, int] = (224, 172, 140),
    background: tuple[int, int, int] = (90, 110, 140),
    grain: float = 0.0,
    seed: int = 0,
    hairline: float = 60.0,
) -> Image.Image:
    """A frontal cartoon face (skin oval, hair, eyes with irises, brows, nose, red lips),
    softened so the landmark model takes it for a photo; ``grain``: the standard deviation
    of per-pixel noise added after, a camera's texture (0: none, a soft image); ``hairline``:
    where the hair ends, in pixels of a 256-pixel face (the brows are at 86-90)."""
    im = Image.new("RGB", (size, size), background)
    d = ImageDraw.Draw(im)
    s = size / 256
    d.ellipse([60 * s, 30 * s, 196 * s, 220 * s], fill=skin)
    d.ellipse([40 * s, (hairline - 80) * s, 216 * s, hairline * s], fill=(60, 40, 30))
    for cx in (98, 158):
        d.ellipse([(cx - 18) * s, 100 * s, (cx + 18) * s, 116 * s], fill=(245, 245, 245))
        d.ellipse([(cx - 7) * s, 101 * s, (cx + 7) * s, 115 * s], fill=(70, 45, 30))
        d.ellipse([(cx - 3) * s, 105 * s, (cx + 3) * s, 111 * s], fill=(10, 10, 10))
        d.line([(cx - 20) * s, 90 * s, (cx + 18) * s, 86 * s], fill=(70, 50, 40), width=max(1, int(5 * s)))
    shade = tuple(int(c * 0.85) for c in skin)
    d.polygon([(128 * s, 112 * s), (118 * s, 150 * s), (138 * s, 150 * s)], fill=shade)
    d.ellipse([104 * s, 168 * s, 152 * s, 188 * s], fill=(180, 60, 70))
    d.line([106 * s, 178 * s, 150 * s, 178 * s], fill=(90, 30, 35), width=max(1, int(2 * s)))
    im = im.filter(ImageFilter.GaussianBlur(2 * s))
    if grain:
        noise = np.random.default_rng(seed).normal(0.0, grain, (size, size, 1))
        im = Image.fromarray(np.clip(np.asarray(im) + noise, 0, 255).astype(np.uint8))
    return im
