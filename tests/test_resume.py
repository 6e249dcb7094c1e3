"""A fit killed with SIGKILL mid-training and resumed ends exactly where an uninterrupted one does."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ARGS = [
    "--backbone",
    "test_efficientnet",
    "--init",
    "random",
    "--image-size",
    "96",
    "--epochs",
    "5",
    "--batch-size",
    "8",
    "--seed",
    "3",
    "--patience",
    "10",
    "--lr",
    "3e-3",
]
# Probabilities agree to float32 round-off: same batches, same augmentation, same RNG.
TOLERANCE = 1e-5


def _fit(data: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "beautytune.cli", "fit", str(data), "--out", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _probs(run: Path) -> dict[str, list[float]]:
    with (run / "report" / "predictions.csv").open() as f:
        return {r["path"]: [float(v) for k, v in r.items() if k.startswith("p_")] for r in csv.DictReader(f)}


# full; gradual killed right after its freeze -> unfreeze boundary (head alone for epochs
# 1-2, the top group joins in epoch 3, where the kill lands); LoRA with its adapters and dropout
STRATEGIES = {
    "full": [],
    "gradual": ["--strategy", "gradual", "--head-epochs", "2"],
    "lora": ["--strategy", "lora", "--lora-r", "4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_sigkill_then_resume_matches_uninterrupted(
    strategy: str, tiny_products: Path, tmp_path: Path
) -> None:
    extra = STRATEGIES[strategy]
    ref = _fit(tiny_products, tmp_path / "ref", *extra)
    _, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err

    run = tmp_path / "killed"
    proc = _fit(tiny_products, run, *extra)
    history = run / "history.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if history.is_file() and len(json.loads(history.read_text() or "[]")) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    time.sleep(0.3)  # into the third epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "bundle").exists()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    # a kill that lands mid-write leaves the temp file, never a partial last.ckpt: it loads
    torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)

    resumed = _fit(tiny_products, run, "--resume")  # the saved config brings the strategy
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert not list(run.rglob(".*.tmp")), "resume leaves no temp file of the killed run behind"

    a = json.loads((tmp_path / "ref" / "report" / "metrics.json").read_text())
    b = json.loads((run / "report" / "metrics.json").read_text())
    assert b["macro_f1"] == pytest.approx(a["macro_f1"], abs=TOLERANCE)
    assert b["accuracy"] == pytest.approx(a["accuracy"], abs=TOLERANCE)
    pa, pb = _probs(tmp_path / "ref"), _probs(run)
    assert pa.keys() == pb.keys()
    for path in pa:
        assert pb[path] == pytest.approx(pa[path], abs=TOLERANCE)
    ha = json.loads((tmp_path / "ref" / "history.json").read_text())
    hb = json.loads(history.read_text())
    assert [r["epoch"] for r in hb] == [r["epoch"] for r in ha]
    for ra, rb in zip(ha, hb, strict=True):
        assert rb["val_macro_f1"] == pytest.approx(ra["val_macro_f1"], abs=TOLERANCE)
