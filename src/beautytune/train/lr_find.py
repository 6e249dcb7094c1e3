"""Learning-rate range test (Smith, 2017; fastai's ``lr_find``) on the run's own training split.

The learning rate grows geometrically from ``min_lr`` to ``max_lr`` over ``steps`` training
steps of the chosen strategy, on a copy of the model (the run's weights are untouched), and
the smoothed loss is recorded. The learning rate named is the head's (``--lr``); every other
parameter group keeps its ratio to it (the backbone's ``backbone_lr_mult``, LLRD's decay,
LoRA's multiplier), so the value suggested is the one ``fit --lr`` takes. Lightning's own
tuner sets every group to the same rate, which would test a different optimiser.

The suggestion is fastai's "valley" rule: the longest stretch over which the loss keeps
falling, two thirds of the way down it; more stable than the steepest slope on noisy curves.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from beautytune.config import RunConfig
from beautytune.errors import BeautytuneError
from beautytune.io import write_json_atomic
from beautytune.strategies.base import Strategy
from beautytune.strategies.fitters import FitContext
from beautytune.train.module import LitClassifier

TITLE = "Learning-rate range test"


@dataclass
class LrFindResult:
    lrs: list[float]
    losses: list[float]  # smoothed (bias-corrected exponential moving average, beta 0.98)
    suggestion: float
    stopped_early: bool  # the loss diverged before max_lr

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestion": self.suggestion,
            "stopped_early": self.stopped_early,
            "lr": self.lrs,
            "loss": self.losses,
        }

    def write(self, out: Path) -> tuple[Path, Path]:
        """``out/lr_find.json`` and ``out/lr_find.png``."""
        out.mkdir(parents=True, exist_ok=True)
        js, png = out / "lr_find.json", out / "lr_find.png"
        write_json_atomic(js, self.to_dict())
        self.plot(png)
        return js, png

    def curve(self) -> dict[str, Any]:
        """The report's line-plot spec (see ``evaluate.report.plot_curve``)."""
        return {
            "x": self.lrs,
            "y": self.losses,
            "xscale": "log",
            "xlabel": "head learning rate (other groups keep their ratio to it)",
            "ylabel": "training loss (smoothed)",
            "chosen": self.suggestion,
        }

    def plot(self, path: Path) -> None:
        from beautytune.evaluate.report import plot_curve, write_png

        write_png(path, plot_curve(self.curve(), TITLE))


class RangeTest(L.Callback):
    """Sets every group's lr to ``initial_lr x factor`` each step and records the loss."""

    def __init__(
        self, base_lr: float, min_lr: float, max_lr: float, steps: int, diverge: float = 4.0
    ) -> None:
        self.base_lr, self.min_lr, self.max_lr, self.steps = base_lr, min_lr, max_lr, steps
        self.diverge = diverge
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.stopped_early = False
        self._avg = 0.0
        self._best = math.inf

    def lr_at(self, step: int) -> float:
        return self.min_lr * (self.max_lr / self.min_lr) ** (step / max(1, self.steps - 1))

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, i: int
    ) -> None:
        factor = self.lr_at(trainer.global_step) / self.base_lr
        for opt in trainer.optimizers:
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * factor

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, i: int
    ) -> None:
        loss = float(outputs["loss"] if isinstance(outputs, dict) else outputs)
        step = len(self.losses)
        self._avg = 0.98 * self._avg + 0.02 * loss
        smoothed = self._avg / (1 - 0.98 ** (step + 1))
        self.lrs.append(self.lr_at(step))
        self.losses.append(smoothed)
        self._best = min(self._best, smoothed)
        if not math.isfinite(smoothed) or (step > 10 and smoothed > self.diverge * self._best):
            self.stopped_early = True
            trainer.should_stop = True


def valley(losses: list[float]) -> int:
    """Index of fastai's "valley" suggestion: the longest decreasing run, 2/3 of the way down."""
    n = len(losses)
    run = [1] * n
    start, end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[end] < run[i]:
            end, start = i, i - run[i]
    third = (end - start) / 3
    return min(n - 1, max(0, start + int(third) + int(third / 2)))


@contextmanager
def _rng_preserved() -> Iterator[None]:
    states = (random.getstate(), np.random.get_state(), torch.random.get_rng_state())
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def probe_trainer(cfg: RunConfig, progress: bool, **options: Any) -> L.Trainer:
    """A Trainer for a short probe on a copy of the network (range test, batch-size search):
    one device, no validation, nothing written."""
    return L.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision,  # type: ignore[arg-type]
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        **options,
    )


def probe_module(ctx: FitContext, strategy: Strategy, refusal: str) -> LitClassifier:
    """The training module of a probe: ``strategy``'s parameter groups on a copy of the
    network, without warm-up, EMA or a time budget (the probe owns its steps). A strategy
    with nothing to train (a closed-form head) is refused with ``refusal``."""
    model = copy.deepcopy(ctx.model)
    groups = strategy.lr_groups(model, ctx.cfg)
    if groups is None:
        raise BeautytuneError(f"strategy '{strategy.name}' {refusal}")
    cfg = replace(ctx.cfg, ema=0.0, warmup_epochs=0.0, time_budget=None)
    return LitClassifier(model, groups, cfg, len(ctx.labels), ctx.data.class_weights())


def find_lr(
    ctx: FitContext, strategy: Strategy, min_lr: float = 1e-6, max_lr: float = 1.0, steps: int = 100
) -> LrFindResult:
    """The range test of ``strategy`` on ``ctx``'s training split; neither ``ctx.model`` nor
    the random state changes."""
    if not 0 < min_lr < max_lr:
        raise BeautytuneError(f"lr range {min_lr:g} .. {max_lr:g}: need 0 < min-lr < max-lr")
    if steps < 20:
        raise BeautytuneError("--steps must be at least 20 for a readable curve")
    lit = probe_module(ctx, strategy, "has no learning rate (a closed-form head): nothing to find")
    cfg = lit.cfg
    test = RangeTest(cfg.lr, min_lr, max_lr, steps)
    trainer = probe_trainer(cfg, ctx.interactive, max_steps=steps, max_epochs=-1, callbacks=[test])
    with _rng_preserved():  # the run after the test draws what it would have without it
        trainer.fit(lit, datamodule=ctx.data)
    if len(test.losses) < 10:
        raise BeautytuneError(
            f"the range test stopped after {len(test.losses)} steps (the loss diverged at once): "
            "lower --min-lr"
        )
    i = valley(test.losses)
    return LrFindResult(test.lrs, test.losses, float(test.lrs[i]), test.stopped_early)
