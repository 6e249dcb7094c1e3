"""A self-contained evaluation report: metrics.json, a few PNGs and an offline index.html.

The report is meant to be opened straight from disk or attached to a ticket, so it
uses no external resources and links its images relatively. Plots are drawn on
standalone ``matplotlib.figure.Figure`` objects (never pyplot) so the library does
not touch the global backend or leak figures in long-running processes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageOps

from beautytune import __version__
from beautytune.data.images import ImageError, load_rgb
from beautytune.io import write_bytes_atomic, write_json_atomic, write_text_atomic

CONFUSION_PNG = "confusion_matrix.png"
WORST_PNG = "worst_errors.png"
RELIABILITY_PNG = "reliability.png"
CURVES_PNG = "learning_curves.png"
METRICS_JSON = "metrics.json"
INDEX_HTML = "index.html"

HEADLINE = (
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro F1"),
    ("macro_precision", "macro precision"),
    ("macro_recall", "macro recall"),
    ("weighted_f1", "weighted F1"),
    ("ece", "ECE (lower is better)"),
)
WEAK_F1 = 0.5  # per-class rows below this are shaded so weak classes stand out
THUMB_PX = 224
LABEL_CHARS = 28  # long label names are shortened in plots (full names stay in the HTML)
DPI = 110


def write_report(
    out_dir: Path,
    *,
    metrics: dict[str, Any],
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    paths: list[str],
    texts: list[str] | None = None,
    history: list[dict[str, Any]] | None = None,
    title: str = "beautytune report",
    context: dict[str, Any] | None = None,
    comparisons: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    n_worst: int = 16,
    curves: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the full report into ``out_dir`` and return the path of its index.html.

    ``metrics`` must come from :func:`beautytune.evaluate.metrics.compute_metrics` on
    the same ``y_true``/``probs``; plots and tables are drawn from it so every number
    in the report agrees with metrics.json. ``paths[i]`` is the example behind row ``i``
    and is only used for the mistakes gallery: thumbnails of images, or, when ``texts`` is
    given, the texts themselves in the table. The learning-curve plot is skipped when
    ``history`` is empty; ``curves`` (title -> x, y, xlabel, ylabel) are a strategy's own
    line plots, e.g. WiSE-FT's validation score by alpha. Each file is written atomically.
    """
    y, p = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
    if not (len(y) == len(p) == len(paths)):
        raise ValueError(f"y_true ({len(y)}), probs ({len(p)}) and paths ({len(paths)}) differ")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    worst = worst_errors(y, p, labels, paths, n_worst)
    if texts is not None:
        for w in worst:
            w["text"] = _snippet(texts[w["index"]])
    images = _write_plots(
        out, metrics, labels, history or [], worst, thumbnails=texts is None, curves=curves or {}
    )
    write_json_atomic(
        out / METRICS_JSON,
        {**metrics, "context": context or {}, "comparisons": comparisons or []},
    )
    html = render_html(
        title=title,
        metrics=metrics,
        context=context or {},
        comparisons=comparisons or [],
        skipped=skipped or [],
        images=images,
        worst=worst,
        worst_as_text=texts is not None,
    )
    index = out / INDEX_HTML
    write_text_atomic(index, html)
    return index


