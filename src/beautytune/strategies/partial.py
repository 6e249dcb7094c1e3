from __future__ import annotations

from typing import TYPE_CHECKING, Any

from beautytune.strategies.base import Strategy, backbone_groups, head_group, set_trainable

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


class PartialStrategy(Strategy):
    name = "partial"
    summary = "unfreeze the last N layer groups of the backbone (--unfreeze-blocks)"

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        groups = backbone_groups(model.backbone)
        n = max(0, min(cfg.unfreeze_blocks, len(groups)))
        params = [p for g in groups[len(groups) - n :] for p in g]
        for p in params:
            p.requires_grad_(True)
        out = [head_group(model, cfg)]
        if params:
            out.insert(0, {"params": params, "lr": cfg.lr * cfg.backbone_lr_mult, "name": "backbone"})
        return out
