"""Temperature scaling: fitted on validation, stored in the bundle, applied everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from beautytune import api
from beautytune.inference.calibration import choose_temperature, fit_temperature, nll, rescale, top1_ece
from beautytune.inference.predictor import Predictor
from conftest import TINY


def _overconfident(t_true: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities softmax(z) of a network whose labels follow softmax(z / t_true)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 5)) * 4
    y = np.array([rng.choice(5, p=row) for row in softmax(z / t_true, axis=1)])
    return softmax(z, axis=1), y


@pytest.mark.parametrize("t_true", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_of_the_labels(t_true: float) -> None:
    probs, y = _overconfident(t_true)
    t = fit_temperature(probs, y)
    assert t == pytest.approx(t_true, rel=0.1)
    log_p = np.log(probs)
    assert nll(log_p, y, t) <= nll(log_p, y, 1.0)


def test_where_nll_and_ece_disagree_the_temperature_lowers_the_ece() -> None:
    # calibrated at 70 % except a few mistakes made with near-certainty: NLL softens all
    rng = np.random.default_rng(0)
    n, wrong = 2000, 40
    probs = np.tile([0.7, 0.3], (n, 1))
    y = (rng.random(n) > 0.7).astype(int)
    probs[:wrong], y[:wrong] = [1 - 1e-6, 1e-6], 1
    t_nll = fit_temperature(probs, y)
    assert t_nll > 1.5 and top1_ece(rescale(probs, t_nll), y) > top1_ece(probs, y)
    t, minimised = choose_temperature(probs, y)
    assert minimised.startswith("validation ECE")
    assert top1_ece(rescale(probs, t), y) < top1_ece(probs, y)
    # where the NLL fit does lower the ECE, it stays
    over, y_over = _overconfident(2.5)
    assert choose_temperature(over, y_over) == (fit_temperature(over, y_over), "validation NLL")


def test_rescale_keeps_labels_and_inverts() -> None:
    probs, _ = _overconfident(2.0, n=200)
    soft = rescale(probs, 2.0)
    assert (soft.argmax(1) == probs.argmax(1)).all()
    assert soft.max(1).mean() < probs.max(1).mean()  # T > 1 softens
    assert np.allclose(rescale(soft, 0.5), probs, atol=1e-9)
    assert np.allclose(soft.sum(1), 1.0)


def test_fit_calibrates_the_bundle_and_every_consumer_applies_it(tiny_products: Path, tmp_path: Path) -> None:
    result = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 3})
    meta = json.loads((result.bundle / "bundle.json").read_text())
    cal = meta["calibration"]
    assert cal["method"] == "temperature scaling" and cal["temperature"] > 0
    if cal["minimised"] == "validation NLL":
        assert cal["val_nll_after"] <= cal["val_nll_before"] + 1e-9  # T = 1 was a candidate
    assert cal["val_ece_after"] <= cal["val_ece_before"] + 1e-9
    metrics = json.loads((result.report.parent / "metrics.json").read_text())
    assert metrics["temperature"] == pytest.approx(cal["temperature"])
    assert metrics["uncalibrated"]["accuracy"] == metrics["accuracy"]  # labels never change
    assert (result.report.parent / "reliability_uncalibrated.png").is_file()
    # the Predictor from the bundle applies T: its probabilities are the evaluated ones
    predictor = Predictor.from_bundle(result.bundle)
    assert predictor.temperature == pytest.approx(cal["temperature"])
    raw = Predictor.from_bundle(result.bundle)
    raw.temperature = 1.0
    images = sorted((tiny_products if tiny_products.is_dir() else tiny_products.parent).rglob("*.png"))[:6]
    p, _ = predictor.predict_probs(images)
    q, _ = raw.predict_probs(images)
    assert np.allclose(p, rescale(q, cal["temperature"]), atol=1e-5)
    # ...and so does the ONNX graph
    exported = api.export(result.bundle, examples=[str(i) for i in images[:2]])
    assert exported.max_abs_diff < 1e-4
    import onnxruntime as ort

    sess = ort.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    x = np.stack([predictor.task.prepare_input(i, predictor.processor).numpy() for i in images[:2]])
    assert np.allclose(sess.run(None, {"image": x})[0], p[:2], atol=1e-4)


def test_no_calibration_when_validation_trained_the_model(tiny_products: Path, tmp_path: Path) -> None:
    # features fits its head on train + val: a temperature fitted there would be fitted in-sample
    result = api.fit(tiny_products, tmp_path / "f", strategy="features", **TINY)
    assert json.loads((result.bundle / "bundle.json").read_text())["calibration"] == {}
    assert "validation split trained" in result.info["calibration"]
    off = api.fit(tiny_products, tmp_path / "off", strategy="full", calibrate=False, **{**TINY, "epochs": 1})
    assert json.loads((off.bundle / "bundle.json").read_text())["calibration"] == {}
