"""The test report of a face-verification bundle: every pair of unseen people's photos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from beautytune.data.records import Record
from beautytune.errors import DataError
from beautytune.evaluate.report import METRICS_JSON, _environment, write_png
from beautytune.faces.verification import (
    FARS,
    all_pairs,
    cosine_scores,
    threshold_at_far,
    verification_metrics,
)
from beautytune.io import write_json_atomic, write_text_atomic


def evaluate_verification(
    predictor: Any,
    test: list[Record],
    val: list[Record],
    out_dir: Path,
    *,
    context: dict[str, Any] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    title: str = "beautytune: face verification",
    **_: Any,
) -> dict[str, Any]:
    """Embed the test photos, score every pair, write metrics.json, roc.png and index.html.
    The bundle's threshold is set on validation pairs (FAR 1%) and read back on test."""
    from beautytune import __version__
    from beautytune.tasks.face_verification import embed

    t0 = time.perf_counter()
    emb, errors = embed(predictor, [r.path for r in test])
    skipped = list(skipped or []) + [
        {"path": r.path, "reason": e} for r, e in zip(test, errors, strict=True) if e is not None
    ]
    keep = [i for i, e in enumerate(errors) if e is None]
    if len(keep) < 2:
        raise DataError("nothing to evaluate: fewer than two usable test photos")
    kept = [test[i] for i in keep]
    pairs = all_pairs([r.group for r in kept], [r.condition or "" for r in kept])
    scores = cosine_scores(emb[keep], pairs)
    metrics: dict[str, Any] = {
        "task": "face-verification",
        "photos": len(kept),
        "people": len({r.group for r in kept}),
        **verification_metrics(scores, pairs),
        "predict_seconds": round(time.perf_counter() - t0, 3),
    }
    threshold = _val_threshold(predictor, val)
    metrics["threshold"] = threshold
    if threshold is not None:
        metrics["at_threshold"] = {
            "tar": round(float(np.mean(scores[pairs.genuine] > threshold)), 4),
            "far": round(float(np.mean(scores[~pairs.genuine] > threshold)), 4),
        }
    metrics["summary"] = {
        f"{name}_tar@far{far:g}": metrics[name].get(f"tar@far{far:g}")
        for name in ("cross", "same")
        for far in FARS
    } | {"cross_auc": metrics["cross"].get("auc"), "threshold": threshold}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_png(out_dir / "roc.png", plot_roc({"this model": metrics}))
    write_json_atomic(out_dir / METRICS_JSON, {**metrics, "context": context or {}})
    html = (
        _environment()
        .get_template("verification.html.j2")
        .render(title=title, version=__version__, metrics=metrics, context=context or {}, skipped=skipped)
    )
    write_text_atomic(out_dir / "index.html", html)
    return metrics


def _val_threshold(predictor: Any, val: list[Record]) -> float | None:
    from beautytune.tasks.face_verification import embed

    if len(val) < 2:
        return None
    emb, errors = embed(predictor, [r.path for r in val])
    keep = [i for i, e in enumerate(errors) if e is None]
    pairs = all_pairs([val[i].group for i in keep], [val[i].condition or "" for i in keep])
    t = threshold_at_far(cosine_scores(emb[keep], pairs), pairs.genuine, 0.01)
    return None if t is None else round(t, 5)


def plot_roc(results: dict[str, dict[str, Any]]) -> Figure:
    """ROC curves (FAR on a log axis), cross-condition solid and same-condition dashed."""
    fig = Figure(figsize=(5.8, 4.3))
    ax = fig.subplots()
    for i, (name, m) in enumerate(results.items()):
        for protocol, style in (("cross", "-"), ("same", "--")):
            roc = m[protocol].get("roc")
            if roc:
                ax.plot(roc["fpr"], roc["tpr"], style, color=f"C{i}", label=f"{name}, {protocol}-condition")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false accept rate (impostor pairs let through)")
    ax.set_ylabel("true accept rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
