"""Evaluate a model on records: predictions -> metrics -> report folder."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from beautytune.data.records import Record
from beautytune.errors import DataError
from beautytune.evaluate import slices
from beautytune.evaluate.baselines import BaselineResult
from beautytune.evaluate.metrics import compute_metrics
from beautytune.evaluate.report import write_report
from beautytune.evaluate.slices import slice_metrics
from beautytune.inference.calibration import rescale
from beautytune.inference.predictor import Predictor
from beautytune.io import write_text_atomic

PREDICTIONS_CSV = "predictions.csv"
_COMPARED = ("macro_f1", "accuracy", "balanced_accuracy")


def macro_f1_of(predictor: Predictor, records: list[Record]) -> float:
    """Macro-F1 of ``predictor`` on labelled ``records`` (model selection on validation)."""
    from sklearn.metrics import f1_score

    labels = predictor.labels
    probs, _ = predictor.predict_probs([predictor.task.record_input(r) for r in records])
    y = [labels.index(r.label) for r in records]
    return float(f1_score(y, probs.argmax(1), labels=list(range(len(labels))), average="macro"))


def evaluate_records(
    predictor: Predictor,
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
    baselines: list[BaselineResult] | None = None,
    curves: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Predict every record, write metrics.json, predictions.csv and the HTML report.

    ``comparisons`` are rows (name, macro_f1, accuracy, ...) shown beside this model's;
    ``baselines`` carry probabilities on ``records``, scored here with the same metrics.
    """
    labels = predictor.labels
    task = predictor.task
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({r.label for r in records} - set(index))
    if unknown:
        raise DataError(
            f"labels not known to the model: {', '.join(unknown)} (the model knows "
            f"{', '.join(labels)}): relabel or drop those rows"
        )
    if not records:
        raise DataError(f"nothing to evaluate: no usable {task.noun}s")
    t0 = time.perf_counter()
    probs, errors = predictor.predict_probs([task.record_input(r) for r in records], batch_size)
    seconds = time.perf_counter() - t0
    skipped = list(skipped or [])
    keep = [i for i, e in enumerate(errors) if e is None]
    skipped += [{"path": records[i].path, "reason": errors[i]} for i in range(len(records)) if errors[i]]
    if not keep:
        raise DataError(f"nothing to evaluate: no {task.noun} could be used")
    y = np.array([index[records[i].label] for i in keep])
    p = probs[keep]
    kept_paths = [records[i].path for i in keep]
    metrics = compute_metrics(y, p, labels)
    # what prediction cost: test-time augmentation multiplies it by its number of views
    metrics["tta"] = predictor.tta
    metrics["predict_seconds"] = round(seconds, 3)
    if predictor.temperature != 1.0:  # the same predictions before temperature scaling
        raw = compute_metrics(y, rescale(p, 1.0 / predictor.temperature), labels)
        metrics["temperature"] = predictor.temperature
        metrics["uncalibrated"] = {k: raw[k] for k in ("ece", "reliability", "accuracy", "macro_f1")}
    kept = [records[i] for i in keep]
    for name, (buckets, order) in task.slices(kept, predictor.processor).items():
        metrics.setdefault("slices", {})[name] = slice_metrics(y, p, labels, buckets, order, slices.MIN_SLICE)
    for b in baselines or []:
        scored = compute_metrics(y, b.probs[keep], labels)
        row = {"name": b.name, **{k: scored[k] for k in _COMPARED}, "seconds": round(b.seconds, 1)}
        comparisons = [*(comparisons or []), row]
    if comparisons:  # the model being reported heads the comparison table
        this = {"name": comparison_name, **{k: metrics[k] for k in _COMPARED}}
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
        texts=_texts([task.example_text(records[i]) for i in keep]),
        history=history,
        curves=curves,
        title=title,
        context=context,
        comparisons=comparisons,
        skipped=skipped,
    )
    return metrics


def _texts(texts: list[str | None]) -> list[str] | None:
    """The examples' texts for the report, or None when they are shown as thumbnails."""
    return None if all(t is None for t in texts) else [t or "" for t in texts]


def _predictions_csv(paths: list[str], y: np.ndarray, probs: np.ndarray, labels: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "true", "predicted", "confidence", *[f"p_{lab}" for lab in labels]])
    for path, t, row in zip(paths, y, probs, strict=True):
        k = int(np.argmax(row))
        w.writerow([path, labels[int(t)], labels[k], f"{row[k]:.6f}", *[f"{v:.6f}" for v in row]])
    return buf.getvalue()
