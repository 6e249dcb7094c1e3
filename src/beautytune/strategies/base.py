"""What a fine-tuning strategy is: which parameters train, at which learning rate, when.

A strategy never forks the training loop. It prepares the model (``requires_grad``) and
hands the optimizer its parameter groups; anything that changes during training (e.g.
gradual unfreezing) is a Lightning callback it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from timm.models import group_parameters
from torch import nn

if TYPE_CHECKING:
    from lightning.pytorch import Callback

    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


class Strategy:
    name: ClassVar[str]
    summary: ClassVar[str]
    #: False for strategies fitted outside the gradient loop (frozen features + sklearn).
    trains_with_gradients: ClassVar[bool] = True

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        """Freeze what must not train and return optimizer parameter groups."""
        raise NotImplementedError

    def callbacks(self, cfg: RunConfig) -> list[Callback]:
        return []


def set_trainable(module: nn.Module, trainable: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(trainable)


def backbone_groups(backbone: nn.Module) -> list[list[nn.Parameter]]:
    """The backbone's coarse layer groups (stem, stages..., head conv), input to output.

    Asks the model for its own grouping (timm's ``group_matcher``) instead of guessing
    from layer names, so any timm architecture works.
    """
    matcher = getattr(backbone, "group_matcher", None)
    named = dict(backbone.named_parameters())
    if matcher is None:
        return [list(named.values())]
    groups = group_parameters(backbone, matcher(coarse=True))
    return [[named[n] for n in names] for _, names in sorted(groups.items())]


def head_group(model: Classifier, cfg: RunConfig) -> dict[str, Any]:
    set_trainable(model.head, True)
    return {"params": list(model.head.parameters()), "lr": cfg.lr, "name": "head"}
