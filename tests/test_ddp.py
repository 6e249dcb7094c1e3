"""Two-process DDP on CPU (gloo): what a multi-GPU run does, on a machine without GPUs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_two_process_ddp_trains_sharded_and_rank0_writes_the_bundle(
    tiny_products: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp"
    args = ["--backbone", "test_efficientnet", "--init", "random", "--image-size", "48", "--epochs", "2"]
    r = run_cli(
        "fit",
        str(tiny_products),
        "--out",
        str(out),
        *args,
        "--batch-size",
        "4",
        "--accelerator",
        "cpu",
        "--devices",
        "2",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "bundle" / "bundle.json").read_text())
    assert meta["strategy"] == "full"
    assert (out / "report" / "metrics.json").is_file()
    with (out / "split.csv").open() as f:
        n_train = sum(row["split"] == "train" for row in csv.DictReader(f))
    with (out / "logs" / "metrics.csv").open() as f:
        steps = [int(row["step"]) for row in csv.DictReader(f) if row.get("train_loss")]
    # each rank takes half the epoch: without sharding, steps per epoch would double
    per_epoch = math.ceil(n_train / 2) // 4
    assert steps[0] + 1 == per_epoch, (steps, n_train)
    root = tiny_products if tiny_products.is_dir() else tiny_products.parent
    pred = run_cli("predict", str(out / "bundle"), str(next(root.rglob("*.png"))), "--json")
    assert pred.returncode == 0, pred.stderr
