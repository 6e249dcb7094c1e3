"""Procedural photos of cosmetic products: the demo dataset that ships inside the package.

Why procedural: the library must be demonstrable offline, with no download and no licence
question, yet the demo has to behave like real data. So the images are drawn, not
sampled from noise, and they are made deliberately awkward:

* the *shape* is the only reliable cue to the product type. Product colours are random
  per image, the background, lighting, clutter and camera pose are random, so neither
  mean colour nor silhouette area gives the answer away;
* every image belongs to a synthetic *brand* (the ``group`` column). A brand has a
  consistent house style (cap finish, label palette, logo, "typography") and sells almost
  every product type, so brand is a nuisance variable, not a label proxy. Splitting by
  brand is therefore meaningful: a model that memorises label styles does not generalise
  to unseen brands.

Every random choice comes from a ``numpy`` Generator seeded per image
(``[seed, stream, class, index]``), so the same arguments give byte-identical files
regardless of generation order.
"""

from __future__ import annotations

import colorsys
import csv
import functools
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from beautytune.errors import DataError

__all__ = ["PRODUCT_TYPES", "generate_products"]

PRODUCT_TYPES: tuple[str, ...] = (
    "lipstick",
    "nail_polish",
    "mascara",
    "cream_jar",
    "pump_bottle",
    "dropper_serum",
    "tube",
    "compact",
    "perfume",
)

N_BRANDS = 10
# Bump whenever the drawing changes, so cached datasets made by older code are rebuilt.
GENERATOR_VERSION = 1
# Shapes are drawn at this multiple of the output size and downsampled: cheap anti-aliasing.
SUPERSAMPLE = 2

MANIFEST = "manifest.csv"
PARAMS_FILE = "synthetic.json"

# Distinct seed streams, so brand styles, brand assignment and images never share draws.
_IMAGE_STREAM = 1
_BRAND_STREAM = 2
_ASSIGN_STREAM = 3

Color = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[float, float, float, float]
Array = NDArray[np.float32]
T = TypeVar("T")

WHITE: Color = (255, 255, 255)
BLACK: Color = (22, 22, 26)
FINISHES: dict[str, Color] = {
    "gold": (206, 170, 86),
    "silver": (192, 194, 200),
    "black": BLACK,
    "white": (238, 236, 232),
    "rose": (199, 140, 128),
    "gunmetal": (88, 90, 98),
}
MIRROR: Color = (206, 214, 224)


# --------------------------------------------------------------------------- randomness


def _u(rng: Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _jit(rng: Generator, value: float, frac: float) -> float:
    """``value`` varied by up to ``frac`` either way: proportions differ within a class."""
    return value * _u(rng, 1.0 - frac, 1.0 + frac)


def _chance(rng: Generator, p: float) -> bool:
    return bool(rng.random() < p)


def _pick(rng: Generator, seq: Sequence[T]) -> T:
    return seq[int(rng.integers(len(seq)))]


# ------------------------------------------------------------------------------ colours


def _hsv(h: float, s: float, v: float) -> Color:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (round(r * 255), round(g * 255), round(b * 255))


def _random_color(rng: Generator) -> Color:
    """Any hue; one in five a neutral, because real packaging is often white, black or grey."""
    if _chance(rng, 0.2):
        return _hsv(_u(rng, 0, 1), _u(rng, 0.0, 0.15), _u(rng, 0.1, 0.97))
    return _hsv(_u(rng, 0, 1), _u(rng, 0.3, 0.95), _u(rng, 0.25, 1.0))


def _pastel(rng: Generator) -> Color:
    return _hsv(_u(rng, 0, 1), _u(rng, 0.02, 0.3), _u(rng, 0.75, 1.0))


def _mix(a: Color, b: Color, t: float) -> Color:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _shade(c: Color, f: float) -> Color:
    """Darken (f < 1) towards black or lighten (f > 1) towards white."""
    if f <= 1.0:
        return _mix((0, 0, 0), c, f)
    return _mix(c, WHITE, min(f - 1.0, 1.0))


def _luma(c: Color) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _contrasting(c: Color) -> Color:
    return BLACK if _luma(c) > 140 else WHITE


def _rgba(c: Color, alpha: int) -> tuple[int, int, int, int]:
    return (c[0], c[1], c[2], alpha)


# ------------------------------------------------------------------------------- styles


@dataclass(frozen=True)
class Brand:
    """A house style shared by every product of one brand, whatever the product type."""

    name: str
    cap: Color  # cap / case finish used across the whole line
    band: bool  # labels printed on a coloured band (else straight onto the body)
    band_color: Color
    band_round: float  # 0 = square band ends .. 1 = pill-shaped
    accent: Color
    accent_lines: bool  # thin accent rules along the band edges
    ink: Color
    logo: str
    logo_first: bool
    lines: tuple[tuple[float, ...], ...]  # relative word lengths, one tuple per text line
    weight: float  # stroke thickness of the text marks relative to the line pitch


@dataclass(frozen=True)
class Look:
    """Colours of one product instance: brand style plus per-image random product colours."""

    brand: Brand
    body: Color  # random per image so colour cannot identify the product type
    accent: Color  # second product colour: bullet, powder, rubber bulb, ...
    cap: Color


LOGOS = ("circle", "ring", "diamond", "triangle", "bars", "square", "star")


def _make_brand(seed: int, index: int) -> Brand:
    rng = np.random.default_rng([seed, _BRAND_STREAM, index])
    finish = _pick(rng, (*FINISHES, "colour"))
    cap = _random_color(rng) if finish == "colour" else FINISHES[finish]
    band_color = _pastel(rng) if _chance(rng, 0.5) else _random_color(rng)
    ink = _contrasting(band_color) if _chance(rng, 0.6) else _shade(band_color, 0.3)
    if _luma(band_color) < 110:
        ink = _pick(rng, (WHITE, FINISHES["gold"], _shade(band_color, 1.7)))
    n_lines = int(rng.integers(1, 4))
    lines = tuple(
        tuple(float(x) for x in rng.uniform(0.4, 2.4, size=int(rng.integers(1, 4)))) for _ in range(n_lines)
    )
    return Brand(
        name=f"brand_{index:02d}",
        cap=cap,
        band=_chance(rng, 0.7),
        band_color=band_color,
        band_round=_u(rng, 0.0, 1.0) if _chance(rng, 0.5) else 0.0,
        accent=_random_color(rng),
        accent_lines=_chance(rng, 0.5),
        ink=ink,
        logo=_pick(rng, LOGOS),
        logo_first=_chance(rng, 0.6),
        lines=lines,
        weight=_u(rng, 0.3, 0.6),
    )


def _make_look(rng: Generator, brand: Brand) -> Look:
    cap = brand.cap
    if _chance(rng, 0.15):  # a limited edition: brands are consistent, not perfectly so
        cap = _pick(rng, list(FINISHES.values()))
    return Look(brand=brand, body=_random_color(rng), accent=_random_color(rng), cap=cap)


# ---------------------------------------------------------------------------------- pen


class Pen:
    """Draws in unit coordinates on a square layer, so drawers read as proportions."""

    def __init__(self, draw: ImageDraw.ImageDraw, px: int) -> None:
        self.draw = draw
        self.px = px

    def _box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
        p = self.px
        return (min(x0, x1) * p, min(y0, y1) * p, max(x0, x1) * p, max(y0, y1) * p)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Color, radius: float = 0.0) -> None:
        box = self._box(x0, y0, x1, y1)
        r = min(radius * self.px, (box[2] - box[0]) / 2, (box[3] - box[1]) / 2)
        if r >= 1.0:
            self.draw.rounded_rectangle(box, radius=r, fill=fill)
        else:
            self.draw.rectangle(box, fill=fill)

    def ellipse(self, x0: float, y0: float, x1: float, y1: float, fill: Color) -> None:
        self.draw.ellipse(self._box(x0, y0, x1, y1), fill=fill)

    def ring(self, x0: float, y0: float, x1: float, y1: float, fill: Color, width: float) -> None:
        self.draw.ellipse(self._box(x0, y0, x1, y1), outline=fill, width=max(1, round(width * self.px)))

    def poly(self, pts: Sequence[Point], fill: Color) -> None:
        self.draw.polygon([(x * self.px, y * self.px) for x, y in pts], fill=fill)

    def line(self, pts: Sequence[Point], fill: Color, width: float) -> None:
        self.draw.line(
            [(x * self.px, y * self.px) for x, y in pts],
            fill=fill,
            width=max(1, round(width * self.px)),
        )