def _snippet(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _write_plots(
    out: Path,
    metrics: dict[str, Any],
    labels: list[str],
    history: list[dict[str, Any]],
    worst: list[dict[str, Any]],
    thumbnails: bool = True,
    curves: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Write every PNG and return, in display order, what the HTML needs to show them."""
    plots: list[tuple[str, Figure | None, str, str | None]] = [
        (
            CONFUSION_PNG,
            plot_confusion_matrix(metrics["confusion_matrix"], labels),
            "Confusion matrix",
            "Counts; colour is the fraction of each true class (row).",
        ),
        (
            RELIABILITY_PNG,
            plot_reliability(metrics["reliability"], metrics["ece"]),
            "Calibration",
            "Bars on the diagonal mean the stated confidence matches accuracy.",
        ),
        (CURVES_PNG, plot_learning_curves(history), "Learning curves", None),
    ]
    raw = metrics.get("uncalibrated")
    if raw:  # the reliability plot before temperature scaling, right after the one after
        plots.insert(
            2,
            (
                "reliability_uncalibrated.png",
                plot_reliability(raw["reliability"], raw["ece"]),
                "Calibration before temperature scaling",
                f"The same predictions with the logits not divided by T = {metrics['temperature']:.3f}: "
                "labels and accuracy are identical, only the confidence differs.",
            ),
        )
    plots += [
        (f"curve_{i}.png", plot_curve(spec, title), title, None)
        for i, (title, spec) in enumerate((curves or {}).items())
    ]
    if thumbnails:  # text examples are shown as text, in the table after the plots
        plots.append(
            (
                WORST_PNG,
                plot_worst_errors(worst),
                "Most confident mistakes",
                "Wrong predictions the model was most sure about: often label noise or look-alikes.",
            )
        )
    shown = []
    for name, fig, title, note in plots:
        if fig is None:  # e.g. no training history: skip the plot, not the report
            continue
        write_png(out / name, fig)
        shown.append({"file": name, "title": title, "note": note})
    return shown


# --------------------------------------------------------------------------- data


def worst_errors(
    y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str], paths: Sequence[str], n: int
) -> list[dict[str, Any]]:
    """The ``n`` wrong predictions with the highest confidence, most confident first.

    These are the most useful errors to look at: a confident mistake is usually a
    mislabelled image, a duplicate across classes, or two classes that look alike.
    A stable sort keeps ties in input order so reports are reproducible.
    """
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    order = wrong[np.argsort(-conf[wrong], kind="stable")][: max(n, 0)]
    return [
        {
            "path": str(paths[i]),
            "true": labels[int(y_true[i])],
            "pred": labels[int(pred[i])],
            "confidence": float(conf[i]),
            "index": int(i),
        }
        for i in order
    ]


# --------------------------------------------------------------------------- plots


def plot_confusion_matrix(cm: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """Counts annotated on cells coloured by row-normalised fraction.

    Colouring by the fraction of each true class keeps small classes visible next to
    big ones; the printed counts keep the absolute picture. Off-diagonal zeros are
    left blank so the actual confusions stand out. The figure grows with the number
    of classes up to a cap, after which cells (and fonts) shrink instead.
    """
    counts = np.asarray(cm, dtype=np.int64)
    n = len(labels)
    row_sums = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, row_sums, out=np.zeros(counts.shape), where=row_sums > 0)

    cell = min(0.6, 13.0 / max(n, 1))
    fig = Figure(figsize=(cell * n + 3.5, cell * n + 2.5), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="fraction of true class")

    if n <= 60:  # beyond this the numbers would be unreadable anyway
        font = max(5.0, min(10.0, cell * 72 * 0.3))
        for i in range(n):
            for j in range(n):
                if counts[i, j] or i == j:
                    colour = "white" if frac[i, j] > 0.5 else "#1f2328"
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=font, color=colour)

    short = [_short(label) for label in labels]
    ax.set_xticks(range(n), short, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), [f"{s} ({int(t)})" for s, t in zip(short, row_sums[:, 0], strict=True)])
    ax.tick_params(labelsize=max(6.0, min(10.0, cell * 72 * 0.35)))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (support)")
    ax.set_title("Confusion matrix")
    return fig


def plot_reliability(bins: Sequence[dict[str, Any]], ece: float) -> Figure:
    """Reliability diagram (accuracy vs confidence per bin) over a histogram of counts.

    The count panel matters: a bin far off the diagonal with three images in it is
    noise, while the same gap in a bin holding most predictions is the real story.
    """
    lower = np.array([b["lower"] for b in bins], dtype=float)
    width = np.array([b["upper"] - b["lower"] for b in bins], dtype=float)
    acc = np.array([_nan_if_none(b["accuracy"]) for b in bins])
    conf = np.array([_nan_if_none(b["confidence"]) for b in bins])
    count = np.array([b["count"] for b in bins], dtype=float)
    filled = count > 0

    fig = Figure(figsize=(6.0, 6.4), dpi=DPI, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], "--", color="#888888", label="perfect calibration")
    top.bar(
        lower[filled],
        acc[filled],
        width=width[filled],
        align="edge",
        color="#4c78a8",
        edgecolor="white",
        label="accuracy",
    )
    # Hatched outline rather than a fill so the gap stays readable when it overlaps the
    # accuracy bar (an under-confident model has accuracy above confidence).
    top.bar(
        lower[filled],
        conf[filled] - acc[filled],
        bottom=acc[filled],
        width=width[filled],
        align="edge",
        facecolor="none",
        edgecolor="#e45756",
        hatch="//",
        linewidth=1.0,
        label="gap to mean confidence",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"Reliability (ECE = {ece:.3f})")
    top.legend(loc="upper left", fontsize=8)

    bottom.bar(lower, count, width=width, align="edge", color="#9d9d9d", edgecolor="white")
    bottom.set_xlabel("top-1 confidence")
    bottom.set_ylabel("images")
    return fig


def plot_curve(spec: dict[str, Any], title: str) -> Figure:
    """One line plot from a strategy (``x``, ``y``, ``xlabel``, ``ylabel``, optional ``xscale``),
    with the point it chose (``chosen``, an x value) or else the highest one marked."""
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    x, y = list(spec["x"]), list(spec["y"])
    ax.plot(x, y, marker="o" if len(x) <= 30 else None, color="#3b6ea5")
    best = x.index(spec["chosen"]) if "chosen" in spec else int(np.argmax(y))
    ax.plot([x[best]], [y[best]], marker="*", markersize=14, color="#d1495b", label=f"chosen: {x[best]:.3g}")
    ax.set_xscale(spec.get("xscale", "linear"))
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.set_ylabel(spec.get("ylabel", ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def plot_learning_curves(history: Sequence[dict[str, Any]]) -> Figure | None:
    """One panel per kind of series (losses, [0, 1] metrics, learning rate, other).

    Keys are discovered from the history instead of hard-coded, so new logged values
    show up without touching this code. Returns ``None`` when there is nothing numeric
    to plot, so callers can simply skip the image.
    """
    series = _numeric_series(history)
    if not series:
        return None
    panels: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for key, xy in series.items():
        panels.setdefault(_panel_of(key, xy[1]), {})[key] = xy
    order = [p for p in ("loss", "metric", "learning rate", "other") if p in panels]

    fig = Figure(figsize=(8.0, 2.6 * len(order) + 0.6), dpi=DPI, layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(order), 1, sharex=True, squeeze=False)[:, 0])
    for ax, panel in zip(axes, order, strict=False):
        for key, (xs, ys) in panels[panel].items():
            ax.plot(xs, ys, marker="o", markersize=3, label=key)
        if panel == "learning rate" and all(v > 0 for _, ys in panels[panel].values() for v in ys):
            ax.set_yscale("log")
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[-1].set_xlabel("epoch")
    fig.suptitle("Learning curves")
    return fig


def plot_worst_errors(
    worst: Sequence[dict[str, Any]], n_cols: int = 4, captions: tuple[str, str] = ("true", "pred")
) -> Figure:
    """Thumbnail grid of confident mistakes; unreadable files get a grey placeholder.

    A missing or broken file must not stop the report (the image may have moved since
    training), so the tile says why instead.
    """
    if not worst:
        fig = Figure(figsize=(5.0, 1.2), dpi=DPI)
        fig.text(
            0.5, 0.5, "No misclassified images - nothing to show.", ha="center", va="center", fontsize=12
        )
        return fig
    cols = min(n_cols, len(worst))
    rows = math.ceil(len(worst) / cols)
    fig = Figure(figsize=(3.0 * cols, 3.5 * rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, item in zip(axes, worst, strict=False):
        thumb, problem = _thumbnail(item["path"])
        ax.imshow(np.asarray(thumb))
        if problem:
            ax.text(
                0.5,
                0.5,
                _wrap(problem, 24),
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                color="#333333",
            )
        ax.set_title(
            f"{captions[0]}: {_short(item['true'])}\n{captions[1]}: {_short(item['pred'])} "
            f"({item['confidence']:.2f})\n{_short(Path(item['path']).name)}",
            fontsize=8.5,
            loc="left",
        )
    for ax in axes:
        ax.axis("off")
    return fig


# --------------------------------------------------------------------------- html


def render_html(
    *,
    title: str,
    metrics: dict[str, Any],
    context: dict[str, Any],
    comparisons: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    images: list[dict[str, Any]],
    worst: list[dict[str, Any]],
    worst_as_text: bool = False,
) -> str:
    """Render index.html from the packaged template (autoescaped: labels/paths are user data)."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        version=__version__,
        metrics=metrics,
        headline=[(k, name) for k, name in HEADLINE if k in metrics],
        context=context,
        comparisons=comparisons,
        comparison_columns=_columns(comparisons),
        skipped=skipped,
        skipped_columns=_columns(skipped, first=("path", "reason")),
        images=images,
        worst=worst,
        worst_as_text=worst_as_text,
        worst_png=WORST_PNG,
        weak_f1=WEAK_F1,
    )


def template_environment(folder: Path) -> jinja2.Environment:
    """Every report's templates: autoescaped; StrictUndefined turns a template typo into an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = format_value
    return env


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return template_environment(Path(__file__).parent / "templates")


def format_value(value: Any) -> str:
    """Human formatting for table cells: 4 decimals for scores, fewer for big numbers."""
    if value is None:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "—"
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.3g}"
        if abs(v) < 10:
            return f"{v:.4f}"
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:,.1f}"
    return str(value)


def _columns(rows: Iterable[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """Union of the rows' keys in first-seen order, so ragged rows still get a full table."""
    cols = [c for c in first if any(c in r for r in rows)]
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    return cols


# --------------------------------------------------------------------------- helpers


def write_png(path: Path, fig: Figure) -> None:
    """Render ``fig`` to PNG bytes in memory, then write them atomically."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    write_bytes_atomic(path, buf.getvalue())


def _thumbnail(path: str) -> tuple[Image.Image, str | None]:
    """A small RGB thumbnail of ``path``, or a grey tile plus the reason it failed."""
    try:
        im = load_rgb(path)
    except ImageError as err:
        return Image.new("RGB", (THUMB_PX, THUMB_PX), (200, 200, 200)), f"unreadable: {err}"
    # Letterboxed to a fixed square so every tile, and its caption, lines up in the grid.
    return ImageOps.pad(im, (THUMB_PX, THUMB_PX), color=(245, 245, 245)), None


def _numeric_series(history: Sequence[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Per key, the (x, y) points where that key has a finite number (keys may come and go)."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    for i, row in enumerate(history):
        x = row.get("epoch", i)
        x = float(x) if _is_number(x) else float(i)
        for key, value in row.items():
            if key in ("epoch", "step") or not _is_number(value) or not math.isfinite(value):
                continue
            xs, ys = series.setdefault(key, ([], []))
            xs.append(x)
            ys.append(float(value))
    return series


def _panel_of(key: str, values: list[float]) -> str:
    """Group a series by what its numbers mean, so each panel gets a sensible y-scale."""
    lowered = key.lower()
    if "loss" in lowered:
        return "loss"
    if lowered in ("lr", "learning_rate") or lowered.startswith(("lr_", "lr/")):
        return "learning rate"
    if all(0.0 <= v <= 1.0 for v in values):
        return "metric"
    return "other"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text
