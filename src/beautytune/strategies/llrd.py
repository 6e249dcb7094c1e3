"""Layer-wise learning-rate decay (BEiT, ELECTRA; timm's ``param_groups_layer_decay``).

Every layer trains; the top layer at the backbone learning rate, each layer below at
``layer_decay`` times the one above, so the general features near the input move least.
Text encoders expose timm's ``group_matcher`` too, so one function groups both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from timm.optim import param_groups_layer_decay

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import GradientStrategy, StrategyOptions, head_group, option, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


@dataclass
class LlrdOptions(StrategyOptions):
    layer_decay: float = option(0.75, "learning-rate factor from one layer to the one below it")

    def validate(self) -> None:
        if not 0 < self.layer_decay <= 1:
            raise BeautytuneError("--layer-decay must be in (0, 1]")


class LlrdStrategy(GradientStrategy):
    name = "llrd"
    summary = "train all layers, the learning rate decaying layer by layer towards the input"
    Options = LlrdOptions
    options: LlrdOptions

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, True)
        base = cfg.lr * cfg.backbone_lr_mult
        layered = param_groups_layer_decay(
            model.backbone, weight_decay=cfg.weight_decay, layer_decay=self.options.layer_decay
        )
        groups = [
            {"params": g["params"], "lr": base * g["lr_scale"], "name": f"backbone_{i}"}
            for i, g in enumerate(layered)
        ]
        return [*groups, head_group(model, cfg)]
