"""Metrics checked against values worked out by hand on tiny examples."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from beautytune.evaluate.metrics import compute_metrics, expected_calibration_error


def one_hot(pred: list[int], n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[pred]


def test_perfect_predictions() -> None:
    y = np.array([0, 1, 2, 1])
    m = compute_metrics(y, one_hot([0, 1, 2, 1], 3), ["a", "b", "c"])
    for key in (
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "macro_precision",
        "macro_recall",
        "weighted_f1",
    ):
        assert m[key] == pytest.approx(1.0), key
    assert m["ece"] == pytest.approx(0.0)
    assert m["nll"] == pytest.approx(0.0, abs=1e-9)
    assert m["n"] == 4
    assert m["labels"] == ["a", "b", "c"]
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 1]]
    assert m["per_class"]["b"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_all_wrong() -> None:
    y = np.array([0, 1])
    probs = np.array([[0.1, 0.9], [0.8, 0.2]])
    m = compute_metrics(y, probs, ["a", "b"])
    assert m["accuracy"] == 0.0
    assert m["balanced_accuracy"] == 0.0
    assert m["macro_f1"] == 0.0
    assert m["weighted_f1"] == 0.0
    assert m["confusion_matrix"] == [[0, 1], [1, 0]]
    # Both wrong, confidences 0.9 and 0.8 in different bins: ECE = 0.5*0.9 + 0.5*0.8.
    assert m["ece"] == pytest.approx(0.85)
    assert m["nll"] == pytest.approx(-(np.log(0.1) + np.log(0.2)) / 2)


def test_class_missing_from_truth_and_predictions_still_listed() -> None:
    y = np.array([0, 0, 1, 1])
    m = compute_metrics(y, one_hot([0, 1, 1, 1], 3), ["a", "b", "c"])
    assert m["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    # a: P=1, R=1/2, F1=2/3   b: P=2/3, R=1, F1=4/5   c: undefined, left out of macro.
    assert m["macro_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["macro_recall"] == pytest.approx(0.75)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 2 * 4 / 5) / 4)
    assert m["balanced_accuracy"] == pytest.approx(0.75)


def test_class_predicted_but_absent_from_truth_counts_against_macro() -> None:
    y = np.array([0, 0, 1, 1])
    pred = [0, 2, 1, 1]
    m = compute_metrics(y, one_hot(pred, 3), ["a", "b", "c"])
    # a: F1=2/3, b: F1=1, c: wrongly predicted once, F1=0 -> same as sklearn's default macro.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["balanced_accuracy"] == pytest.approx(0.75)
    assert m["per_class"]["c"]["support"] == 0


def test_result_is_strict_json() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    m = compute_metrics(rng.integers(0, 4, 50), probs, ["a", "b", "c", "d"])
    assert json.loads(json.dumps(m, allow_nan=False)) == m


def test_ece_perfectly_calibrated_is_zero() -> None:
    confidence = np.full(10, 0.8)
    correct = np.array([True] * 8 + [False] * 2)
    ece, bins = expected_calibration_error(confidence, correct, n_bins=10)
    assert ece == pytest.approx(0.0)
    filled = [b for b in bins if b["count"]]
    assert len(filled) == 1
    assert filled[0]["confidence"] == pytest.approx(0.8)
    assert filled[0]["accuracy"] == pytest.approx(0.8)


def test_ece_overconfident() -> None:
    ece, _ = expected_calibration_error(np.full(10, 0.9), np.arange(10) < 5, n_bins=10)
    assert ece == pytest.approx(0.4)


def test_ece_through_compute_metrics() -> None:
    # Two classes, every row says 0.8 for class 0; 8 of 10 are class 0 -> calibrated.
    probs = np.tile([0.8, 0.2], (10, 1))
    calibrated = compute_metrics(np.array([0] * 8 + [1] * 2), probs, ["x", "y"])
    assert calibrated["ece"] == pytest.approx(0.0)
    overconfident = compute_metrics(np.array([0] * 5 + [1] * 5), probs, ["x", "y"])
    assert overconfident["ece"] == pytest.approx(0.3)


def test_ece_bins_are_right_closed_and_complete() -> None:
    conf = np.array([0.0, 0.2, 0.21, 1.0])
    ece, bins = expected_calibration_error(conf, np.ones(4, dtype=bool), n_bins=5)
    assert len(bins) == 5
    assert [b["count"] for b in bins] == [2, 1, 0, 0, 1]  # 0.0 and 0.2 share (0, 0.2]
    assert bins[2]["confidence"] is None and bins[2]["accuracy"] is None
    assert bins[0]["lower"] == 0.0 and bins[-1]["upper"] == 1.0
    assert ece == pytest.approx((2 * 0.9 + 0.79 + 0.0) / 4)


@pytest.mark.parametrize(
    ("y", "probs", "labels", "match"),
    [
        (np.array([0, 1]), np.eye(2), ["a"], "columns"),
        (np.array([0, 2]), np.eye(2), ["a", "b"], "outside"),
        (np.array([0]), np.eye(2), ["a", "b"], "entries"),
        (np.array([], dtype=int), np.zeros((0, 2)), ["a", "b"], "zero samples"),
        (np.array([0.0, 1.0]), np.eye(2), ["a", "b"], "integer"),
        (np.array([0, 1]), np.array([[np.nan, 1.0], [0.0, 1.0]]), ["a", "b"], "NaN"),
    ],
)
def test_bad_inputs_fail_loudly(y: np.ndarray, probs: np.ndarray, labels: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compute_metrics(y, probs, labels)