# -------------------------------------------------------------------------------- label


def _logo(pen: Pen, kind: str, cx: float, cy: float, r: float, ink: Color) -> None:
    """The brand mark: a small geometric emblem, the same on every product of the brand."""
    if kind == "circle":
        pen.ellipse(cx - r, cy - r, cx + r, cy + r, ink)
    elif kind == "ring":
        pen.ring(cx - r, cy - r, cx + r, cy + r, ink, r * 0.35)
    elif kind == "diamond":
        pen.poly([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], ink)
    elif kind == "triangle":
        pen.poly([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], ink)
    elif kind == "bars":
        for k in (-1, 0, 1):
            pen.rect(cx + k * r * 0.7 - r * 0.18, cy - r, cx + k * r * 0.7 + r * 0.18, cy + r, ink)
    elif kind == "square":
        pen.rect(cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8, ink)
    else:  # star
        pts = [
            (
                cx + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                cy - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
        pen.poly(pts, ink)


def _label(pen: Pen, look: Look, box: Box, ground: Color, vertical: bool = False) -> None:
    """Brand-styled label: band, accent rules, logo and lines of text-like marks.

    Everything here comes from the brand, never from the product type, so a label tells a
    model *who* made the product and nothing about *what* it is. ``vertical`` runs the
    "text" along the long axis of slim products (mascara, lipstick case).
    """
    brand = look.brand
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if w <= 0 or h <= 0:
        return
    ink = brand.ink
    if brand.band:
        pen.rect(x0, y0, x1, y1, brand.band_color, radius=brand.band_round * min(w, h) / 2)
        ground = brand.band_color
    if abs(_luma(ink) - _luma(ground)) < 60:
        ink = _contrasting(ground)
    along, across = (h, w) if vertical else (w, h)

    def mark(a0: float, c0: float, a1: float, c1: float, fill: Color) -> None:
        if vertical:
            pen.rect(x0 + c0, y0 + a0, x0 + c1, y0 + a1, fill)
        else:
            pen.rect(x0 + a0, y0 + c0, x0 + a1, y0 + c1, fill)

    if brand.accent_lines:
        t = across * 0.06
        mark(0, t, along, 2 * t, brand.accent)
        mark(0, across - 2 * t, along, across - t, brand.accent)
    if across < 0.02:  # too thin for text at this resolution: band only
        return
    pad = across * 0.18
    logo_r = min(across * 0.25, along * 0.15)
    logo_at = pad + logo_r if brand.logo_first else along - pad - logo_r
    lx, ly = (x0 + across / 2, y0 + logo_at) if vertical else (x0 + logo_at, y0 + across / 2)
    _logo(pen, brand.logo, lx, ly, logo_r, ink)
    a_lo = pad * 2 + 2 * logo_r if brand.logo_first else pad
    a_hi = along - pad if brand.logo_first else along - pad * 2 - 2 * logo_r
    _text_marks(mark, brand, ink, a_lo, a_hi, pad, across - pad)


def _text_marks(
    mark: Callable[[float, float, float, float, Color], None],
    brand: Brand,
    ink: Color,
    a_lo: float,
    a_hi: float,
    c_lo: float,
    c_hi: float,
) -> None:
    """Lines of "words" (filled bars): typography-like texture without a font dependency."""
    if a_hi <= a_lo or c_hi <= c_lo:
        return
    pitch = (c_hi - c_lo) / len(brand.lines)
    for li, words in enumerate(brand.lines):
        thick = pitch * brand.weight * (1.3 if li == 0 else 1.0)
        c_mid = c_lo + pitch * (li + 0.5)
        gap = 0.4
        total = sum(words) + gap * (len(words) - 1)
        unit = (a_hi - a_lo) * (0.95 if li == 0 else 0.7) / total
        a = a_lo + ((a_hi - a_lo) - unit * total) / 2
        for length in words:
            mark(a, c_mid - thick / 2, a + length * unit, c_mid + thick / 2, ink)
            a += (length + gap) * unit


# ----------------------------------------------------------------------------- products
# Each drawer draws one upright product in unit coordinates (y down, bottom near 0.96).
# Proportions are jittered so the class is a family of shapes, not one template.

Drawer = Callable[[Pen, Generator, Look], None]
CX = 0.5


def _draw_lipstick(pen: Pen, rng: Generator, look: Look) -> None:
    """Case, metal sleeve and a bullet with a slanted tip; sometimes the cap stands beside."""
    w = _jit(rng, 0.2, 0.2)
    with_cap = _chance(rng, 0.35)
    cx = CX - w * 0.75 if with_cap else CX
    yb = 0.96
    base_h, sleeve_h, bullet_h = _jit(rng, 0.34, 0.2), _jit(rng, 0.1, 0.3), _jit(rng, 0.24, 0.25)
    y_base = yb - base_h
    pen.rect(cx - w / 2, y_base, cx + w / 2, yb, look.cap, radius=w * 0.06)
    band = (cx - w * 0.36, y_base + base_h * 0.3, cx + w * 0.36, yb - base_h * 0.12)
    _label(pen, look, band, ground=look.cap, vertical=True)
    sw = w * 0.84
    sleeve = _shade(look.cap, 0.78 if _luma(look.cap) > 128 else 1.45)
    pen.rect(cx - sw / 2, y_base - sleeve_h, cx + sw / 2, y_base + 0.004, sleeve)
    bw, y0 = sw * 0.76, y_base - sleeve_h
    hi = y0 - bullet_h
    lo = hi + bw * _u(rng, 0.5, 1.0)
    tl, tr = (hi, lo) if _chance(rng, 0.5) else (lo, hi)
    pen.poly(
        [(cx - bw / 2, y0 + 0.004), (cx - bw / 2, tl), (cx + bw / 2, tr), (cx + bw / 2, y0)], look.accent
    )
    pen.line([(cx - bw / 2, tl), (cx + bw / 2, tr)], _shade(look.accent, 1.3), width=bw * 0.1)
    if with_cap:
        cap_x = cx + w * 1.5
        pen.rect(cap_x - w / 2, yb - base_h * _u(rng, 0.8, 1.1), cap_x + w / 2, yb, look.cap, radius=w * 0.06)


def _draw_nail_polish(pen: Pen, rng: Generator, look: Look) -> None:
    """Small glass bottle full of colour under a long, narrow brush cap."""
    bw, bh, yb = _jit(rng, 0.4, 0.2), _jit(rng, 0.3, 0.2), 0.96
    top = yb - bh
    glass = _mix(look.body, WHITE, 0.5)
    inset = 0.02
    if _chance(rng, 0.35):
        pen.ellipse(CX - bw / 2, top, CX + bw / 2, yb, glass)
        pen.ellipse(CX - bw / 2 + inset, top + inset, CX + bw / 2 - inset, yb - inset, look.body)
    else:
        r = bw * _u(rng, 0.05, 0.25)
        pen.rect(CX - bw / 2, top, CX + bw / 2, yb, glass, radius=r)
        pen.rect(CX - bw / 2 + inset, top + inset, CX + bw / 2 - inset, yb - inset, look.body, radius=r)
    nw, nh = bw * 0.36, 0.035
    pen.rect(CX - nw / 2, top - nh, CX + nw / 2, top + 0.01, glass)
    cw, ch = _jit(rng, 0.14, 0.2), _jit(rng, 0.4, 0.2)
    cap_bottom = top - nh + 0.005
    if _chance(rng, 0.4):
        pen.poly(
            [
                (CX - cw / 2, cap_bottom),
                (CX - cw * 0.33, cap_bottom - ch),
                (CX + cw * 0.33, cap_bottom - ch),
                (CX + cw / 2, cap_bottom),
            ],
            look.cap,
        )
    else:
        pen.rect(CX - cw / 2, cap_bottom - ch, CX + cw / 2, cap_bottom, look.cap, radius=cw * 0.2)
    if _chance(rng, 0.5):
        _label(pen, look, (CX - bw * 0.3, top + bh * 0.35, CX + bw * 0.3, top + bh * 0.65), look.body)


def _draw_mascara(pen: Pen, rng: Generator, look: Look) -> None:
    """Long slim tube whose cap is a third of its length; sometimes open to show the brush."""
    w, yb = _jit(rng, 0.14, 0.2), 0.96
    opened = _chance(rng, 0.3)
    height = _jit(rng, 0.6 if opened else 0.82, 0.1)
    cap_h = height * _u(rng, 0.3, 0.42)
    body_top = yb - (height - cap_h)
    ring = _shade(look.cap, 0.75 if _luma(look.cap) > 128 else 1.5)
    pen.rect(CX - w / 2, body_top, CX + w / 2, yb, look.body, radius=w * 0.4)
    band = (CX - w * 0.32, body_top + (yb - body_top) * 0.15, CX + w * 0.32, yb - (yb - body_top) * 0.1)
    _label(pen, look, band, ground=look.body, vertical=True)
    if opened:
        stem_h, brush_h, gap = _jit(rng, 0.1, 0.3), _jit(rng, 0.1, 0.3), _jit(rng, 0.03, 0.5)
        pen.rect(CX - w * 0.3, body_top - 0.015, CX + w * 0.3, body_top + 0.01, ring)
        brush_bottom = body_top - gap
        bristle = _pick(rng, (BLACK, (60, 40, 35), (30, 30, 60)))
        for k in range(9):  # ragged bristle edge
            y = brush_bottom - brush_h * (k + 0.5) / 9
            half = w * _u(rng, 0.28, 0.42)
            pen.rect(CX - half, y - brush_h / 14, CX + half, y + brush_h / 14, bristle)
        stem_bottom = brush_bottom - brush_h
        pen.rect(CX - w * 0.07, stem_bottom - stem_h, CX + w * 0.07, stem_bottom + 0.005, FINISHES["silver"])
        cap_bottom = stem_bottom - stem_h
        pen.rect(CX - w / 2, cap_bottom - cap_h, CX + w / 2, cap_bottom, look.cap, radius=w * 0.4)
    else:
        pen.rect(CX - w / 2, body_top - cap_h, CX + w / 2, body_top + 0.01, look.cap, radius=w * 0.4)
        pen.rect(CX - w / 2, body_top - 0.008, CX + w / 2, body_top + 0.008, ring)


def _draw_cream_jar(pen: Pen, rng: Generator, look: Look) -> None:
    """Wide, short jar under a wide lid: the squat silhouette is the cue, not the colour."""
    w, bh, lh = _jit(rng, 0.72, 0.12), _jit(rng, 0.26, 0.25), _jit(rng, 0.13, 0.3)
    eh = w * _u(rng, 0.1, 0.24)  # ellipse height: how much of the top we see
    yb = 0.88
    top = yb - bh
    x0, x1 = CX - w / 2, CX + w / 2
    pen.ellipse(x0, yb - eh / 2, x1, yb + eh / 2, look.body)
    pen.rect(x0, top, x1, yb, look.body)
    _label(pen, look, (x0 + w * 0.12, top + bh * 0.22, x1 - w * 0.12, yb - bh * 0.1), look.body)
    if _chance(rng, 0.25):  # open: the cream shows
        pen.ellipse(x0, top - eh / 2, x1, top + eh / 2, _shade(look.body, 0.8))
        cream = _mix(look.accent, WHITE, _u(rng, 0.5, 0.95))
        pen.ellipse(x0 + w * 0.04, top - eh * 0.42, x1 - w * 0.04, top + eh * 0.42, cream)
        pen.ring(CX - w * 0.18, top - eh * 0.2, CX + w * 0.18, top + eh * 0.2, _shade(cream, 0.9), 0.006)
        return
    lw = w * _u(rng, 1.0, 1.06)
    lx0, lx1, lt = CX - lw / 2, CX + lw / 2, top - lh
    pen.ellipse(lx0, top - eh / 2, lx1, top + eh / 2, look.cap)
    pen.rect(lx0, lt, lx1, top, look.cap)
    if _chance(rng, 0.5):  # ribbed lid
        for k in range(1, 16):
            x = lx0 + lw * k / 16
            pen.line([(x, lt), (x, top)], _shade(look.cap, 0.85), 0.004)
    pen.ellipse(lx0, lt - eh / 2, lx1, lt + eh / 2, _shade(look.cap, 1.2))


def _draw_pump_bottle(pen: Pen, rng: Generator, look: Look) -> None:
    """Bottle topped by a collar, a stem and a pump head with a sideways nozzle."""
    bw, bh, yb = _jit(rng, 0.36, 0.2), _jit(rng, 0.48, 0.15), 0.96
    top = yb - bh
    if _chance(rng, 0.5):
        pen.rect(CX - bw / 2, top, CX + bw / 2, yb, look.body, radius=bw * _u(rng, 0.08, 0.3))
    else:  # tapered body with rounded shoulders
        tw = bw * _u(rng, 0.7, 0.9)
        pen.poly(
            [(CX - tw / 2, top + 0.03), (CX + tw / 2, top + 0.03), (CX + bw / 2, yb), (CX - bw / 2, yb)],
            look.body,
        )
        pen.ellipse(CX - tw / 2, top, CX + tw / 2, top + 0.06, look.body)
    _label(pen, look, (CX - bw * 0.36, top + bh * 0.3, CX + bw * 0.36, top + bh * 0.75), look.body)
    cw, ch = bw * _u(rng, 0.35, 0.5), _jit(rng, 0.05, 0.2)
    pen.rect(CX - cw / 2, top - ch, CX + cw / 2, top + 0.012, look.cap, radius=cw * 0.1)
    sw, sh = cw * 0.25, _jit(rng, 0.07, 0.3)
    stem_top = top - ch - sh
    pen.rect(CX - sw / 2, stem_top, CX + sw / 2, top - ch + 0.004, _shade(look.cap, 0.85))
    hw, hh = bw * _u(rng, 0.4, 0.6), _jit(rng, 0.06, 0.2)
    ht = stem_top - hh
    pen.rect(CX - hw / 2, ht, CX + hw / 2, stem_top + 0.004, look.cap, radius=hh * 0.3)
    d = 1.0 if _chance(rng, 0.5) else -1.0
    nl, nt, droop = _jit(rng, 0.14, 0.3), hh * 0.42, _u(rng, 0.0, 0.03)
    xs, xe = CX + d * (hw / 2 - 0.01), CX + d * (hw / 2 + nl)
    pen.poly(
        [
            (xs, ht + hh * 0.1),
            (xe, ht + hh * 0.2 + droop),
            (xe, ht + hh * 0.2 + nt + droop),
            (xs, ht + hh * 0.1 + nt * 1.3),
        ],
        look.cap,
    )


def _draw_dropper_serum(pen: Pen, rng: Generator, look: Look) -> None:
    """Small glass bottle with a ribbed collar and a rubber bulb on top."""
    bw, bh, yb = _jit(rng, 0.34, 0.2), _jit(rng, 0.34, 0.2), 0.96
    top = yb - bh
    glass = _mix(look.body, WHITE, 0.45)
    r = bw * _u(rng, 0.12, 0.35)
    pen.rect(CX - bw / 2, top, CX + bw / 2, yb, glass, radius=r)
    level = _u(rng, 0.45, 0.9)
    pen.rect(CX - bw / 2 + 0.015, yb - bh * level, CX + bw / 2 - 0.015, yb - 0.015, look.body, radius=r * 0.6)
    _label(pen, look, (CX - bw * 0.36, top + bh * 0.38, CX + bw * 0.36, top + bh * 0.78), look.body)
    cw, ch = bw * _u(rng, 0.42, 0.55), _jit(rng, 0.08, 0.2)
    pen.rect(CX - cw / 2, top - ch, CX + cw / 2, top + 0.015, look.cap, radius=cw * 0.08)
    for k in range(1, 7):
        x = CX - cw / 2 + cw * k / 7
        pen.line([(x, top - ch), (x, top + 0.01)], _shade(look.cap, 0.8), 0.004)
    bulb_w, bulb_h = cw * _u(rng, 0.55, 0.8), _jit(rng, 0.2, 0.25)
    rubber = _pick(rng, (BLACK, WHITE, look.brand.band_color, look.accent))
    pen.rect(CX - bulb_w / 2, top - ch - bulb_h, CX + bulb_w / 2, top - ch + 0.01, rubber, radius=bulb_w / 2)
    pen.rect(CX - bulb_w * 0.6, top - ch - 0.02, CX + bulb_w * 0.6, top - ch + 0.005, _shade(rubber, 0.85))


def _draw_tube(pen: Pen, rng: Generator, look: Look) -> None:
    """Squeeze tube standing on its cap, widening to a crimped, ridged seal at the top."""
    wt = _jit(rng, 0.5, 0.15)
    wb = wt * _u(rng, 0.45, 0.65)
    cap_h = _jit(rng, 0.12, 0.25)
    yb = 0.96 - cap_h
    yt = 0.96 - _jit(rng, 0.86, 0.1)
    crimp = _jit(rng, 0.06, 0.25)
    pen.poly(
        [(CX - wt / 2, yt + crimp), (CX + wt / 2, yt + crimp), (CX + wb / 2, yb), (CX - wb / 2, yb)],
        look.body,
    )
    pen.rect(CX - wt / 2 - 0.01, yt, CX + wt / 2 + 0.01, yt + crimp + 0.004, _shade(look.body, 0.9))
    ridge = _shade(look.body, 0.65)
    for k in range(1, int(wt / 0.022)):
        x = CX - wt / 2 + k * 0.022
        pen.line([(x, yt), (x, yt + crimp)], ridge, 0.004)
    vertical = _chance(rng, 0.5)
    lw = wb * 0.8 if vertical else wb * 0.95
    _label(pen, look, (CX - lw / 2, yt + crimp + 0.08, CX + lw / 2, yb - 0.1), look.body, vertical)
    cw = wb * _u(rng, 0.75, 1.0)
    pen.rect(CX - wb / 2, yb - 0.01, CX + wb / 2, yb + 0.015, _shade(look.body, 0.85))
    pen.rect(CX - cw / 2, yb + 0.01, CX + cw / 2, yb + cap_h, look.cap, radius=cw * _u(rng, 0.05, 0.3))


def _pan_colors(rng: Generator, n: int) -> list[Color]:
    """A coherent eyeshadow story: hues around one base, varied in depth."""
    base = _u(rng, 0, 1)
    spread = _u(rng, 0.03, 0.3)
    return [
        _hsv(base + float(rng.normal(0, spread)), _u(rng, 0.15, 0.9), _u(rng, 0.25, 1.0)) for _ in range(n)
    ]


def _draw_round_compact(pen: Pen, rng: Generator, look: Look, case: Color) -> None:
    opened = _chance(rng, 0.4)
    d = _jit(rng, 0.46 if opened else 0.8, 0.1)
    cy = CX + d * 0.52 if opened else CX
    if opened:  # lid hinged up, mirror inside
        ly = cy - d * 1.04
        pen.ellipse(CX - d / 2, ly - d / 2, CX + d / 2, ly + d / 2, case)
        m = d * 0.07
        pen.ellipse(CX - d / 2 + m, ly - d / 2 + m, CX + d / 2 - m, ly + d / 2 - m, MIRROR)
        pen.line([(CX - d * 0.2, ly + d * 0.1), (CX + d * 0.1, ly - d * 0.2)], WHITE, d * 0.05)
        pen.rect(CX - d * 0.15, ly + d * 0.45, CX + d * 0.15, cy - d * 0.45, _shade(case, 0.8))
    pen.ellipse(CX - d / 2, cy - d / 2, CX + d / 2, cy + d / 2, case)
    m = d * 0.07
    pen.ellipse(CX - d / 2 + m, cy - d / 2 + m, CX + d / 2 - m, cy + d / 2 - m, _shade(case, 0.8))
    if _chance(rng, 0.5):  # one pressed-powder pan with an embossed ring
        m = d * 0.11
        powder = _mix(look.accent, _hsv(0.07, 0.35, 0.85), _u(rng, 0.0, 0.8))
        pen.ellipse(CX - d / 2 + m, cy - d / 2 + m, CX + d / 2 - m, cy + d / 2 - m, powder)
        pen.ring(CX - d * 0.22, cy - d * 0.22, CX + d * 0.22, cy + d * 0.22, _shade(powder, 1.15), d * 0.02)
        return
    n = int(rng.integers(4, 8))
    colors = _pan_colors(rng, n + 1)
    pr = d * (0.13 if n > 5 else 0.15)
    for k in range(n):
        a = 2 * math.pi * k / n
        px, py = CX + d * 0.25 * math.cos(a), cy + d * 0.25 * math.sin(a)
        pen.ellipse(px - pr, py - pr, px + pr, py + pr, colors[k])
    pen.ellipse(CX - pr, cy - pr, CX + pr, cy + pr, colors[n])


def _draw_palette(pen: Pen, rng: Generator, look: Look, case: Color) -> None:
    opened = _chance(rng, 0.3)
    w = _jit(rng, 0.82, 0.1)
    h = min(w * _u(rng, 0.5, 1.0), 0.44 if opened else 0.9)
    top = CX + 0.02 if opened else CX - h / 2
    radius = w * _u(rng, 0.0, 0.08)
    if opened:
        lt = top - h - 0.02
        pen.rect(CX - w / 2, lt, CX + w / 2, lt + h, case, radius=radius)
        pen.rect(CX - w / 2 + 0.03, lt + 0.03, CX + w / 2 - 0.03, lt + h - 0.03, MIRROR)
        pen.line([(CX - w * 0.3, lt + h * 0.8), (CX - w * 0.05, lt + h * 0.2)], WHITE, 0.02)
    pen.rect(CX - w / 2, top, CX + w / 2, top + h, case, radius=radius)
    m = 0.03
    foot = h * 0.16  # margin at the bottom edge for the brand name
    tx0, ty0, tx1, ty1 = CX - w / 2 + m, top + m, CX + w / 2 - m, top + h - foot
    pen.rect(tx0, ty0, tx1, ty1, _shade(case, 0.8))
    rows = int(rng.integers(1, 4))
    cols = max(2, min(6, round(rows * (tx1 - tx0) / (ty1 - ty0))))
    colors = _pan_colors(rng, rows * cols)
    cw, ch = (tx1 - tx0) / cols, (ty1 - ty0) / rows
    round_pans = _chance(rng, 0.4)
    g = min(cw, ch) * 0.12
    for r in range(rows):
        for c in range(cols):
            box = (tx0 + c * cw + g, ty0 + r * ch + g, tx0 + (c + 1) * cw - g, ty0 + (r + 1) * ch - g)
            if round_pans:
                s = min(box[2] - box[0], box[3] - box[1]) / 2
                mx, my = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                pen.ellipse(mx - s, my - s, mx + s, my + s, colors[r * cols + c])
            else:
                pen.rect(*box, colors[r * cols + c], radius=g)
    _label(pen, look, (CX - w * 0.3, top + h - foot, CX + w * 0.3, top + h - 0.005), case)


def _draw_compact(pen: Pen, rng: Generator, look: Look) -> None:
    """Flat case seen from above holding pans of colour; sometimes open on its mirror."""
    case = look.cap if _chance(rng, 0.6) else look.body
    if _chance(rng, 0.5):
        _draw_round_compact(pen, rng, look, case)
    else:
        _draw_palette(pen, rng, look, case)


def _polygon(sides: int, phase: float, cx: float, cy: float, rx: float, ry: float) -> list[Point]:
    return [
        (
            cx + rx * math.cos(phase + 2 * math.pi * k / sides),
            cy + ry * math.sin(phase + 2 * math.pi * k / sides),
        )
        for k in range(sides)
    ]


PERFUME_SHAPES: tuple[tuple[int, float], ...] = (
    (6, 0.0),  # hexagon, points left/right
    (6, math.pi / 6),  # hexagon, flat sides
    (8, math.pi / 8),  # octagon
    (4, 0.0),  # diamond
    (4, math.pi / 4),  # square
    (5, -math.pi / 2),  # pentagon
    (24, 0.0),  # round flacon
)


def _perfume_cap(pen: Pen, rng: Generator, cx: float, bottom: float, s: float, fill: Color) -> None:
    """An ornate stopper: sphere, gem, cube, tall column or crown."""
    kind = _pick(rng, ("sphere", "gem", "cube", "column", "crown"))
    light = _shade(fill, 1.25)
    if kind == "sphere":
        pen.ellipse(cx - s / 2, bottom - s, cx + s / 2, bottom, fill)
        pen.ellipse(cx - s * 0.3, bottom - s * 0.85, cx - s * 0.05, bottom - s * 0.6, light)
    elif kind == "gem":
        pts = _polygon(6, math.pi / 2, cx, bottom - s * 0.65, s * 0.45, s * 0.65)
        pen.poly(pts, fill)
        pen.poly([pts[0], pts[1], (cx, bottom - s * 0.65), pts[5]], light)
    elif kind == "cube":
        pen.rect(cx - s / 2, bottom - s, cx + s / 2, bottom, fill)
        pen.rect(cx - s * 0.3, bottom - s * 0.8, cx + s * 0.3, bottom - s * 0.2, light)
    elif kind == "column":
        pen.rect(cx - s * 0.22, bottom - s * 1.1, cx + s * 0.22, bottom, fill)
        pen.ellipse(cx - s * 0.3, bottom - s * 1.4, cx + s * 0.3, bottom - s * 0.9, fill)
    else:
        spikes = int(rng.integers(3, 6))
        crown: list[Point] = [(cx - s / 2, bottom), (cx + s / 2, bottom)]
        for k in range(2 * spikes + 1)[::-1]:
            x = cx - s / 2 + s * k / (2 * spikes)
            crown.append((x, bottom - (s if k % 2 else s * 0.55)))
        pen.poly(crown, fill)


def _draw_perfume(pen: Pen, rng: Generator, look: Look) -> None:
    """Faceted glass flacon with a metal neck and an ornate cap."""
    sides, phase = _pick(rng, PERFUME_SHAPES)
    w, h, yb = _jit(rng, 0.56, 0.15), _jit(rng, 0.44, 0.2), 0.96
    cy = yb - h / 2
    outer = _polygon(sides, phase, CX, cy, w / 2, h / 2)
    ys = [p[1] for p in outer]
    shift = yb - max(ys)  # sit the flacon on the bottom line whatever its shape
    outer = [(x, y + shift) for x, y in outer]
    cy += shift
    k = _u(rng, 0.55, 0.7)
    inner = [(CX + (x - CX) * k, cy + (y - cy) * k) for x, y in outer]
    glass = _mix(look.body, WHITE, 0.5)
    pen.poly(outer, glass)
    if sides < 12:
        for i in range(sides):
            j = (i + 1) % sides
            pen.poly([outer[i], outer[j], inner[j], inner[i]], _shade(glass, 0.8 if i % 2 else 1.15))
    pen.poly(inner, look.body)
    top = min(y for _, y in outer)
    if _chance(rng, 0.5):
        pw, ph = w * k * 0.35, h * k * 0.22
        _label(pen, look, (CX - pw, cy - ph, CX + pw, cy + ph), look.body)
    nw, nh = w * _u(rng, 0.12, 0.2), _jit(rng, 0.04, 0.3)
    pen.rect(CX - nw / 2, top - nh, CX + nw / 2, top + 0.02, _shade(look.cap, 0.9))
    s = min(w * _u(rng, 0.3, 0.5), (top - nh - 0.03) / 1.4)
    _perfume_cap(pen, rng, CX, top - nh + 0.004, s, look.cap)


DRAWERS: dict[str, Drawer] = {
    "lipstick": _draw_lipstick,
    "nail_polish": _draw_nail_polish,
    "mascara": _draw_mascara,
    "cream_jar": _draw_cream_jar,
    "pump_bottle": _draw_pump_bottle,
    "dropper_serum": _draw_dropper_serum,
    "tube": _draw_tube,
    "compact": _draw_compact,
    "perfume": _draw_perfume,
}
# Seen from above, so they get flat lighting instead of a cylinder's.
FLAT_PRODUCTS = frozenset({"compact"})


# ------------------------------------------------------------------------------ shading


def _shade_cylinder(rgb: Array, alpha: Array, rng: Generator) -> Array:
    """Darken row-wise towards each part's edges and add a specular streak.

    Working row by row (each row's own left and right edge) shades a narrow cap and a wide
    body as separate cylinders, which is what makes flat shapes read as 3-D objects.
    """
    inside = alpha > 0
    w = rgb.shape[1]
    left = inside.argmax(axis=1)
    right = w - 1 - inside[:, ::-1].argmax(axis=1)
    span = np.maximum(right - left + 1, 1).astype(np.float32)
    x = np.arange(w, dtype=np.float32)[None, :]
    u = np.clip((x - left[:, None]) / span[:, None], 0.0, 1.0)
    dark, power = _u(rng, 0.25, 0.55), _u(rng, 1.6, 3.0)
    profile = 1.0 - dark * np.abs(2.0 * u - 1.0) ** power
    spec_at = _u(rng, 0.2, 0.35) if _chance(rng, 0.5) else _u(rng, 0.65, 0.8)
    spec = _u(rng, 0.15, 0.6) * np.exp(-(((u - spec_at) / _u(rng, 0.04, 0.1)) ** 2))
    out = rgb * profile[..., None]
    return out + (255.0 - out) * spec[..., None]


def _shade_flat(rgb: Array, alpha: Array, rng: Generator) -> Array:
    """A soft directional gradient with a broad sheen: lighting on a surface facing the camera."""
    h, w = alpha.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = _u(rng, 0, 2 * math.pi)
    t = ((xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a)) * 2
    out = rgb * (1.0 - _u(rng, 0.1, 0.3) * t)[..., None]
    sx, sy, sr = _u(rng, 0.2, 0.8), _u(rng, 0.2, 0.8), _u(rng, 0.2, 0.4)
    sheen = _u(rng, 0.05, 0.25) * np.exp(-(((xx / w - sx) ** 2 + (yy / h - sy) ** 2) / sr**2))
    return out + (255.0 - out) * sheen[..., None]


def _render_product(label: str, rng: Generator, look: Look, px: int) -> Image.Image:
    """Draw, shade and crop one product: an RGBA image tight around the object."""
    layer = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    DRAWERS[label](Pen(ImageDraw.Draw(layer), px), rng, look)
    bbox = layer.getbbox()
    if bbox is None:  # cannot happen with the drawers above; keep the pipeline total
        return layer
    arr = np.asarray(layer.crop(bbox), dtype=np.float32)
    shade = _shade_flat if label in FLAT_PRODUCTS else _shade_cylinder
    rgb = shade(arr[..., :3], arr[..., 3], rng)
    arr[..., :3] = np.clip(rgb, 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "RGBA")


# ---------------------------------------------------------------------------- placement


def _perspective_coeffs(dst: NDArray[np.float64], src: NDArray[np.float64]) -> tuple[float, ...]:
    """PIL's PERSPECTIVE data: the homography taking output pixels ``dst`` back to ``src``."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(dst.tolist(), src.tolist(), strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return tuple(float(c) for c in np.linalg.solve(np.array(rows), np.array(rhs)))


def _place(
    product: Image.Image,
    rng: Generator,
    frame: int,
    scale: float,
    centre: Point | None = None,
    floor: float | None = None,
) -> Image.Image:
    """Scale, rotate (±20°), shear and perspective-warp ``product`` into a frame-sized layer.

    ``centre`` pins the object's centre (for cut-off distractors at the border); ``floor``
    stands it on a table line; otherwise it is jittered anywhere it stays (nearly) in frame.
    """
    pw, ph = product.size
    k = scale * frame / max(pw, ph)
    sw, sh = max(1, round(pw * k)), max(1, round(ph * k))
    # Premultiplied alpha, so resampling does not bleed dark fringes from transparent pixels.
    small = product.convert("RGBa").resize((sw, sh), Image.Resampling.BILINEAR)
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float64)
    theta = math.radians(_u(rng, -20, 20))
    shear = _u(rng, -0.15, 0.15)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    dst = (src - [sw / 2, sh / 2]) @ (rot @ np.array([[1.0, shear], [0.0, 1.0]])).T
    dst += rng.normal(0, 0.03 * max(sw, sh), size=(4, 2))  # corner jitter = slight perspective
    if centre is not None:
        dst += [centre[0] * frame, centre[1] * frame]
    else:
        lo, hi = dst.min(axis=0), dst.max(axis=0)
        margin = 0.04 * frame
        tx = _u(rng, min(-lo[0] - margin, frame / 2), max(frame - hi[0] + margin, frame / 2))
        if floor is None:
            ty = _u(rng, min(-lo[1] - margin, frame / 2), max(frame - hi[1] + margin, frame / 2))
        else:
            ty = max(floor * frame + _u(rng, 0, 0.06 * frame) - hi[1], -lo[1] - margin)
        dst += [tx, ty]
    coeffs = _perspective_coeffs(dst, src)
    warped = small.transform((frame, frame), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR)
    return warped.convert("RGBA")


# --------------------------------------------------------------------------- background


@functools.lru_cache(maxsize=8)
def _grid(n: int) -> tuple[Array, Array]:
    """Normalised pixel coordinates (x, y) in [0, 1); cached and read-only, used per image."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    xx.flags.writeable = False
    yy.flags.writeable = False
    return xx, yy


def _bg_solid(rng: Generator, n: int) -> Array:
    c = _pastel(rng) if _chance(rng, 0.5) else _random_color(rng)
    return np.broadcast_to(np.array(c, np.float32), (n, n, 3)).copy()


def _bg_gradient(rng: Generator, n: int) -> Array:
    a, b = _pastel(rng), _random_color(rng) if _chance(rng, 0.5) else _pastel(rng)
    xx, yy = _grid(n)
    ang = _u(rng, 0, 2 * math.pi)
    t = xx * math.cos(ang) + yy * math.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return np.array(a, np.float32) * (1 - t[..., None]) + np.array(b, np.float32) * t[..., None]


def _smooth_noise(rng: Generator, n: int, cells: int) -> Array:
    """Low-frequency noise in [0, 1]: a few random values upsampled smoothly."""
    small = (rng.random((cells, cells)) * 255).astype(np.uint8)
    big = Image.fromarray(small, "L").resize((n, n), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def _bg_mottled(rng: Generator, n: int) -> Array:
    a, b = _random_color(rng), _pastel(rng)
    t = _smooth_noise(rng, n, int(rng.integers(3, 10)))[..., None]
    grain = rng.standard_normal((n, n, 1), dtype=np.float32) * _u(rng, 2, 10)
    return np.array(a, np.float32) * t + np.array(b, np.float32) * (1 - t) + grain


def _bg_stripes(rng: Generator, n: int) -> Array:
    """Fabric, tiles or wood-like stripes: strong straight edges that are not products."""
    a, b = _random_color(rng), _random_color(rng)
    xx, yy = _grid(n)
    ang = _u(rng, 0, math.pi)
    warp = _smooth_noise(rng, n, 4) * _u(rng, 0, 3)
    phase = (xx * math.cos(ang) + yy * math.sin(ang)) * _u(rng, 3, 16) + warp
    t = (0.5 + 0.5 * np.sin(2 * math.pi * phase)) ** _u(rng, 0.5, 3)
    return np.array(a, np.float32) * t[..., None] + np.array(b, np.float32) * (1 - t[..., None])


def _bg_marble(rng: Generator, n: int) -> Array:
    base, vein = _pastel(rng), _shade(_random_color(rng), _u(rng, 0.4, 0.9))
    xx, yy = _grid(n)
    turb = _smooth_noise(rng, n, 5) * 4 + _smooth_noise(rng, n, 13) * 1.5
    v = np.abs(np.sin((xx + yy * _u(rng, -1, 1)) * _u(rng, 3, 8) + turb)) ** _u(rng, 0.15, 0.4)
    return np.array(vein, np.float32) * (1 - v[..., None]) + np.array(base, np.float32) * v[..., None]


BACKGROUNDS: dict[str, Callable[[Generator, int], Array]] = {
    "solid": _bg_solid,
    "gradient": _bg_gradient,
    "mottled": _bg_mottled,
    "stripes": _bg_stripes,
    "marble": _bg_marble,
}


def _background(rng: Generator, n: int) -> tuple[Array, float | None]:
    """A wall, and sometimes a table or shelf top below it; returns (image, floor line)."""
    wall = BACKGROUNDS[_pick(rng, tuple(BACKGROUNDS))](rng, n)
    if not _chance(rng, 0.4):
        return wall, None
    floor = _u(rng, 0.55, 0.85)
    row = round(floor * n)
    table = BACKGROUNDS[_pick(rng, tuple(BACKGROUNDS))](rng, n)
    wall[row:] = table[row:] * _u(rng, 0.6, 1.1)
    edge = max(1, n // 100)
    wall[row : row + edge] = wall[row : row + edge] * 0.5 + 127
    if _chance(rng, 0.5):  # shelf lip: a darker front band
        lip = round(_u(rng, 0.03, 0.08) * n)
        wall[n - lip :] *= 0.6
    return wall, floor


# -------------------------------------------------------------------------------- clutter


def _shape_points(rng: Generator, cx: float, cy: float, r: float) -> list[Point]:
    """Outline of a random distractor: pad, pebble, petal, box or stick, rotated at random."""
    kind = _pick(rng, ("blob", "ellipse", "petal", "box", "stick"))
    t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    if kind == "blob":
        rr = r * rng.uniform(0.7, 1.15, size=t.size)
        x, y = rr * np.cos(t), rr * np.sin(t)
    elif kind == "ellipse":
        x, y = r * np.cos(t), r * _u(rng, 0.3, 1.0) * np.sin(t)
    elif kind == "petal":
        x, y = r * np.cos(t), r * 0.45 * np.sin(t) * (1 - 0.6 * np.abs(np.cos(t)))
    elif kind == "box":
        f = _u(rng, 0.3, 1.0)
        x, y = np.array([-r, r, r, -r]), np.array([-r * f, -r * f, r * f, r * f])
    else:
        f = _u(rng, 0.06, 0.15)
        x, y = np.array([-r, r, r, -r]), np.array([-r * f, -r * f, r * f, r * f])
    a = _u(rng, 0, 2 * math.pi)
    xr, yr = x * math.cos(a) - y * math.sin(a) + cx, x * math.sin(a) + y * math.cos(a) + cy
    return list(zip(xr.tolist(), yr.tolist(), strict=True))


def _point_on_edge(rng: Generator, box: Box) -> Point:
    """A random point on one of the four sides of ``box``."""
    x0, y0, x1, y1 = box
    side = int(rng.integers(4))
    if side < 2:
        return (x0 if side == 0 else x1), _u(rng, y0, y1)
    return _u(rng, x0, x1), (y0 if side == 2 else y1)


def _clutter(rng: Generator, n: int, count: int, near: Box | None) -> Image.Image:
    """Distractor shapes on a transparent layer; with ``near`` they sit on that box's edge,
    partly occluding the product without hiding it."""
    layer = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(count):
        if near is None:
            cx, cy, r = _u(rng, 0, n), _u(rng, 0, n), _u(rng, 0.08, 0.3) * n
            alpha = int(rng.integers(90, 256))
        else:
            cx, cy = _point_on_edge(rng, near)
            r, alpha = _u(rng, 0.06, 0.13) * n, 255
        color = _pastel(rng) if _chance(rng, 0.4) else _random_color(rng)
        draw.polygon(_shape_points(rng, cx, cy, r), fill=_rgba(color, alpha))
    return layer


def _cast_shadow(scene: Image.Image, layer: Image.Image, rng: Generator) -> Image.Image:
    """Darken ``scene`` under a soft, offset copy of the product's alpha: a contact shadow
    that grounds the object instead of leaving it pasted on."""
    n = scene.size[0]
    # Blurred at quarter resolution: a shadow has no detail worth the cost of full size.
    alpha = layer.getchannel("A").reduce(4)
    alpha = alpha.filter(ImageFilter.GaussianBlur(n / 4 * _u(rng, 0.01, 0.03)))
    alpha = alpha.resize((n, n), Image.Resampling.BILINEAR)
    strength = _u(rng, 0.15, 0.5)
    mask = Image.new("L", (n, n), 0)
    offset = (round(_u(rng, -0.04, 0.04) * n), round(_u(rng, 0.0, 0.04) * n))
    mask.paste(alpha.point(lambda v: round(v * strength)), offset)
    return Image.composite(Image.new("RGBA", (n, n), (0, 0, 0, 255)), scene, mask)


# ------------------------------------------------------------------------ camera / noise


def _lighting(img: Array, rng: Generator) -> Array:
    """Uneven exposure, contrast, colour cast and sometimes a glare streak."""
    n = img.shape[0]
    xx, yy = _grid(n)
    a = _u(rng, 0, 2 * math.pi)
    t = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a)
    img = img * (_u(rng, 0.75, 1.15) * (1 + _u(rng, 0.0, 0.6) * t))[..., None]
    mean = float(img.mean())
    img = (img - mean) * _u(rng, 0.7, 1.25) + mean
    img = img * (1 + rng.uniform(-0.07, 0.07, size=3)).astype(np.float32)
    if _chance(rng, 0.35):
        b = _u(rng, 0, math.pi)
        d = (xx - _u(rng, 0.2, 0.8)) * math.cos(b) + (yy - _u(rng, 0.2, 0.8)) * math.sin(b)
        glare = _u(rng, 0.1, 0.35) * np.exp(-((d / _u(rng, 0.02, 0.12)) ** 2))
        img = img + (255 - np.clip(img, 0, 255)) * glare[..., None]
    return img


def _sensor(img: Image.Image, rng: Generator) -> Image.Image:
    """Gaussian noise, occasional defocus blur and JPEG artefacts."""
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * _u(rng, 0, 8)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if _chance(rng, 0.25):
        out = out.filter(ImageFilter.GaussianBlur(_u(rng, 0.4, 1.1)))
    if _chance(rng, 0.3):
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=int(rng.integers(30, 86)))
        buf.seek(0)
        with Image.open(buf) as jpg:
            out = jpg.convert("RGB")
    return out


# -------------------------------------------------------------------------------- scene


def _composite(base: Image.Image, layer: Image.Image) -> Image.Image:
    return Image.alpha_composite(base, layer)


def _render_image(
    label: str, rng: Generator, brand: Brand, brands: Sequence[Brand], size: int
) -> Image.Image:
    """One photo: background, clutter, maybe a cut-off second product, the product, occluders,
    then lighting and sensor effects. Drawn at ``SUPERSAMPLE`` x and downsampled."""
    n = size * SUPERSAMPLE
    # Backgrounds are smooth: render them at output size and upsample, a quarter of the work.
    bg, floor = _background(rng, size)
    scene = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    scene = scene.resize((n, n), Image.Resampling.BILINEAR).convert("RGBA")
    scene = _composite(scene, _clutter(rng, n, int(rng.integers(0, 5)), near=None))
    if _chance(rng, 0.3):  # part of another product, cut off by the frame edge
        other = _pick(rng, [t for t in PRODUCT_TYPES if t != label])
        o_look = _make_look(rng, _pick(rng, brands))
        edge = _u(rng, -0.05, 0.1)
        along = _u(rng, 0.1, 0.9)
        centre = _pick(rng, ((edge, along), (1 - edge, along), (along, edge), (along, 1 - edge)))
        piece = _render_product(other, rng, o_look, n)
        scene = _composite(scene, _place(piece, rng, n, _u(rng, 0.25, 0.45), centre=centre))
    product = _render_product(label, rng, _make_look(rng, brand), n)
    layer = _place(product, rng, n, _u(rng, 0.5, 0.9), floor=floor)
    scene = _composite(_cast_shadow(scene, layer, rng), layer)
    bbox = layer.getbbox()
    if bbox is not None and _chance(rng, 0.35):
        scene = _composite(scene, _clutter(rng, n, int(rng.integers(1, 3)), near=bbox))
    # Integer-factor box average: exact supersampling anti-aliasing, ~15x cheaper than LANCZOS.
    small = scene.convert("RGB").reduce(SUPERSAMPLE)
    lit = _lighting(np.asarray(small, dtype=np.float32), rng)
    return _sensor(Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8), "RGB"), rng)


