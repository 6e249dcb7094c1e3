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


@pytest.mark.slow
def test_two_processes_reach_the_metrics_one_process_does(tiny_products: Path, tmp_path: Path) -> None:
    """DDP splits each global batch across ranks and averages their gradients, so 2 processes
    with batch 4 take the steps 1 process with batch 8 takes. Per-example randomness is off
    (no augmentation, no dropout, BatchNorm frozen, unweighted loss), which leaves float
    summation order: validation losses agree to 1e-4, test metrics exactly."""
    same = ["--backbone", "test_efficientnet", "--init", "random", "--image-size", "48", "--epochs", "3"]
    same += ["--augment", "none", "--head-dropout", "0", "--bn", "frozen", "--imbalance", "none"]
    same += ["--lr", "1e-2", "--accelerator", "cpu", "--no-calibrate"]
    runs = {}
    for name, devices, batch in (("one", "1", "8"), ("two", "2", "4")):
        out = tmp_path / name
        extra = ["--distributed", "ddp"] if devices == "2" else []
        r = run_cli(
            "fit",
            str(tiny_products),
            "--out",
            str(out),
            *same,
            "--devices",
            devices,
            "--batch-size",
            batch,
            *extra,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        history = json.loads((out / "history.json").read_text())
        metrics = json.loads((out / "report" / "metrics.json").read_text())
        runs[name] = (history, metrics)
    (h1, m1), (h2, m2) = runs["one"], runs["two"]
    assert len(h1) == len(h2) == 3
    for e1, e2 in zip(h1, h2, strict=True):
        assert e1["val_loss"] == pytest.approx(e2["val_loss"], abs=1e-4), (h1, h2)
    for key in ("accuracy", "macro_f1"):
        assert m1[key] == pytest.approx(m2[key], abs=1e-9), key
    # the same weights, and they moved: otherwise agreeing would say nothing
    from safetensors.torch import load_file

    w1, w2 = (load_file(tmp_path / name / "bundle" / "model.safetensors") for name in ("one", "two"))
    assert w1.keys() == w2.keys()
    worst = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
    assert worst < 1e-4, worst
    assert h1[-1]["train_loss"] < h1[0]["train_loss"] - 0.01, h1


def test_fsdp_on_cpu_and_unknown_modes_are_refused_before_any_work(tmp_path: Path) -> None:
    from beautytune.config import RunConfig
    from beautytune.errors import BeautytuneError

    with pytest.raises(BeautytuneError, match="use ddp on CPU"):
        RunConfig(data="d", out=str(tmp_path / "r"), accelerator="cpu", distributed="fsdp").validate()
    with pytest.raises(BeautytuneError, match="unknown distributed 'deepspeed'"):
        RunConfig(data="d", out=str(tmp_path / "r"), distributed="deepspeed").validate()
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("env", "worker"),
    [
        ({}, False),
        ({"LOCAL_RANK": "1"}, True),
        ({"RANK": "0", "LOCAL_RANK": "0"}, False),
        ({"RANK": "3", "LOCAL_RANK": "1"}, True),
        ({"SLURM_PROCID": "2"}, True),
        ({"NODE_RANK": "1"}, True),
    ],
)
def test_every_rank_but_zero_is_a_worker_under_each_launcher(
    env: dict[str, str], worker: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beautytune.train import pipeline

    for name in pipeline._RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert pipeline._launched_worker() is worker


def test_a_worker_started_with_rank_zero_waits_for_its_split(tmp_path: Path) -> None:
    """torchrun and srun start every rank at once: a worker waits for rank 0's split."""
    import threading
    import time

    from beautytune.config import RunConfig
    from beautytune.train.pipeline import _await_rank_zero
    from beautytune.train.rundir import RunDir

    run = RunDir(tmp_path / "run")
    cfg = RunConfig(data="d", out=str(run.path))

    def rank_zero() -> None:
        time.sleep(1.5)
        run.path.mkdir()
        run.config.write_text("{}")
        run.split_csv.write_text("path,label,group,split\n")

    t = threading.Thread(target=rank_zero)
    t0 = time.monotonic()
    t.start()
    _await_rank_zero(run, cfg, timeout=30)
    t.join()
    assert time.monotonic() - t0 >= 1.4
    with pytest.raises(Exception, match="rank 0 never wrote"):
        _await_rank_zero(RunDir(tmp_path / "other"), cfg, timeout=0.5)


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2])
def test_the_gpu_path_trains_in_bf16_with_channels_last_and_a_fused_optimizer(
    tiny_products: Path, tmp_path: Path, devices: int
) -> None:
    import torch

    if torch.cuda.device_count() < devices:
        pytest.skip(f"needs {devices} CUDA GPU(s)")
    out = tmp_path / "gpu"
    r = run_cli(
        "fit",
        str(tiny_products),
        "--out",
        str(out),
        "--backbone",
        "test_efficientnet",
        "--init",
        "random",
        "--image-size",
        "48",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--accelerator",
        "gpu",
        "--devices",
        str(devices),
        "--precision",
        "bf16-mixed",
        "--compile",
        *(["--distributed", "ddp"] if devices > 1 else ["--batch-size-find"]),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    pred = run_cli("predict", str(out / "bundle"), str(next(tiny_products.parent.rglob("*.png"))), "--json")
    assert pred.returncode == 0, pred.stderr
