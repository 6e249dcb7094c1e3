"""Evaluate a model on records: predictions -> metrics -> report folder."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from beautytune.data.records import Record
from beautytune.errors import DataError
from beautytune.evaluate.metrics import compute_metrics
from beautytune.evaluate.report import write_report
from beautytune.io import write_text_atomic
from beautytune.models.registry import Preprocess
from beautytune.predict import predict_probs

PREDICTIONS_CSV = "predictions.csv"


def evaluate_records(
    model: nn.Module,
    pp: Preprocess,
    labels: list[str],
    records: list[Record],
    out_dir: Path,
    *,
    history: list[dict[str, Any]] | None = None,
    context: dict[str, Any] | None = None,
    comparisons: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    title: str = "beautytune report",
    comparison_name: str = "this model",
    batch_size: int = 32,
) -> dict[str, Any]:
    """Predict every record, write metrics.json, predictions.csv and the HTML report."""
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({r.label for r in records} - set(index))
    if unknown:
        raise DataError(
            f"labels not known to the model: {', '.join(unknown)} (the model knows "
            f"{', '.join(labels)}): relabel or drop those rows"
        )
    if not records:
        raise DataError("nothing to evaluate: no usable images")
    paths = [Path(r.path) for r in records]
    probs, errors = predict_probs(model, paths, pp, batch_size)
    skipped = list(skipped or [])
    keep = [i for i, e in enumerate(errors) if e is None]
    skipped += [{"path": records[i].path, "reason": errors[i]} for i in range(len(records)) if errors[i]]
    if not keep:
        raise DataError("nothing to evaluate: no image could be decoded")
    y = np.array([index[records[i].label] for i in keep])
    p = probs[keep]
    kept_paths = [records[i].path for i in keep]
    metrics = compute_metrics(y, p, labels)
    if comparisons:  # the model being reported heads the comparison table
        this = {"name": comparison_name, **{k: metrics[k] for k in ("macro_f1", "accuracy")}}
        comparisons = [this, *comparisons]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / PREDICTIONS_CSV, _predictions_csv(kept_paths, y, p, labels))
    write_report(
        out_dir,
        metrics=metrics,
        y_true=y,
        probs=p,
        labels=labels,
        paths=kept_paths,
        history=history,
        title=title,
        context=context,
        comparisons=comparisons,
        skipped=skipped,
    )
    return metrics


def _predictions_csv(paths: list[str], y: np.ndarray, probs: np.ndarray, labels: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "true", "predicted", "confidence", *[f"p_{lab}" for lab in labels]])
    for path, t, row in zip(paths, y, probs, strict=True):
        k = int(np.argmax(row))
        w.writerow([path, labels[int(t)], labels[k], f"{row[k]:.6f}", *[f"{v:.6f}" for v in row]])
    return buf.getvalue()
