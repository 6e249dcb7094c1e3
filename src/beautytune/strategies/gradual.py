"""Gradual unfreezing with discriminative learning rates (ULMFiT; fastai's ``fine_tune``).

The head trains alone on the frozen backbone for ``head_epochs``, then the backbone's layer
groups unfreeze one at a time from the top, every ``unfreeze_every`` epochs. Each group's
learning rate is ``group_lr_decay`` times the one above it.

Every parameter is in the optimizer from the start (frozen ones get no gradient, so AdamW
leaves them and their weight decay alone), and what is frozen depends on nothing but the
epoch: a run resumed across the freeze -> unfreeze boundary continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightning as L

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import GradientStrategy, StrategyOptions, head_group, option, set_trainable

if TYPE_CHECKING:
    from torch import nn

    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


@dataclass
class GradualOptions(StrategyOptions):
    head_epochs: int = option(1, "epochs of training the head alone before the backbone unfreezes")
    unfreeze_every: int = option(1, "epochs between unfreezing one more layer group, from the top")
    group_lr_decay: float = option(0.5, "learning-rate factor from one layer group to the one below it")

    def validate(self) -> None:
        if self.head_epochs < 0:
            raise BeautytuneError("--head-epochs must be 0 or more")
        if self.unfreeze_every < 1:
            raise BeautytuneError("--unfreeze-every must be at least 1")
        if not 0 < self.group_lr_decay <= 1:
            raise BeautytuneError("--group-lr-decay must be in (0, 1]")


def unfrozen_groups(epoch: int, head_epochs: int, every: int, n_groups: int) -> int:
    """How many layer groups (counted from the top) train in ``epoch`` (0-based)."""
    if epoch < head_epochs:
        return 0
    return min(n_groups, 1 + (epoch - head_epochs) // every)


class GradualUnfreeze(L.Callback):
    """Sets ``requires_grad`` of the backbone's layer groups at the start of every epoch."""

    def __init__(self, groups: list[list[nn.Parameter]], head_epochs: int, every: int) -> None:
        self.groups = groups
        self.head_epochs = head_epochs
        self.every = every

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        k = unfrozen_groups(trainer.current_epoch, self.head_epochs, self.every, len(self.groups))
        for i, group in enumerate(self.groups):
            for p in group:
                p.requires_grad_(i >= len(self.groups) - k)


class GradualStrategy(GradientStrategy):
    name = "gradual"
    summary = "head first, then unfreeze layer groups one by one from the top; lower groups at lower lr"
    Options = GradualOptions
    options: GradualOptions

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        self._groups = model.layer_groups()
        base, n = cfg.lr * cfg.backbone_lr_mult, len(self._groups)
        out = [
            {"params": g, "lr": base * self.options.group_lr_decay ** (n - 1 - i), "name": f"group_{i}"}
            for i, g in enumerate(self._groups)
        ]
        return [*out, head_group(model, cfg)]

    def callbacks(self, cfg: RunConfig) -> list[Any]:
        o = self.options
        return [GradualUnfreeze(self._groups, o.head_epochs, o.unfreeze_every)]
