"""Frozen backbone -> cached features -> a scikit-learn linear classifier.

The fitted classifier (with its feature standardisation folded in) becomes the model's
linear head, so prediction, evaluation and ONNX export treat this strategy like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier

CLASSIFIERS = ("logreg", "svm")


class FeaturesStrategy(Strategy):
    name = "features"
    summary = "frozen backbone features + logistic regression (or linear SVM)"
    trains_with_gradients = False

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model, False)
        return []

    def fit_head(self, model: Classifier, x: np.ndarray, y: np.ndarray, cfg: RunConfig) -> dict[str, Any]:
        """Fit the classifier on standardised features and write it into ``model.fc``."""
        fc = model.fc
        num_classes = fc.out_features
        if cfg.classifier not in CLASSIFIERS:
            raise BeautytuneError(
                f"unknown classifier '{cfg.classifier}': use one of {', '.join(CLASSIFIERS)}"
            )
        scaler = StandardScaler().fit(x)
        xs = scaler.transform(x)
        clf: LogisticRegression | LinearSVC
        if cfg.classifier == "svm":
            clf = LinearSVC(C=cfg.C, class_weight="balanced", max_iter=5000, random_state=cfg.seed)
        else:
            clf = LogisticRegression(C=cfg.C, class_weight="balanced", max_iter=3000)
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
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        w = coef / scale
        b = bias - w @ scaler.mean_
        with torch.no_grad():
            fc.weight.copy_(torch.as_tensor(w, dtype=fc.weight.dtype))
            fc.bias.copy_(torch.as_tensor(b, dtype=fc.bias.dtype))
        return {"classifier": cfg.classifier, "C": cfg.C, "n_iter": np.asarray(clf.n_iter_).tolist()}
