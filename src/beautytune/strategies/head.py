from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beautytune.strategies.base import GradientStrategy, head_group, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


class HeadStrategy(GradientStrategy):
    name = "head"
    summary = "freeze the backbone, train a new head"

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        return [head_group(model, cfg)]
