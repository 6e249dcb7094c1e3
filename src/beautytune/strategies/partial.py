from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import (
    GradientStrategy,
    StrategyOptions,
    backbone_group,
    head_group,
    option,
    set_trainable,
)

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


@dataclass
class PartialOptions(StrategyOptions):
    unfreeze_blocks: int = option(
        2, "layer groups (CNN stages, transformer layers) to unfreeze, from the top"
    )

    def validate(self) -> None:
        if self.unfreeze_blocks < 0:
            raise BeautytuneError("--unfreeze-blocks must be 0 or more")


class PartialStrategy(GradientStrategy):
    name = "partial"
    summary = "unfreeze the last N layer groups of the backbone (--unfreeze-blocks)"
    Options = PartialOptions
    options: PartialOptions

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        groups = model.layer_groups()
        n = max(0, min(self.options.unfreeze_blocks, len(groups)))
        params = [p for g in groups[len(groups) - n :] for p in g]
        for p in params:
            p.requires_grad_(True)
        groups_out = [head_group(model, cfg)]
        if params:
            groups_out.insert(0, backbone_group(params, cfg))
        return groups_out
