from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beautytune.models.network import Classifier
from beautytune.strategies.base import GradientStrategy, StrategyOptions, head_group, option, set_trainable
from beautytune.strategies.fitters import FitContext, FitOutcome, cached_features_fit

if TYPE_CHECKING:
    from beautytune.config import RunConfig


@dataclass
class HeadOptions(StrategyOptions):
    cache_features: bool = option(
        True, "train on frozen features computed once when nothing changes them (no augmentation)"
    )


class HeadStrategy(GradientStrategy):
    name = "head"
    summary = "freeze the backbone, train a new head"
    Options = HeadOptions
    options: HeadOptions

    def param_groups(self, model: Classifier, cfg: RunConfig) -> list[dict[str, Any]]:
        set_trainable(model.backbone, False)
        return [head_group(model, cfg)]

    def fit(self, ctx: FitContext) -> FitOutcome:
        why = recompute_reason(ctx, self.options.cache_features)
        if why is None:
            return cached_features_fit(ctx, self.param_groups(ctx.model, ctx.cfg), self.callbacks(ctx.cfg))
        outcome = super().fit(ctx)
        outcome.info["backbone features"] = f"recomputed every epoch: {why}"
        return outcome


def recompute_reason(ctx: FitContext, cache: bool) -> str | None:
    """Why the frozen backbone must run on every training batch; None when features can be
    computed once. (A text encoder's own dropout then stays off, as in ``features``.)"""
    cfg = ctx.cfg
    if not cache:
        return "--no-cache-features"
    if ctx.task.modality == "image" and cfg.augment != "none":
        return f"--augment {cfg.augment} changes the photos every epoch (--augment none caches them)"
    if cfg.mixup or cfg.cutmix:
        return "mixup/cutmix mix the photos themselves"
    if cfg.drop_path:
        return "--drop-path drops backbone blocks at random"
    if type(ctx.model).training_loss is not Classifier.training_loss:
        return f"the {ctx.task.name} loss needs the whole network"
    return None
