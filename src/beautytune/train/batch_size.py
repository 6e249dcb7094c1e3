"""``--batch-size-find``: the largest batch that fits the GPU, found before training.

Lightning's batch-size scaler doubles the batch from ``--batch-size`` until a step runs out
of memory, then bisects between the last size that fitted and the first that did not; an
out-of-memory error is caught, the memory freed, and the search goes on. It trains a copy of
the network for a couple of steps a size, so the run itself starts from the same weights and
random state. The size found is written to ``config.json`` (``--resume`` keeps it).
"""

from __future__ import annotations

from lightning.pytorch.tuner import Tuner

from beautytune.strategies.base import Strategy
from beautytune.strategies.fitters import FitContext
from beautytune.train.lr_find import _rng_preserved, probe_module, probe_trainer


def find_batch_size(
    ctx: FitContext, strategy: Strategy, max_trials: int = 8, steps_per_trial: int = 2
) -> int:
    """The largest batch (from ``ctx.cfg.batch_size`` up, at most the training split) whose
    training step fits, less Lightning's 5% margin; a multiple of 8 from 16 up, which tensor
    cores prefer."""
    lit = probe_module(ctx, strategy, "fits its head in closed form: there is no batch to size")
    # the scaler sets its own steps; a finite run keeps the learning-rate schedule finite
    trainer = probe_trainer(lit.cfg, False, max_epochs=1)
    start = ctx.data.batch_size
    with _rng_preserved():
        found = Tuner(trainer).scale_batch_size(
            lit,
            datamodule=ctx.data,
            mode="binsearch",
            init_val=start,
            max_trials=max_trials,
            steps_per_trial=steps_per_trial,
        )
    ctx.data.batch_size = start  # the caller decides what to keep
    size = min(int(found or start), len(ctx.data.train_targets))
    return max(1, size - size % 8 if size >= 16 else size)
