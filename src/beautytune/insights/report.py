"""index.html and charts for ``run_insights``, in the house style of the evaluation report.

Charts are drawn on standalone ``Figure`` objects with the Agg canvas (never pyplot),
so nothing touches the global matplotlib backend; every file is written atomically.
"""

from __future__ import annotations

import io
import math
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from beautytune.evaluate.report import template_environment
from beautytune.io import write_bytes_atomic, write_text_atomic

ASPECTS_PNG = "aspects.png"
SKIN_TYPES_PNG = "skin_types.png"
INDEX_HTML = "index.html"
DPI = 110
MAX_PANELS = 12  # small multiples beyond this stop being readable; the HTML tables have the rest
NEG_COLOUR = "#d6604d"
POS_COLOUR = "#4393c3"
NEU_COLOUR = "#d9d9d9"
TITLE_CHARS = 52


def write_insights_report(out: Path, doc: dict[str, Any]) -> tuple[Path, list[Path]]:
    """Write the charts and index.html for an insights document; return (html, charts)."""
    pos, neg = doc["polarity"]["positive"], doc["polarity"]["negative"]
    groups = [doc["overall"], *doc["products"]]
    charts: list[dict[str, Any]] = []
    fig = plot_aspect_panels(groups[:MAX_PANELS], pos, neg)
    write_png(out / ASPECTS_PNG, fig)
    charts.append(
        {
            "file": ASPECTS_PNG,
            "title": "What customers say, aspect by aspect",
            "note": (
                f"Each bar is the sentences mentioning an aspect: {neg} share in red to the left, "
                f"{pos} share in blue to the right, neutral in grey around the centre line. Aspects "
                "are sorted by mentions (number on the right); faded bars have too few mentions to trust."
                + (f" First {MAX_PANELS - 1} products shown." if len(groups) > MAX_PANELS else "")
            ),
        }
    )
    if doc["skin_types"]:
        write_png(
            out / SKIN_TYPES_PNG, plot_skin_types(doc["skin_types"], [a["name"] for a in doc["aspects"]])
        )
        charts.append(
            {
                "file": SKIN_TYPES_PNG,
                "title": "By skin type",
                "note": f"Net score = share {pos} minus share {neg} of the sentences mentioning the aspect; "
                "n = mentions. Blank cells: fewer than 3 mentions.",
            }
        )
    html = (
        _environment()
        .get_template("insights.html.j2")
        .render(doc=doc, pos=pos, neg=neg, charts=charts, groups=groups, labels=doc["labels"])
    )
    index = out / INDEX_HTML
    write_text_atomic(index, html)
    return index, [out / c["file"] for c in charts]


# --------------------------------------------------------------------------- plots


