from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beautytune.strategies.base import GradientStrategy, backbone_group, head_group, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


class FullStrategy(GradientStrategy):
    name = "full"
    summary = "train all layers; the backbone at lr x backbone_lr_mult"

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, True)
        return [backbone_group(list(model.backbone.parameters()), cfg), head_group(model, cfg)]
