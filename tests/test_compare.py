"""`compare`: strategies x seeds on one split, a leaderboard, finished runs reused."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from beautytune import api
from beautytune.errors import BeautytuneError
from conftest import TINY, run_cli


def test_compare_one_split_leaderboard_and_reuse(tiny_products: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    board = api.compare(tiny_products, out, strategies=["features", "head"], seeds=[0, 1], **TINY)
    assert {b["name"] for b in board} == {"features", "head"} and all(b["runs"] == 2 for b in board)
    assert board[0]["macro_f1_mean"] >= board[1]["macro_f1_mean"]  # best first
    # every run trained and was tested on the same grouped split
    splits = {(out / f"{s}-s{k}" / "split.csv").read_text() for s in ("features", "head") for k in (0, 1)}
    assert len(splits) == 1
    saved = json.loads((out / "leaderboard.json").read_text())
    for b in saved["leaderboard"]:
        f1 = [
            json.loads((out / f"{b['name']}-s{k}" / "bundle" / "bundle.json").read_text())["metrics"]["test"][
                "macro_f1"
            ]
            for k in (0, 1)
        ]
        assert b["macro_f1_mean"] == pytest.approx(statistics.mean(f1))
        assert b["macro_f1_std"] == pytest.approx(statistics.stdev(f1))
    head = next(b for b in board if b["name"] == "head")
    features = next(b for b in board if b["name"] == "features")
    assert head["trainable_params"] == features["trainable_params"] > 0  # both train one linear layer
    assert head["ece_uncalibrated_mean"] is not None and features["ece_uncalibrated_mean"] is None
    assert "| 1 |" in (out / "leaderboard.md").read_text() and (out / "leaderboard.png").stat().st_size > 0

    stamp = (out / "head-s0" / "bundle" / "bundle.json").stat().st_mtime_ns
    again = api.compare(tiny_products, out, strategies=["features", "head"], seeds=[0, 1], **TINY)
    assert again == board  # read back from the bundles, nothing retrained
    assert (out / "head-s0" / "bundle" / "bundle.json").stat().st_mtime_ns == stamp

    with pytest.raises(BeautytuneError, match="other settings: epochs 2 \\(now 3\\)"):
        api.compare(tiny_products, out, strategies=["head"], seeds=[0], **{**TINY, "epochs": 3})


def test_compare_routes_strategy_options(tiny_products: Path, tmp_path: Path) -> None:
    with pytest.raises(BeautytuneError, match="no strategy compared has option lora_r"):
        api.compare(tiny_products, tmp_path / "c", strategies=["head"], seeds=[0], lora_r=2, **TINY)
    with pytest.raises(BeautytuneError, match="unknown strategy 'fulll'"):
        api.compare(tiny_products, tmp_path / "c", strategies=["head", "fulll"], seeds=[0], **TINY)
    assert not (tmp_path / "c").exists()


def test_cli_compare(tiny_products: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    r = run_cli(
        "compare", str(tiny_products), "--out", str(out), "--strategies", "head,lora", "--seeds", "1",
        "--lora-r", "2", "--backbone", "test_efficientnet", "--init", "random", "--image-size", "48",
        "--epochs", "1", "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "leaderboard" in r.stdout and (out / "leaderboard.md").is_file()
    cfg = json.loads((out / "lora-s0" / "config.json").read_text())
    assert cfg["strategy_options"] == {"lora_r": 2}
    assert json.loads((out / "head-s0" / "config.json").read_text())["strategy_options"] == {}
    bad = run_cli("compare", str(tiny_products), "--out", str(out), "--seeds", "x")
    assert bad.returncode != 0 and "--seeds 'x'" in bad.stderr


def test_a_tie_on_the_ranking_score_puts_the_chosen_entry_first() -> None:
    """auto's refit row comes last in its rows; a trial with the same validation score
    must not push the shipped model off the top of the leaderboard."""
    from beautytune.evaluate.leaderboard import aggregate

    def row(name: str, val: float, chosen: bool) -> dict[str, object]:
        return {
            "name": name,
            "strategy": "s",
            "backbone": "b",
            "macro_f1": 0.5,
            "accuracy": 0.5,
            "ece": None,
            "ece_uncalibrated": None,
            "wall_s": 1.0,
            "trainable_params": 1,
            "val_macro_f1": val,
            "chosen": chosen,
        }

    board = aggregate(
        [row("other", 0.8, False), row("low", 0.2, False), row("refit", 0.8, True)], "val_macro_f1"
    )
    assert [b["name"] for b in board] == ["refit", "other", "low"]