def plot_aspect_panels(groups: list[dict[str, Any]], pos: str, neg: str) -> Figure:
    """Small multiples of diverging bars: negative share left, positive share right."""
    n = len(groups)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    n_aspects = max((sum(a["mentions"] > 0 for a in g["aspects"]) for g in groups), default=1) or 1
    panel_h = 0.32 * n_aspects + 1.1
    fig = Figure(figsize=(6.4 * cols, panel_h * rows + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, group in zip(axes, groups, strict=False):
        _diverging(ax, group, pos, neg, n_aspects)
    for ax in axes[n:]:
        ax.axis("off")
    return fig


def _diverging(ax: Any, group: dict[str, Any], pos: str, neg: str, n_rows: int) -> None:
    """Diverging stacked bars: neutral centred on 0, negative to its left, positive to its right."""
    aspects = [a for a in group["aspects"] if a["mentions"] > 0]
    for i, a in enumerate(aspects):
        shares = a["sentiment"]["shares"]
        n_share, p_share = shares[neg], shares[pos]
        neutral = max(0.0, 1.0 - n_share - p_share)
        alpha = 0.35 if a["mentions"] < group["min_mentions"] else 1.0
        half = neutral / 2
        ax.barh(i, neutral, left=-half, color=NEU_COLOUR, alpha=alpha, height=0.7)
        ax.barh(i, -n_share, left=-half, color=NEG_COLOUR, alpha=alpha, height=0.7)
        ax.barh(i, p_share, left=half, color=POS_COLOUR, alpha=alpha, height=0.7)
        if n_share >= 0.1:
            ax.text(
                -half - n_share + 0.02,
                i,
                f"{n_share:.0%}",
                va="center",
                ha="left",
                fontsize=7.5,
                color="white",
            )
        if p_share >= 0.1:
            ax.text(
                half + p_share - 0.02,
                i,
                f"{p_share:.0%}",
                va="center",
                ha="right",
                fontsize=7.5,
                color="white",
            )
        ax.text(1.04, i, str(a["mentions"]), va="center", ha="left", fontsize=8, color="#444444")
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(aspects)), [a["name"] for a in aspects])
    ax.set_ylim(n_rows - 0.5, -0.5)  # most mentioned on top; same row height in every panel
    ax.set_xlim(-1.02, 1.18)
    ax.set_xticks([])
    ax.tick_params(labelsize=8.5, length=0)
    ax.text(1.04, -0.75, "mentions", fontsize=7.5, color="#444444", ha="left", va="bottom")
    ax.set_xlabel(f"← {neg}      (neutral centred)      {pos} →", fontsize=8.5)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    name = "\n".join(textwrap.wrap(group["name"], TITLE_CHARS, max_lines=2, placeholder="…"))
    ax.set_title(f"{name}\n{group['n_reviews']} reviews", fontsize=10, loc="left")
    if not aspects:
        ax.text(0, (n_rows - 1) / 2, "no aspect mentioned", ha="center", va="center", color="#656d76")


def plot_skin_types(groups: list[dict[str, Any]], aspect_names: list[str]) -> Figure:
    """Heatmap of net score, aspects x skin types, annotated with net and mentions."""
    cols = [g["name"] for g in groups]
    net = np.full((len(aspect_names), len(cols)), np.nan)
    mentions = np.zeros_like(net)
    for j, g in enumerate(groups):
        by_name = {a["name"]: a for a in g["aspects"]}
        for i, name in enumerate(aspect_names):
            a = by_name[name]
            mentions[i, j] = a["mentions"]
            if a["mentions"] >= 3 and a["net"] is not None:
                net[i, j] = a["net"]
    fig = Figure(
        figsize=(1.25 * len(cols) + 3.2, 0.42 * len(aspect_names) + 1.6), dpi=DPI, layout="constrained"
    )
    ax = fig.add_subplot()
    im = ax.imshow(np.ma.masked_invalid(net), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02, label="net score (positive − negative)")
    for i in range(len(aspect_names)):
        for j in range(len(cols)):
            if not np.isnan(net[i, j]):
                colour = "white" if abs(net[i, j]) > 0.6 else "#1f2328"
                ax.text(
                    j,
                    i,
                    f"{net[i, j]:+.2f}\nn={int(mentions[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color=colour,
                )
    ax.set_xticks(
        range(len(cols)), [f"{c}\n({g['n_reviews']} reviews)" for c, g in zip(cols, groups, strict=True)]
    )
    ax.set_yticks(range(len(aspect_names)), aspect_names)
    ax.tick_params(labelsize=8.5)
    ax.set_title("Net sentiment per aspect by skin type", fontsize=10)
    return fig


# --------------------------------------------------------------------------- html


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = template_environment(Path(__file__).parent / "templates")
    env.filters["pct"] = lambda v: "—" if v is None else f"{float(v):.0%}"
    env.filters["first_upper"] = lambda s: s[:1].upper() + s[1:]
    env.filters["signed"] = lambda v: "—" if v is None else f"{float(v):+.2f}"
    return env


def write_png(path: Path, fig: Figure) -> None:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    write_bytes_atomic(path, buf.getvalue())
