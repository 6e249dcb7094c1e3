"""``--batch-size-find``: Lightning's scaler on a copy of the network, before training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from beautytune.config import RunConfig
from beautytune.errors import BeautytuneError
from conftest import TINY


def test_batch_size_find_grows_the_batch_on_a_copy(tiny_products: Path, tmp_path: Path) -> None:
    from beautytune.data.split import split_records
    from beautytune.strategies import get_strategy
    from beautytune.strategies.fitters import context_for
    from beautytune.tasks import task_for
    from beautytune.train.batch_size import find_batch_size
    from beautytune.train.rundir import RunDir

    cfg = RunConfig(data=str(tiny_products), out=str(tmp_path / "r"), **{**TINY, "batch_size": 4})
    task = task_for(cfg)
    records = split_records(task.read(tiny_products, cfg), seed=0)
    ctx = context_for(task, cfg, records, RunDir(tmp_path / "r"))
    before = {k: v.clone() for k, v in ctx.model.state_dict().items()}
    # no out-of-memory on a CPU: every trial doubles the batch (4 -> 8 -> 16), and Lightning
    # keeps a safety margin below the last size that fitted
    found = find_batch_size(ctx, get_strategy("full", {}), max_trials=3, steps_per_trial=1)
    assert 8 < found <= 16
    assert ctx.data.batch_size == 4  # the caller decides what to keep
    after = ctx.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_batch_size_find_is_refused_on_a_cpu(tmp_path: Path) -> None:
    with pytest.raises(BeautytuneError, match="--batch-size-find sizes batches to a GPU"):
        RunConfig(data="d", out=str(tmp_path / "r"), accelerator="cpu", batch_size_find=True).validate()
