"""BitFit (Ben Zaken et al., 2022): train only the biases and norm parameters, plus the head.

A tiny trainable share (well under 1% of a CNN or an encoder) that still adapts every layer's
operating point: a strong choice for a few hundred examples. peft has no BitFit tuner; the
trainable set is timm's "1-d tensor" rule (biases, norm scales and shifts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beautytune.models.adapters import bitfit_parameters
from beautytune.strategies.base import GradientStrategy, backbone_group, head_group, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


class BitFitStrategy(GradientStrategy):
    name = "bitfit"
    summary = "train the backbone's biases and norm parameters only, plus the head"

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        params = bitfit_parameters(model.backbone)
        for p in params:
            p.requires_grad_(True)
        # the biases need the head's learning rate, not a fine-tuning one
        return [{**backbone_group(params, cfg), "lr": cfg.lr, "name": "bitfit"}, head_group(model, cfg)]
