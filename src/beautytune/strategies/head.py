from __future__ import annotations

from typing import Any

from beautytune.strategies.base import Strategy, head_group, set_trainable


class HeadStrategy(Strategy):
    name = "head"
    summary = "freeze the backbone, train a new head"

    def param_groups(self, model: Any, cfg: Any) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        return [head_group(model, cfg)]
