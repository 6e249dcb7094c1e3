"""Nearest class mean with cosine similarity on frozen features (SimpleShot, Wang et al., 2019).

Features are centred on the training mean and L2-normalised; each class is the normalised
mean of its examples; a photo goes to the class whose mean is closest in cosine. Nothing is
fitted but means, so it works from one example per class, where a trained head cannot.

It ships as the same linear head as every other strategy: for a centred feature z = f - m,
cos(z, mu_c) = (mu_c / |mu_c|) . z / |z|, and |z| is the same for every class, so the class
with the largest ``w_c . f + b_c`` with ``w_c = mu_c / |mu_c|`` and ``b_c = -w_c . m`` is
exactly the nearest mean. ``scale`` (over the typical |z|) sets the logits' spread;
temperature scaling on the validation split, which the prototypes never see, calibrates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy, StrategyOptions, option, set_trainable
from beautytune.strategies.features import write_linear
from beautytune.strategies.fitters import FitContext, FitOutcome, closed_form_head_fit

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


@dataclass
class PrototypeOptions(StrategyOptions):
    scale: float = option(10.0, "logit of a perfect cosine match (before temperature scaling)")

    def validate(self) -> None:
        if self.scale <= 0:
            raise BeautytuneError("--scale must be positive")


def prototype_head(
    x: np.ndarray, y: np.ndarray, num_classes: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (C, D) and biases (C,) of the linear layer that is the nearest-mean classifier."""
    m = x.mean(0)
    z = x - m
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    zn = z / np.maximum(norms, 1e-12)
    w = np.zeros((num_classes, x.shape[1]))
    for c in np.unique(y):
        mu = zn[y == c].mean(0)
        w[c] = mu / max(float(np.linalg.norm(mu)), 1e-12)
    w *= scale / max(float(np.median(norms)), 1e-12)  # logits ~ scale x cosine for a typical photo
    b = -w @ m
    absent = np.setdiff1d(np.arange(num_classes), np.unique(y))
    b[absent] = -1e4  # a class never seen in training is never predicted
    return w, b


class PrototypeStrategy(Strategy):
    name = "prototype"
    summary = "nearest class mean, cosine, on frozen features (few-shot: works from one example per class)"
    Options = PrototypeOptions
    options: PrototypeOptions

    def check(self, cfg: RunConfig) -> None:
        if cfg.head_hidden:
            raise BeautytuneError("the prototype strategy is a linear classifier: drop --head-hidden")

    def fit(self, ctx: FitContext) -> FitOutcome:
        set_trainable(ctx.model, False)
        return closed_form_head_fit(ctx, lambda x, y: self.fit_head(ctx.model, x, y), splits=("train",))

    def fit_head(self, model: Classifier, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        fc = model.fc
        w, b = prototype_head(x, y, fc.out_features, self.options.scale)
        write_linear(fc, w, b)
        return {"classifier": "nearest class mean (cosine)", "prototypes from": f"{len(y)} training examples"}