# ---------------------------------------------------------------------------- dataset


def _params(n_per_class: int, seed: int, size: int) -> dict[str, Any]:
    return {
        "generator": "beautytune.demo.synthetic",
        "version": GENERATOR_VERSION,
        "n_per_class": n_per_class,
        "seed": seed,
        "size": size,
        "product_types": list(PRODUCT_TYPES),
        "n_brands": N_BRANDS,
    }


def _read_params(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out / PARAMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_current(out: Path, params: dict[str, Any]) -> bool:
    return (out / MANIFEST).is_file() and _read_params(out) == params


def _check_replaceable(out: Path) -> None:
    """Only ever replace an empty folder or a dataset this module made: never user data."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; choose another output path")
    if any(out.iterdir()) and _read_params(out) is None:
        raise DataError(
            f"{out}: folder is not empty and holds no synthetic dataset; choose an empty or new output folder"
        )


@dataclass(frozen=True)
class _Job:
    label: str
    class_index: int
    index: int
    brand: Brand


def _run_job(job: _Job, root: Path, seed: int, size: int, brands: Sequence[Brand]) -> tuple[str, str, str]:
    """Render and save one image; its own seeded Generator makes the result order-free."""
    rng = np.random.default_rng([seed, _IMAGE_STREAM, job.class_index, job.index])
    img = _render_image(job.label, rng, job.brand, brands, size)
    rel = f"images/{job.label}/{job.label}_{job.index}.png"
    # Noisy pixels barely compress: level 1 is nearly as small as 6 and much faster.
    img.save(root / rel, format="PNG", compress_level=1)
    return rel, job.label, job.brand.name


def _write_dataset(root: Path, n_per_class: int, seed: int, size: int) -> None:
    brands = [_make_brand(seed, b) for b in range(N_BRANDS)]
    jobs: list[_Job] = []
    for c, label in enumerate(PRODUCT_TYPES):
        (root / "images" / label).mkdir(parents=True)
        # Balanced, shuffled brand assignment: every brand sells (almost) every type.
        order = np.random.default_rng([seed, _ASSIGN_STREAM, c]).permutation(N_BRANDS)
        jobs += [_Job(label, c, i, brands[int(order[i % N_BRANDS])]) for i in range(n_per_class)]
    # Threads, not processes: PIL and numpy release the GIL in the heavy calls, and threads
    # need no pickling, no __main__ guard and no fork inside a training process.
    workers = min(4, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        rows = list(pool.map(lambda job: _run_job(job, root, seed, size, brands), jobs))
    finally:  # on Ctrl-C or an error, drop the queued images instead of rendering them all
        pool.shutdown(wait=True, cancel_futures=True)
    with open(root / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("path", "label", "group"))
        writer.writerows(rows)


def _swap_into_place(tmp: Path, out: Path, params: dict[str, Any]) -> None:
    """Rename the finished dataset onto ``out``; an older one is moved aside, then deleted."""
    if out.exists():
        if _is_current(out, params):  # a concurrent run finished first
            shutil.rmtree(tmp)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "data")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def generate_products(out: str | Path, n_per_class: int = 40, seed: int = 0, size: int = 128) -> Path:
    """Write out/images/<label>/<label>_<i>.png and out/manifest.csv (columns path,label,group;
    paths relative to the CSV). Return path to manifest.csv. Deterministic by seed.

    The dataset is built in a hidden temporary folder next to ``out`` and renamed into place
    only when complete, so an interrupted run never leaves a half-written dataset. If ``out``
    already holds a dataset generated with the same parameters (``out/synthetic.json``), it
    is returned as is.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size}")
    out = Path(out)
    params = _params(n_per_class, seed, size)
    if _is_current(out, params):
        return out / MANIFEST
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp's 0700 would otherwise become the dataset's permissions
    try:
        _write_dataset(tmp, n_per_class, seed, size)
        # Written last: its presence marks a complete dataset.
        (tmp / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")
        _swap_into_place(tmp, out, params)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / MANIFEST
