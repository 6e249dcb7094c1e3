"""LoRA (peft): low-rank adapters on the backbone, for image and text backbones alike.

Text encoders get adapters on their attention and feed-forward layers, image backbones on
every linear and ungrouped convolution. Only the adapters and the head train, so a
22 M-parameter encoder fine-tunes with a few hundred thousand trainable parameters. After
training the adapters are merged into the weights: the bundle holds a plain network,
loadable without peft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import Strategy, StrategyOptions, head_group, option
from beautytune.strategies.fitters import FitContext, FitOutcome, lightning_fit

if TYPE_CHECKING:
    from beautytune.config import RunConfig
    from beautytune.models.network import Classifier


@dataclass
class LoraOptions(StrategyOptions):
    lora_r: int = option(8, "rank of the low-rank adapters")
    lora_alpha: float = option(16.0, "adapter scaling (alpha / r multiplies the update)")
    lora_dropout: float = option(0.05, "dropout on the adapter input")
    lora_lr_mult: float = option(1.0, "adapter learning rate = --lr x this")

    def validate(self) -> None:
        if self.lora_r < 1:
            raise BeautytuneError("--lora-r must be at least 1")
        if not 0 <= self.lora_dropout < 1:
            raise BeautytuneError("--lora-dropout must be in [0, 1)")


class LoraStrategy(Strategy):
    name = "lora"
    summary = "low-rank adapters (peft) on a frozen backbone, merged into the weights after training"
    Options = LoraOptions
    options: LoraOptions

    def lr_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        """Wraps ``model`` in adapters; their group and the head's."""
        o = self.options
        adapters = model.apply_lora(r=o.lora_r, alpha=o.lora_alpha, dropout=o.lora_dropout)
        return [{"params": adapters, "lr": cfg.lr * o.lora_lr_mult, "name": "lora"}, head_group(model, cfg)]

    def fit(self, ctx: FitContext) -> FitOutcome:
        outcome = lightning_fit(ctx, self.lr_groups(ctx.model, ctx.cfg))
        ctx.model.merge_lora()
        return outcome
