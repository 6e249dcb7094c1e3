"""LP-FT (Kumar et al., 2022): linear probe first, then fine-tune everything from the probed head.

Fine-tuning from a random head sends large, wrong gradients into the pretrained features
in the first steps and distorts them, which costs most on data unlike the training set.
Starting from the closed-form probe (the ``features`` fitter on the training split) the
head is already good, so the features move less.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from beautytune.errors import BeautytuneError
from beautytune.strategies.base import StrategyOptions, option, set_trainable
from beautytune.strategies.features import FeaturesOptions, FeaturesStrategy
from beautytune.strategies.fitters import FitContext, FitOutcome, closed_form_head_fit, lightning_fit
from beautytune.strategies.full import FullStrategy

if TYPE_CHECKING:
    from beautytune.config import RunConfig


@dataclass
class LpFtOptions(StrategyOptions):
    probe_C: float = option(0.5, "inverse regularisation strength of the linear probe")

    def validate(self) -> None:
        if self.probe_C <= 0:
            raise BeautytuneError("--probe-C must be positive")


class LpFtStrategy(FullStrategy):  # the fine-tuning stage trains what full trains
    name = "lp-ft"
    summary = "linear probe (closed form), then fine-tune all layers from the probed head"
    Options = LpFtOptions
    options: LpFtOptions

    def check(self, cfg: RunConfig) -> None:
        if cfg.head_hidden:
            raise BeautytuneError(f"{self.name} starts from a linear probe: drop --head-hidden")

    def probe(self, ctx: FitContext) -> FitOutcome:
        """Write the closed-form probe into the head (deterministic: a resumed run redoes it)."""
        set_trainable(ctx.model, False)
        probe = FeaturesStrategy(FeaturesOptions(C=self.options.probe_C))
        return closed_form_head_fit(
            ctx, lambda x, y: probe.fit_head(ctx.model, x, y, seed=ctx.cfg.seed), splits=("train",)
        )

    def finetune(self, ctx: FitContext) -> FitOutcome:
        return lightning_fit(ctx, self.param_groups(ctx.model, ctx.cfg))

    def fit(self, ctx: FitContext) -> FitOutcome:
        self.probe(ctx)
        return self.finetune(ctx)
