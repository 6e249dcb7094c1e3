"""The learning-rate range test: its schedule, its suggestion, and `fit --lr auto`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from beautytune import api
from beautytune.errors import BeautytuneError
from beautytune.train import lr_find as lr_find_module
from beautytune.train.lr_find import valley
from conftest import TINY, run_cli

FAST = {k: v for k, v in TINY.items() if k != "lr"}


def test_valley_picks_the_falling_stretch_not_the_minimum() -> None:
    # flat, then falling from index 20 to 60, then blowing up
    losses = [2.0] * 20 + [2.0 - 0.04 * i for i in range(40)] + [0.4 + 0.3 * i for i in range(20)]
    i = valley(losses)
    assert 20 < i < 60  # on the way down, before the lowest point (a rate that still learns)
    assert losses[i] > min(losses)


def test_range_test_keeps_group_ratios_and_leaves_no_run(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[float]] = []
    original = lr_find_module.RangeTest.on_train_batch_start

    def record(self, trainer, pl_module, batch, i):  # type: ignore[no-untyped-def]
        original(self, trainer, pl_module, batch, i)
        seen.append([g["lr"] for g in trainer.optimizers[0].param_groups])

    monkeypatch.setattr(lr_find_module.RangeTest, "on_train_batch_start", record)
    out = tmp_path / "lr"
    result = api.lr_find(
        tiny_products, out, min_lr=1e-5, max_lr=1.0, steps=30, strategy="full", backbone_lr_mult=0.1, **FAST
    )
    assert 1e-5 <= result.suggestion <= 1.0
    assert result.lrs[0] == pytest.approx(1e-5)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:], strict=False)]
    assert max(ratios) == pytest.approx(min(ratios))  # geometric
    # groups: backbone (decay / no decay), head (decay / no decay); backbone at a tenth always
    for lrs in seen:
        assert lrs[0] == pytest.approx(lrs[-1] * 0.1)
    assert seen[0][-1] == pytest.approx(1e-5)
    saved = json.loads((out / "lr_find.json").read_text())
    assert saved["suggestion"] == result.suggestion and len(saved["lr"]) == len(result.lrs)
    assert (out / "lr_find.png").stat().st_size > 0
    assert sorted(p.name for p in out.iterdir()) == ["lr_find.json", "lr_find.png"]  # nothing else


def test_fit_lr_auto_equals_fit_with_the_found_lr(tiny_products: Path, tmp_path: Path) -> None:
    auto = api.fit(tiny_products, tmp_path / "auto", lr="auto", strategy="full", **FAST)
    found = json.loads((auto.run_dir / "lr_find.json").read_text())["suggestion"]
    cfg = json.loads((auto.run_dir / "config.json").read_text())
    assert cfg["lr"] == found and cfg["lr_find"] is False  # a resumed run keeps the value
    assert (auto.run_dir / "lr_find.png").is_file()
    assert "lr (range test)" in auto.info
    # the test trained a copy and the seed was reset: the run is the one --lr FOUND gives
    given = api.fit(tiny_products, tmp_path / "given", lr=found, strategy="full", **FAST)
    assert auto.metrics["macro_f1"] == pytest.approx(given.metrics["macro_f1"], abs=1e-9)
    assert math.isclose(auto.metrics["nll"], given.metrics["nll"], rel_tol=1e-6)


def test_lr_find_refuses_strategies_without_a_learning_rate(tiny_products: Path, tmp_path: Path) -> None:
    with pytest.raises(BeautytuneError, match="no learning rate"):
        api.lr_find(tiny_products, tmp_path / "lr", steps=20, strategy="features", **FAST)
    with pytest.raises(BeautytuneError, match="min-lr"):
        api.lr_find(tiny_products, tmp_path / "lr", min_lr=1.0, max_lr=0.1, **FAST)
    with pytest.raises(BeautytuneError, match="--lr 'fast'"):
        api.run_config(tiny_products, tmp_path / "x", lr="fast")
    assert not (tmp_path / "lr").exists()


def test_cli_lr_find(tiny_products: Path, tmp_path: Path) -> None:
    out = tmp_path / "lr"
    r = run_cli(
        "lr-find", str(tiny_products), "--out", str(out), "--steps", "25", "--strategy", "lora",
        "--lora-r", "2", "--backbone", "test_efficientnet", "--init", "random", "--image-size", "48",
        "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "suggested lr" in r.stdout and (out / "lr_find.png").is_file()
    bad = run_cli("lr-find", str(tiny_products), "--out", str(out), "--strategy", "features")
    assert bad.returncode != 0 and "no learning rate" in bad.stderr
