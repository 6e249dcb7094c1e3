"""Robustness report: one bundle scored under fixed, seeded photo perturbations.

A model is used on other people's photos: another phone, another shop's lighting, a
messaging app's JPEG. Each shift below has five severities; severity k is the same
transformation for every run (the random parts, such as a crop's offset, are seeded by
image index), so two bundles are compared on identical inputs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageEnhance, ImageFilter

from beautytune.data.images import load_rgb
from beautytune.data.records import Record
from beautytune.errors import BeautytuneError
from beautytune.evaluate.metrics import compute_metrics
from beautytune.inference.predictor import Predictor
from beautytune.io import write_json_atomic

SEVERITIES = (1, 2, 3, 4, 5)
Perturb = Callable[[Image.Image, int, np.random.Generator], Image.Image]


def _lighting(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    # darker and brighter alternate by image, as under-exposed and over-exposed shots do
    factor = (1 - 0.13 * s) if rng.random() < 0.5 else (1 + 0.2 * s)
    return ImageEnhance.Brightness(im).enhance(factor)


def _white_balance(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    # warm (tungsten) or cool (shade) casts: red and blue gains move in opposite directions
    shift = 0.06 * s * (1 if rng.random() < 0.5 else -1)
    gains = np.array([1 + shift, 1.0, 1 - shift])
    arr = np.asarray(im, dtype=np.float32) * gains
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=(60, 35, 20, 12, 6)[s - 1])
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _resolution(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    side = (160, 112, 80, 56, 40)[s - 1]  # shortest side before scaling back up
    scale = min(1.0, side / min(im.size))
    small = im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR
    )
    return small.resize(im.size, Image.Resampling.BILINEAR)


def _blur(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    radius = (0.5, 1.0, 1.5, 2.5, 4.0)[s - 1] * min(im.size) / 224
    return im.filter(ImageFilter.GaussianBlur(radius))


def _crop(im: Image.Image, s: int, rng: np.random.Generator) -> Image.Image:
    keep = (0.9, 0.8, 0.7, 0.6, 0.5)[s - 1]  # fraction of each side kept, at a seeded offset
    w, h = round(im.width * keep), round(im.height * keep)
    x = int(rng.integers(0, im.width - w + 1))
    y = int(rng.integers(0, im.height - h + 1))
    return im.crop((x, y, x + w, y + h))


PERTURBATIONS: dict[str, Perturb] = {
    "lighting": _lighting,
    "white balance": _white_balance,
    "JPEG quality": _jpeg,
    "resolution": _resolution,
    "blur": _blur,
    "crop": _crop,
}


def perturb(im: Image.Image, shift: str, severity: int, index: int, seed: int = 0) -> Image.Image:
    """``shift`` at ``severity`` (1-5) on image number ``index``: the same output every time."""
    if shift not in PERTURBATIONS:
        raise BeautytuneError(f"unknown shift '{shift}': use one of {', '.join(PERTURBATIONS)}")
    if severity not in SEVERITIES:
        raise BeautytuneError(f"severity must be one of {SEVERITIES}, not {severity}")
    rng = np.random.default_rng([seed, index, severity, list(PERTURBATIONS).index(shift)])
    return PERTURBATIONS[shift](im, severity, rng)


def run_robustness(
    predictor: Predictor,
    records: list[Record],
    out: Path,
    *,
    shifts: list[str] | None = None,
    severities: tuple[int, ...] = SEVERITIES,
    seed: int = 0,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Macro-F1 (and accuracy, ECE) clean and under each shift and severity -> JSON + plot."""
    if predictor.task.modality != "image":
        raise BeautytuneError(
            f"robustness perturbations are photo shifts; this is a {predictor.task.modality} bundle"
        )
    shifts = list(shifts or PERTURBATIONS)
    unknown = [s for s in shifts if s not in PERTURBATIONS]
    if unknown:
        raise BeautytuneError(f"unknown shift(s) {', '.join(unknown)}: use {', '.join(PERTURBATIONS)}")
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    records = [r for r in records if r.label in index]
    if not records:
        raise BeautytuneError("no examples with labels the bundle knows")
    images = [load_rgb(r.path) for r in records]
    y = np.array([index[r.label] for r in records])

    def score(batch: list[Image.Image]) -> dict[str, float]:
        probs, _ = predictor.predict_probs(batch, batch_size)
        m = compute_metrics(y, probs, predictor.labels)
        return {k: round(float(m[k]), 4) for k in ("macro_f1", "accuracy", "ece")}

    from rich.progress import track

    result: dict[str, Any] = {"n": len(records), "seed": seed, "clean": score(images), "shifts": {}}
    for shift in track(shifts, description="perturbing"):
        result["shifts"][shift] = {
            str(s): score([perturb(im, shift, s, i, seed) for i, im in enumerate(images)]) for s in severities
        }
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "robustness.json", result)
    fig = plot_robustness(result)
    from beautytune.evaluate.report import write_png

    write_png(out / "robustness.png", fig)
    return result


def plot_robustness(result: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for shift, by_sev in result["shifts"].items():
        xs = [int(s) for s in by_sev]
        ax.plot(xs, [by_sev[str(s)]["macro_f1"] for s in xs], marker="o", label=shift)
    ax.axhline(result["clean"]["macro_f1"], color="#444444", linestyle="--", label="clean")
    ax.set_xlabel("severity")
    ax.set_ylabel("macro-F1")
    ax.set_xticks(list(SEVERITIES))
    ax.set_ylim(0, 1)
    ax.set_title(f"Robustness ({result['n']} images)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig
