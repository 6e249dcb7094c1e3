"""Scores per slice of the test set (skin-tone buckets of a face model): the same metrics,
with counts, and a warning wherever a slice is too small to judge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

#: below this many examples a slice's scores swing by several points from one photo: warned
MIN_SLICE = 30
UNKNOWN = "unknown"


def slice_metrics(
    y: np.ndarray,
    probs: np.ndarray,
    labels: Sequence[str],
    buckets: Sequence[str | None],
    order: Sequence[str] = (),
    min_n: int = MIN_SLICE,
) -> list[dict[str, Any]]:
    """One row per bucket (in ``order``, then any others, then unknown): n, accuracy,
    macro-F1 over the classes, and ``warning`` when n < ``min_n``."""
    names = [b if b is not None else UNKNOWN for b in buckets]
    seen = set(names)
    ordered = [b for b in order if b in seen] + sorted(seen - set(order) - {UNKNOWN})
    ordered += [UNKNOWN] if UNKNOWN in seen else []
    pred = np.asarray(probs).argmax(1)
    rows = []
    for bucket in ordered:
        idx = np.array([i for i, n in enumerate(names) if n == bucket])
        yt, yp = np.asarray(y)[idx], pred[idx]
        row: dict[str, Any] = {
            "bucket": bucket,
            "n": len(idx),
            "accuracy": round(float(accuracy_score(yt, yp)), 4),
            "macro_f1": round(float(f1_score(yt, yp, labels=sorted(set(yt) | set(yp)), average="macro")), 4),
            "classes": {labels[int(c)]: int((yt == c).sum()) for c in sorted(set(yt))},
        }
        if len(idx) < min_n:
            row["warning"] = f"only {len(idx)} examples: too few to judge (needs {min_n})"
        rows.append(row)
    return rows
