"""Temperature scaling (Guo et al., 2017): one scalar T fitted on the validation split.

Probabilities become softmax(logits / T). T > 0 never changes the arg-max, so accuracy and
every label stay the same; only the confidence moves: T > 1 softens an over-confident
network. It is fitted by minimising the validation negative log-likelihood, stored in the
bundle, and applied by the Predictor and the ONNX graph.

NLL and ECE can disagree: a few confident mistakes dominate NLL, which then softens a
network whose confidence was about right on the rest (seen on WiSE-FT's interpolated
weights, where the NLL-fitted T raised validation ECE). Where the NLL fit does not lower
the validation ECE, T is the one that minimises it instead, searched on a grid over the
same range of log T; still fitted on validation only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from beautytune.evaluate.metrics import expected_calibration_error

if TYPE_CHECKING:
    from beautytune.data.records import Record
    from beautytune.inference.predictor import Predictor

# log T searched in [-3, 3]: T from 0.05 to 20 covers any network worth shipping
_LOG_T_BOUNDS = (-3.0, 3.0)


def nll(log_probs: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(log_probs / T)``.

    Log-probabilities work as well as logits: they differ by a per-row constant, which
    softmax ignores, also after dividing by T.
    """
    scaled = log_softmax(log_probs / temperature, axis=1)
    return float(-scaled[np.arange(len(y)), y].mean())


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The T minimising validation NLL for class probabilities ``probs`` (N, C)."""
    if len(y) == 0:
        return 1.0
    log_p = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0))
    y = np.asarray(y)
    res = minimize_scalar(lambda t: nll(log_p, y, float(np.exp(t))), bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(res.x))


def top1_ece(probs: np.ndarray, y: np.ndarray) -> float:
    return expected_calibration_error(probs.max(1), probs.argmax(1) == y)[0]


def fit_temperature_ece(probs: np.ndarray, y: np.ndarray, steps: int = 601) -> float:
    """The T minimising validation ECE over a grid of log T; of equal minima, the one
    closest to T = 1 (the smallest change)."""
    y = np.asarray(y)
    log_ts = np.linspace(*_LOG_T_BOUNDS, steps)
    eces = np.array([top1_ece(rescale(probs, float(np.exp(t))), y) for t in log_ts])
    best = np.flatnonzero(eces <= eces.min() + 1e-12)
    return float(np.exp(log_ts[best[np.argmin(np.abs(log_ts[best]))]]))


def choose_temperature(probs: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """T and what it minimised: validation NLL, or validation ECE where the NLL fit did
    not lower the ECE."""
    t = fit_temperature(probs, y)
    if top1_ece(rescale(probs, t), y) < top1_ece(probs, y):
        return t, "validation NLL"
    return fit_temperature_ece(probs, y), "validation ECE (the NLL fit did not lower it)"


def describe(calibration: dict[str, Any]) -> str:
    """The report's one-line account of a bundle's calibration."""
    return f"{calibration['temperature']} (minimised {calibration['minimised']})"


def rescale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)``: the same as dividing the logits by T.

    With ``1 / T`` it undoes a temperature (the uncalibrated probabilities, for the report).
    """
    log_p = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, 1.0))
    return np.exp(log_softmax(log_p / temperature, axis=1))


def calibrate_predictor(predictor: Predictor, records: list[Record]) -> dict[str, Any]:
    """Fit the predictor's temperature on ``records`` (the validation split) and set it.

    Returns what the bundle stores: the temperature and validation NLL / ECE before and after.
    """
    predictor.temperature = 1.0
    probs, errors = predictor.predict_probs([predictor.task.record_input(r) for r in records])
    index = {lab: i for i, lab in enumerate(predictor.labels)}
    keep = [i for i, e in enumerate(errors) if e is None and records[i].label in index]
    if not keep:
        return {}
    p, y = probs[keep], np.array([index[records[i].label] for i in keep])
    log_p = np.log(np.clip(p, 1e-12, 1.0))
    t, objective = choose_temperature(p, y)
    after = rescale(p, t)
    predictor.temperature = t
    return {
        "method": "temperature scaling",
        "temperature": round(t, 6),
        "fitted_on": f"validation split ({len(keep)})",
        "minimised": objective,
        "val_nll_before": round(nll(log_p, y), 6),
        "val_nll_after": round(nll(log_p, y, t), 6),
        "val_ece_before": round(top1_ece(p, y), 6),
        "val_ece_after": round(top1_ece(after, y), 6),
    }
