"""Classification metrics computed once, from predictions, into a plain JSON-ready dict.

Everything downstream (the HTML report, metrics.json, model comparisons) reads this
dict, so every number in a report comes from the same place and the same rules.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

# Probabilities are clipped before log() so one confident mistake gives a large but
# finite loss instead of inf, which would make the mean useless (and not JSON).
_NLL_EPS = 1e-12


def compute_metrics(
    y_true: np.ndarray, probs: np.ndarray, labels: list[str], n_bins: int = 15
) -> dict[str, Any]:
    """Score class probabilities ``probs`` (N, C) against integer targets ``y_true`` (N,).

    Predictions are the arg-max of each row. Per-class numbers cover *all* ``C``
    labels, so a class missing from the evaluation split still shows up (support 0)
    rather than silently vanishing. Macro averages follow scikit-learn's default:
    they average over the classes that occur in ``y_true`` or in the predictions,
    because a class that is neither true nor predicted anywhere has no defined
    precision/recall and counting it as 0 would punish the model for the split.
    """
    y, p = _validate(y_true, probs, labels)
    n_classes = len(labels)
    pred = p.argmax(axis=1)
    confidence = p.max(axis=1)
    correct = pred == y
    class_ids = list(range(n_classes))

    precision, recall, f1, support = precision_recall_fscore_support(
        y, pred, labels=class_ids, zero_division=0
    )
    cm = _confusion_matrix(y, pred, class_ids)
    observed = (support > 0) | (cm.sum(axis=0) > 0)
    ece, reliability = expected_calibration_error(confidence, correct, n_bins)

    return {
        "n": len(y),
        "labels": list(labels),
        "accuracy": float(correct.mean()),
        "balanced_accuracy": _balanced_accuracy(cm),
        "macro_f1": float(f1[observed].mean()),
        "macro_precision": float(precision[observed].mean()),
        "macro_recall": float(recall[observed].mean()),
        "weighted_f1": float(np.average(f1, weights=support)),
        "nll": _mean_nll(p, y),
        "mean_confidence": float(confidence.mean()),
        "ece": ece,
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": cm.astype(int).tolist(),
        "reliability": reliability,
    }


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15
) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error of top-1 confidence over ``n_bins`` equal-width bins.

    ECE = sum over bins of (bin count / N) * |bin accuracy - bin mean confidence|:
    how far, on average, "the model says 90 %" is from "it is right 90 % of the time".
    Bins are right-closed, (lo, hi], with 0.0 going to the first bin. Every bin is
    returned, empty ones with ``None`` confidence/accuracy, so the diagram keeps a
    fixed x-axis and callers can see where the model never puts its confidence.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    ok = np.asarray(correct, dtype=bool).ravel()
    if conf.shape != ok.shape:
        raise ValueError(f"confidence {conf.shape} and correct {ok.shape} differ in length")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted on the inner edges puts a value equal to an edge in the lower bin.
    bin_of = np.searchsorted(edges[1:-1], conf, side="left")

    bins: list[dict[str, Any]] = []
    ece = 0.0
    for b in range(n_bins):
        in_bin = bin_of == b
        count = int(in_bin.sum())
        bin_conf = float(conf[in_bin].mean()) if count else None
        bin_acc = float(ok[in_bin].mean()) if count else None
        if bin_conf is not None and bin_acc is not None:
            ece += count / len(conf) * abs(bin_acc - bin_conf)
        bins.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "confidence": bin_conf,
                "accuracy": bin_acc,
                "count": count,
            }
        )
    return float(ece), bins


def _validate(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fail loudly on shape/label mismatches, which otherwise give plausible wrong numbers."""
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be 2-D (N, C), got shape {p.shape}")
    if y.ndim != 1 or len(y) != len(p):
        raise ValueError(f"y_true must be 1-D with {len(p)} entries, got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("cannot compute metrics on zero samples")
    if p.shape[1] != len(labels):
        raise ValueError(f"probs has {p.shape[1]} columns but {len(labels)} labels were given")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class ids, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= len(labels):
        raise ValueError(f"y_true holds class ids outside 0..{len(labels) - 1}")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or infinite values")
    return y.astype(np.int64), p


def _confusion_matrix(y: np.ndarray, pred: np.ndarray, class_ids: list[int]) -> np.ndarray:
    """Confusion matrix over all classes (rows = true, columns = predicted).

    scikit-learn warns about any 1x1 matrix even when ``labels`` is passed; with a
    single class that shape is correct, so only that one message is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        return np.asarray(confusion_matrix(y, pred, labels=class_ids))


def _balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over classes present in y_true (scikit-learn's definition).

    Computed from the confusion matrix instead of ``balanced_accuracy_score`` so a
    class that is predicted but absent from y_true does not trigger a warning.
    """
    support = cm.sum(axis=1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean())


def _mean_nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (a proper scoring rule, unlike ECE)."""
    p_true = probs[np.arange(len(y)), y]
    return float(-np.log(np.clip(p_true, _NLL_EPS, 1.0)).mean())
