"""`auto`: an Optuna search that holds its wall-clock budget and ships the best trial."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from beautytune import api
from beautytune.auto import first_trials, native_size, search_space
from beautytune.errors import BeautytuneError
from conftest import run_cli

TINY_AUTO = {"init": "random", "epochs": 3, "batch_size": 16}


def test_auto_holds_its_budget_and_ships_the_best_on_validation(tiny_products: Path, tmp_path: Path) -> None:
    budget = 40.0
    t0 = time.perf_counter()
    result = api.auto(
        tiny_products,
        tmp_path / "auto",
        time_budget=budget,
        backbones=["test_efficientnet"],
        strategies=["features", "head", "full"],
        image_sizes=[32, 48],
        **TINY_AUTO,
    )
    wall = time.perf_counter() - t0
    assert wall <= budget * 1.1  # everything counted: audit, trials, reports, copy
    assert wall >= budget * 0.6  # and the budget is used, not left idle
    summary = json.loads((result.run_dir / "auto.json").read_text())
    finished = [t for t in summary["trials"] if t["state"] == "complete"]
    assert len(finished) >= 2
    best = max(finished, key=lambda t: t["val_macro_f1"])
    assert summary["chosen"]["trial"] == best["number"] == result.best.number  # chosen on validation
    shipped = Path(best["run"])
    if best["params"]["strategy"] == "features":  # refitted on train + val, as fit does
        assert summary["chosen"]["refit"] == "train + val"
        shipped = shipped.with_name(f"{best['number']:03d}-refit")
    chosen_bundle = json.loads((shipped / "bundle" / "bundle.json").read_text())
    assert json.loads((result.bundle / "bundle.json").read_text()) == chosen_bundle
    assert (result.run_dir / "report" / "index.html").is_file()
    board = json.loads((result.run_dir / "leaderboard.json").read_text())
    assert board["leaderboard"][0]["chosen"] and "(chosen)" in (result.run_dir / "leaderboard.md").read_text()
    # every trial used the one split made at the start
    split = (result.run_dir / "split.csv").read_text()
    assert all((Path(t["run"]) / "split.csv").read_text() == split for t in finished)
    # timed trials decay their learning rate over their own budget, not over unreached epochs
    for t in finished:
        config = json.loads((Path(t["run"]) / "config.json").read_text())
        timed = t["params"]["strategy"] != "features"
        assert (config["schedule"] == "budget") == timed and bool(config["time_budget"]) == timed


def test_auto_refuses_a_budget_too_small_and_leaves_nothing(tiny_products: Path, tmp_path: Path) -> None:
    with pytest.raises(BeautytuneError, match="no trial finished"):
        api.auto(tiny_products, tmp_path / "a", time_budget=1, backbones=["test_efficientnet"], **TINY_AUTO)
    assert not (tmp_path / "a").exists()
    with pytest.raises(BeautytuneError, match="unknown strategy"):
        api.auto(tiny_products, tmp_path / "a", time_budget=60, strategies=["nope"], **TINY_AUTO)


def test_cli_auto(tiny_products: Path, tmp_path: Path) -> None:
    out = tmp_path / "auto"
    r = run_cli(
        "auto", str(tiny_products), "--out", str(out), "--time-budget", "20s", "--backbones",
        "test_efficientnet", "--strategies", "head,features", "--image-sizes", "32", "--init", "random",
        "--epochs", "2", "--batch-size", "16",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "chosen: trial" in r.stdout and (out / "bundle" / "bundle.json").is_file()
    assert (out / "leaderboard.md").is_file() and (out / "leaderboard.json").is_file()


def test_the_search_starts_from_the_portfolio_at_the_photos_own_size() -> None:
    def entry(w: int, h: int) -> SimpleNamespace:
        return SimpleNamespace(width=w, height=h, usable=True)

    packshots = SimpleNamespace(entries=[entry(60, 80)] * 5 + [entry(300, 400)])
    assert native_size(packshots, [128, 160, 192, 224]) == 128  # no upsampling a 60 px photo to 224
    assert native_size(SimpleNamespace(entries=[entry(600, 800)]), [128, 224]) == 224
    assert native_size(SimpleNamespace(entries=[entry(150, 200)]), [128, 160, 224]) == 160
    image = first_trials(search_space("image", None, None), "image", packshots, lr=1e-3)
    assert image == [
        {"backbone": "tf_efficientnet_lite0", "strategy": "features", "image_size": 224},
        {"backbone": "tf_efficientnet_lite0", "strategy": "wise-ft", "lr": 1e-3, "image_size": 128},
    ]
    text = first_trials(search_space("text", None, None), "text", None, lr=1e-3)
    assert [t["strategy"] for t in text] == ["features", "full"] and text[1]["max_length"] == 128
    # a narrowed search keeps to what it was given
    assert first_trials(search_space("image", None, ["head", "lora"]), "image", packshots, lr=1e-3) == []
    every = {"features", "head", "partial", "full", "gradual", "llrd", "lp-ft", "wise-ft", "bitfit", "lora"}
    assert set(search_space("image", None, None)["strategy"]) == every
    assert set(search_space("text", None, None)["strategy"]) == every - {"wise-ft"}
