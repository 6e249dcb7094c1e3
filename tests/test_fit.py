"""The whole loop on a tiny random-init model: fit -> bundle -> report -> predict/evaluate/export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from beautytune import api
from beautytune.inference.bundle import load_bundle
from conftest import TINY, run_cli


@pytest.fixture(scope="module")
def tiny_run(tiny_products: Path, tmp_path_factory: pytest.TempPathFactory) -> api.FitResult:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return api.fit(tiny_products, out, strategy="full", **TINY)


def test_fit_writes_run_folder(tiny_run: api.FitResult) -> None:
    run = tiny_run.run_dir
    for name in (
        "config.json",
        "split.csv",
        "history.json",
        "audit/audit.json",
        "bundle/model.safetensors",
        "bundle/bundle.json",
        "report/metrics.json",
        "report/index.html",
        "report/confusion_matrix.png",
        "report/learning_curves.png",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "per_class", "ece"):
        assert key in metrics
    history = json.loads((run / "history.json").read_text())
    assert [int(r["epoch"]) for r in history] == [0, 1]
    meta = json.loads((run / "bundle" / "bundle.json").read_text())
    assert meta["backbone"] == "test_efficientnet"
    assert meta["processor"]["input_size"] == 48 and meta["task"] == "image-classification"
    assert meta["metrics"]["test"]["macro_f1"] == pytest.approx(metrics["macro_f1"])


def test_split_keeps_groups_apart(tiny_run: api.FitResult) -> None:
    with (tiny_run.run_dir / "split.csv").open() as f:
        rows = list(csv.DictReader(f))
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values())
    assert {r["split"] for r in rows} == {"train", "val", "test"}


def test_predict_matches_evaluate(tiny_run: api.FitResult, tmp_path: Path) -> None:
    with (tiny_run.run_dir / "report" / "predictions.csv").open() as f:
        evaluated = {r["path"]: r for r in csv.DictReader(f)}
    paths = sorted(evaluated)[:7]
    predicted = api.predict(tiny_run.bundle, paths, top_k=3)
    for p in predicted:
        row = evaluated[p["path"]]
        assert p["label"] == row["predicted"]
        assert p["confidence"] == pytest.approx(float(row["confidence"]), abs=1e-5)
        for label, prob in p["probabilities"].items():
            assert prob == pytest.approx(float(row[f"p_{label}"]), abs=1e-5)
    # evaluate on the run's own test split gives the same numbers as fit's test report
    m = api.evaluate(tiny_run.bundle, tiny_run.run_dir / "split.csv", tmp_path / "eval", split="test")
    assert m["macro_f1"] == pytest.approx(tiny_run.metrics["macro_f1"])
    assert m["n"] == tiny_run.metrics["n"]
    assert (tmp_path / "eval" / "metrics.json").is_file() and (tmp_path / "eval" / "index.html").is_file()


def test_predict_reports_bad_files_and_goes_on(tiny_run: api.FitResult, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    img = next(iter(json.loads((tiny_run.run_dir / "audit" / "audit.json").read_text())["entries"]))["path"]
    results = api.predict(tiny_run.bundle, [str(bad), img, str(tmp_path / "missing.png")])
    assert "error" in results[0] and "not an image" in results[0]["error"]
    assert "label" in results[1]
    assert "error" in results[2]


def test_onnx_export_parity(tiny_run: api.FitResult) -> None:
    result = api.export(tiny_run.bundle)
    assert result.path.is_file()
    assert result.max_abs_diff < 1e-4


def test_bundle_loads_without_training_data(tiny_run: api.FitResult, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "moved_bundle"
    shutil.copytree(tiny_run.bundle, copy)
    b = load_bundle(copy)
    assert b.labels == json.loads((copy / "bundle.json").read_text())["labels"]


@pytest.mark.parametrize("strategy", ["head", "partial", "features"])
def test_other_strategies_run(strategy: str, tiny_products: Path, tmp_path: Path) -> None:
    opts = {**TINY, "epochs": 1}
    result = api.fit(tiny_products, tmp_path / strategy, strategy=strategy, **opts)
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0
    assert load_bundle(result.bundle).meta.strategy == strategy


def test_features_strategy_reuses_cache(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beautytune.data import cache

    calls = []
    real = cache.save_features
    monkeypatch.setattr(cache, "save_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = api.fit(tiny_products, tmp_path / "a", strategy="features", **TINY)
    second = api.fit(tiny_products, tmp_path / "b", strategy="features", **TINY)
    assert len(calls) == 1  # the second run read the cache
    assert second.metrics["macro_f1"] == pytest.approx(first.metrics["macro_f1"])


def test_time_budget_stops_and_still_evaluates(tiny_products: Path, tmp_path: Path) -> None:
    opts = {**TINY, "epochs": 50}
    result = api.fit(tiny_products, tmp_path / "budget", strategy="full", time_budget="3s", **opts)
    history = json.loads((result.run_dir / "history.json").read_text())
    assert len(history) < 50
    assert (result.run_dir / "report" / "metrics.json").is_file()


def test_cli_bad_input_gives_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    from PIL import Image

    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for label, n in (("lipstick", 6), ("mascara", 2)):
        (data / label).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(data / label / f"{i}.png")
    out = tmp_path / "run"
    proc = run_cli("fit", str(data), "--out", str(out), "--backbone", "test_efficientnet", "--init", "random")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: too few images") and "mascara=2" in lines[-1]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_unknown_backbone_and_missing_weights(tmp_path: Path, tiny_products: Path) -> None:
    proc = run_cli("fit", str(tiny_products), "--out", str(tmp_path / "r"), "--backbone", "no_such_net")
    assert proc.returncode == 2 and "unknown backbone 'no_such_net'" in proc.stderr
    proc = run_cli("fit", str(tiny_products), "--out", str(tmp_path / "r"), "--backbone", "mobilenet_v2")
    assert proc.returncode == 2 and "--weights PATH" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_cli_refuses_existing_run_without_resume(tiny_run: api.FitResult, tiny_products: Path) -> None:
    proc = run_cli("fit", str(tiny_products), "--out", str(tiny_run.run_dir))
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_cli_predict_json(tiny_run: api.FitResult) -> None:
    rows = [r for r in csv.DictReader((tiny_run.run_dir / "split.csv").open())][:3]
    proc = run_cli("predict", str(tiny_run.bundle), *[r["path"] for r in rows], "--json", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 3 and all(len(o["top_k"]) == 2 for o in objs)
    assert all(sum(o["probabilities"].values()) == pytest.approx(1.0, abs=1e-5) for o in objs)


def test_class_with_only_broken_files_is_named(tiny_products: Path, tmp_path: Path) -> None:
    from beautytune.errors import DataError

    manifest = tmp_path / "m.csv"
    rows = tiny_products.read_text().splitlines()
    (tmp_path / "bad.jpg").write_text("not an image")
    base = tiny_products.parent
    lines = [rows[0]] + [f"{base / r.split(',')[0]},{','.join(r.split(',')[1:])}" for r in rows[1:]]
    lines.append(f"{tmp_path / 'bad.jpg'},serum_ampoule,brand_x")
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="serum_ampoule have no usable images"):
        api.fit(manifest, tmp_path / "run", **TINY)
    assert not (tmp_path / "run").exists()
