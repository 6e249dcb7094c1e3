"""Greedy soup: weights averaged exactly, a candidate kept only when validation holds, an
incompatible run passed over, and `auto --soup` holding its budget."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from beautytune import api
from beautytune.data.records import Record, by_split
from beautytune.train.rundir import RunDir
from beautytune.train.soup import _average, greedy_soup
from conftest import TINY


def test_average_is_the_mean_of_float_weights_and_keeps_counters() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    soup = _average([a, b])
    assert torch.equal(soup["w"], torch.tensor([2.0, 4.0]))
    assert soup["n"].item() == 3  # counters are the first (best) run's, not averaged


@pytest.fixture(scope="module")
def runs(tiny_products: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("soup")
    best = api.fit(tiny_products, root / "best", **{**TINY, "strategy": "features"}).run_dir
    twin = root / "twin"  # the same weights: averaging changes nothing, so it is kept
    shutil.copytree(best, twin)
    spoiler = root / "spoiler"  # same shapes, head reversed: averaged in, it ruins validation
    shutil.copytree(best, spoiler)
    weights = spoiler / "bundle" / "model.safetensors"
    state = load_file(str(weights))
    for key in [k for k in state if k.startswith("head.")]:
        state[key] = -1000.0 * state[key]
    save_file(state, str(weights))
    other = api.fit(
        tiny_products, root / "other", **{**TINY, "strategy": "head", "epochs": 1, "head_hidden": (16,)}
    )
    return {"best": best, "twin": twin, "spoiler": spoiler, "other": other.run_dir}


def _val_f1(run: Path, val: list[Record]) -> float:
    from beautytune.evaluate.evaluate import macro_f1_of
    from beautytune.inference.predictor import Predictor

    start = Predictor.from_bundle(run / "bundle")
    start.temperature = 1.0
    return macro_f1_of(start, val)


def test_greedy_soup_keeps_what_holds_validation_and_skips_other_models(runs: dict[str, Path]) -> None:
    val = by_split(RunDir(runs["best"]).read_split(), "val")
    best_f1 = _val_f1(runs["best"], val)
    assert best_f1 > 0.3  # the reversed head can only hurt a model that has learnt something
    made = greedy_soup([runs["best"], runs["spoiler"], runs["twin"], runs["other"]], val, best_f1)
    kept = {Path(t["run"]).name: t for t in made.tried}
    assert not kept["spoiler"]["kept"] and kept["spoiler"]["val_macro_f1"] < best_f1
    assert kept["twin"]["kept"]
    assert not kept["other"]["kept"] and kept["other"]["why"] == "another head"
    assert [p.name for p in made.ingredients] == ["best", "twin"]
    # the soup of two identical runs is that run
    original = load_file(str(runs["best"] / "bundle" / "model.safetensors"))
    soup = made.bundle.model.state_dict()
    assert all(torch.allclose(soup[k].float(), v.float()) for k, v in original.items())
    assert made.val_macro_f1 == pytest.approx(best_f1)


def test_a_deadline_stops_trying_candidates(runs: dict[str, Path]) -> None:
    val = by_split(RunDir(runs["best"]).read_split(), "val")
    made = greedy_soup([runs["best"], runs["twin"]], val, 0.0, deadline=time.perf_counter())
    assert made.tried == [{"run": str(runs["twin"]), "kept": False, "why": "out of time"}]
    assert not made.improved


def test_auto_with_soup_holds_its_budget(tiny_products: Path, tmp_path: Path) -> None:
    budget = 30.0
    t0 = time.perf_counter()
    result = api.auto(
        tiny_products,
        tmp_path / "auto",
        time_budget=budget,
        backbones=["test_efficientnet"],
        strategies=["head"],
        image_sizes=[48],
        soup=True,
        init="random",
        epochs=2,
        batch_size=16,
    )
    assert time.perf_counter() - t0 <= budget * 1.1
    summary = json.loads((result.run_dir / "auto.json").read_text())
    meta = json.loads((result.bundle / "bundle.json").read_text())
    assert len(summary["soup"]["tried"]) == sum(t.state == "complete" for t in result.trials) - 1
    if result.soup:  # the soup beat the best trial on validation and ships, with its own report
        assert meta["strategy"] == "soup" and meta["metrics"]["soup"] == result.soup
        assert summary["soup"]["val_macro_f1"] > result.best.val_macro_f1
        assert meta["calibration"]["temperature"] > 0
    else:  # otherwise the best trial ships unchanged
        assert meta == json.loads((Path(result.best.run or "") / "bundle" / "bundle.json").read_text())
    assert (result.run_dir / "report" / "index.html").is_file()


def test_a_shipped_soup_is_an_ordinary_calibrated_bundle_with_a_report(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    from beautytune.auto import ship_soup
    from beautytune.inference.predictor import Predictor

    records = RunDir(runs["best"]).read_split()
    val = by_split(records, "val")
    made = greedy_soup([runs["best"], runs["twin"]], val, _val_f1(runs["best"], val))
    run = RunDir(tmp_path / "run")
    row = ship_soup(made, records, run, "data.csv")
    meta = json.loads((run.bundle / "bundle.json").read_text())
    assert meta["strategy"] == "soup" and meta["metrics"]["soup"] == ["best", "twin"]
    assert meta["calibration"]["temperature"] > 0 and (run.report / "index.html").is_file()
    assert row["chosen"] and row["macro_f1"] == meta["metrics"]["test"]["macro_f1"]
    probs, _ = Predictor.from_bundle(run.bundle).predict_probs(
        [r.path for r in by_split(records, "test")[:3]]
    )
    assert probs.shape == (3, len(meta["labels"]))
