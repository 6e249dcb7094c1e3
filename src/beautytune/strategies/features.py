"""Frozen backbone -> cached features -> a scikit-learn linear classifier.

The fitted classifier (with its feature standardisation folded in) becomes the model's
linear head, so prediction, evaluation and ONNX export treat this strategy like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy, StrategyOptions, option, set_trainable
from beautytune.strategies.fitters import FitContext, FitOutcome, closed_form_head_fit

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier

CLASSIFIERS = ("logreg", "svm")


@dataclass
class FeaturesOptions(StrategyOptions):
    classifier: str = option("logreg", "logreg | svm: the linear classifier on frozen features")
    C: float = option(0.5, "inverse regularisation strength of the classifier")
    fit_val: bool = option(
        True, "fit on the validation split too (no epochs to choose); off: validation calibrates and scores"
    )

    def validate(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise BeautytuneError(
                f"unknown classifier '{self.classifier}': use one of {', '.join(CLASSIFIERS)}"
            )
        if self.C <= 0:
            raise BeautytuneError("--C must be positive")


class FeaturesStrategy(Strategy):
    name = "features"
    summary = "frozen backbone features + logistic regression (or linear SVM)"
    Options = FeaturesOptions
    options: FeaturesOptions

    def check(self, cfg: RunConfig) -> None:
        if cfg.head_hidden:
            raise BeautytuneError("the features strategy fits a linear classifier: drop --head-hidden")

    def fit(self, ctx: FitContext) -> FitOutcome:
        set_trainable(ctx.model, False)
        # few-shot: the labels are the K per class, so validation only calibrates and tests
        splits = ("train",) if ctx.cfg.shots or not self.options.fit_val else ("train", "val")
        return closed_form_head_fit(
            ctx, lambda x, y: self.fit_head(ctx.model, x, y, seed=ctx.cfg.seed), splits=splits
        )

    def fit_head(self, model: Classifier, x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, Any]:
        """Fit the classifier on standardised features and write it into ``model.fc``."""
        fc = model.fc
        num_classes = fc.out_features
        opts = self.options
        scaler = floored(StandardScaler().fit(x))
        xs = scaler.transform(x)
        clf: LogisticRegression | LinearSVC
        if opts.classifier == "svm":
            clf = LinearSVC(C=opts.C, class_weight="balanced", max_iter=5000, random_state=seed)
        else:
            clf = LogisticRegression(C=opts.C, class_weight="balanced", max_iter=3000)
        clf.fit(xs, y)
        coef = np.zeros((num_classes, x.shape[1]))
        bias = np.zeros(num_classes)
        present = np.asarray(clf.classes_, dtype=int)
        if clf.coef_.shape[0] == 1:  # binary: one logit z; softmax([-z/2, z/2]) = sigmoid(z)
            coef[present[0]], coef[present[1]] = -clf.coef_[0] / 2, clf.coef_[0] / 2
            bias[present[0]], bias[present[1]] = -clf.intercept_[0] / 2, clf.intercept_[0] / 2
        else:
            coef[present], bias[present] = clf.coef_, clf.intercept_
            absent = np.setdiff1d(np.arange(num_classes), present)
            bias[absent] = -1e4  # a class never seen in training is never predicted
        # Fold (x - mean) / scale into the linear layer so the head takes raw features.
        w = coef / scaler.scale_
        b = bias - w @ scaler.mean_
        write_linear(fc, w, b)
        return {"classifier": opts.classifier, "C": opts.C}


#: a feature dimension whose spread is below this share of the median dimension's is noise
SCALE_FLOOR = 0.01


def floored(scaler: StandardScaler) -> StandardScaler:
    """Never divide by a near-constant dimension's spread.

    A frozen encoder can output a dimension that barely moves (all-MiniLM-L6-v2 has one at
    std 1e-9 beside a median of 0.11). Standardised, it looks like any other feature, and
    folded into the head its weight is ~1e9 times the classifier's: harmless while the
    backbone stays frozen, but the first fine-tuning step (``lp-ft``, ``wise-ft``) or AdaBN
    moves it and the logits explode. A floor keeps such dimensions near zero instead.
    """
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    positive = scale[scale > 0]
    floor = SCALE_FLOOR * float(np.median(positive)) if positive.size else 1.0
    scaler.scale_ = np.maximum(scale, floor)
    return scaler


def write_linear(fc: torch.nn.Linear, w: np.ndarray, b: np.ndarray) -> None:
    """Put a closed-form classifier's weights (C, D) and biases (C,) into the head's layer."""
    with torch.no_grad():
        fc.weight.copy_(torch.as_tensor(w, dtype=fc.weight.dtype))
        fc.bias.copy_(torch.as_tensor(b, dtype=fc.bias.dtype))
