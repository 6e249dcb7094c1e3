"""The whole loop on a tiny random-init model: fit -> bundle -> report -> predict/evaluate/export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from beautytune import api
from beautytune.inference.bundle import load_bundle
from conftest import TINY, run_cli


def _start_state(num_classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The weights a TINY fit starts from: fit seeds, then builds (checked by the head test)."""
    import lightning as L

    from beautytune.models.network import build_classifier
    from beautytune.models.registry import get_spec

    L.seed_everything(seed, verbose=False)
    model, _ = build_classifier(get_spec("test_efficientnet"), num_classes, init="random")
    return {k: v.clone() for k, v in model.state_dict().items()}


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
    assert "val/test predictions" not in tiny_run.info  # full moved the backbone: every photo again
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


def _test_paths(run: api.FitResult) -> list[str]:
    with (run.run_dir / "split.csv").open() as f:
        return [r["path"] for r in csv.DictReader(f) if r["split"] == "test"]


@pytest.mark.parametrize("method", ["static", "dynamic"])
def test_onnx_int8_export(tiny_run: api.FitResult, tmp_path: Path, method: str) -> None:
    import onnx
    import onnxruntime as ort

    from beautytune.inference.export import quantize_int8

    examples = _test_paths(tiny_run)
    result = api.export(tiny_run.bundle, tmp_path / "model.onnx", examples)
    bundle = load_bundle(tiny_run.bundle)
    feed = {"image": bundle.task.export_spec(bundle.processor, examples).args[0].numpy()}
    q = quantize_int8(result.path, feed, method=method)
    assert q.path == tmp_path / "model.int8.onnx" and q.method == method
    graph = onnx.load(str(q.path)).graph
    ops = {n.op_type for n in graph.node}
    assert ops & {"QuantizeLinear", "DynamicQuantizeLinear"}, ops  # really quantised
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)  # int8 weights
    fp32 = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    int8 = ort.InferenceSession(str(q.path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    agree = float(np.mean(fp32.argmax(1) == int8.argmax(1)))
    assert agree >= 0.75
    assert q.top1_agreement == pytest.approx(agree)
    assert q.max_abs_diff == pytest.approx(float(np.abs(fp32 - int8).max()), abs=1e-6)
    assert 0 < q.size_bytes and q.fp32_size_bytes == result.path.stat().st_size
    assert not list(tmp_path.glob(".*"))  # no temp files left beside the models


def test_onnx_export_int8_cli(tiny_run: api.FitResult, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    r = run_cli("export", str(tiny_run.bundle), "--out", str(out), "--int8")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m.int8.onnx").is_file()
    assert "m.int8.onnx (static int8" in r.stdout and "top-1 agreement" in r.stdout


def test_onnx_int8_failure_is_one_line(tmp_path: Path) -> None:
    from beautytune.errors import BeautytuneError
    from beautytune.inference.export import quantize_int8

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(BeautytuneError, match="int8 quantisation of .*model.onnx failed") as e:
        quantize_int8(bad, {"image": np.zeros((1, 3, 8, 8), np.float32)})
    assert "\n" not in str(e.value)
    assert not (tmp_path / "model.int8.onnx").exists()


def test_onnx_speed_functions(tiny_run: api.FitResult, tmp_path: Path) -> None:
    import time

    from beautytune.inference.speed import (
        eager_runner,
        example_batch,
        latency_and_throughput,
        onnx_runner,
    )

    bundle = load_bundle(tiny_run.bundle)
    path = api.export(tiny_run.bundle, tmp_path / "new" / "model.onnx").path  # makes the folder
    make = lambda n: example_batch(bundle, n)  # noqa: E731
    assert make(5)[0].shape == (5, 3, 48, 48)
    eager, onnx = eager_runner(bundle, threads=1), onnx_runner(path, threads=1)
    np.testing.assert_allclose(eager(make(3)), onnx(make(3)), atol=1e-4)
    keys = {"latency_ms", "latency_p90_ms", "throughput_per_s", "batch_size", "repeats"}
    for run in (eager, onnx):
        r = latency_and_throughput(run, make, batch_size=4, warmup=1, repeats=3, throughput_repeats=2)
        assert set(r) == keys
        assert r["latency_ms"] > 0 and r["latency_p90_ms"] >= r["latency_ms"] and r["throughput_per_s"] > 0

    def sleepy(batch: tuple[np.ndarray, ...]) -> None:  # 10 ms a call, 1 ms an input
        time.sleep(0.01 + 0.001 * len(batch[0]))

    r = latency_and_throughput(sleepy, make, batch_size=20, warmup=0, repeats=5, throughput_repeats=3)
    assert 10 <= r["latency_ms"] < 30
    assert 200 < r["throughput_per_s"] <= 20 / 0.03  # 20 inputs in >= 30 ms


def test_evaluate_onnx_matches_predictor(tiny_run: api.FitResult, tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from beautytune.data.records import by_split
    from beautytune.inference.export import evaluate_onnx
    from beautytune.inference.predictor import Predictor
    from beautytune.train.rundir import RunDir

    test = by_split(RunDir(tiny_run.run_dir).read_split(), "test")
    path = api.export(tiny_run.bundle, tmp_path / "model.onnx").path
    got = evaluate_onnx(tiny_run.bundle, path, test, batch_size=5)
    predictor = Predictor.from_bundle(tiny_run.bundle)
    probs, _ = predictor.predict_probs([r.path for r in test])
    y = [predictor.labels.index(r.label) for r in test]
    assert got["n"] == len(test) and got["skipped"] == 0
    assert got["accuracy"] == pytest.approx(accuracy_score(y, probs.argmax(1)), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(f1_score(y, probs.argmax(1), average="macro"), abs=1e-6)


def test_bundle_loads_without_training_data(tiny_run: api.FitResult, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "moved_bundle"
    shutil.copytree(tiny_run.bundle, copy)
    b = load_bundle(copy)
    assert b.labels == json.loads((copy / "bundle.json").read_text())["labels"]


@pytest.mark.parametrize("strategy", ["head", "partial", "features"])
def test_other_strategies_run(strategy: str, tiny_products: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from beautytune.models.network import build_classifier
    from beautytune.models.registry import get_spec

    opts = {**TINY, "epochs": 1}
    result = api.fit(tiny_products, tmp_path / strategy, strategy=strategy, **opts)
    bundle = load_bundle(result.bundle)
    assert bundle.meta.strategy == strategy
    start = _start_state(len(bundle.labels))
    final = load_file(str(result.bundle / "model.safetensors"))
    changed = {k for k in start if not torch.equal(start[k], final[k])}
    assert {"head.fc.weight", "head.fc.bias"} <= changed  # every strategy fits the head
    fresh, _ = build_classifier(get_spec("test_efficientnet"), len(bundle.labels), init="random")
    head = sum(p.numel() for p in fresh.head.parameters())
    if strategy == "head":
        # Without set_trainable(backbone, False) the backbone would train: count and weights.
        assert result.info["trainable params"] == head
        assert not any(k.startswith("backbone.") for k in changed)  # BN statistics included
    elif strategy == "partial":
        # Without the freeze / unfreeze_blocks=2 the count would be everything or the head alone.
        top2 = sum(p.numel() for g in fresh.layer_groups()[-2:] for p in g)
        assert result.info["trainable params"] == head + top2
        assert any(k.startswith("backbone.") for k in changed)
    else:
        # features: the backbone stays as built and the logistic-regression head separates
        # what it was fitted on (train+val). Measured: train macro-F1 1.0 for seeds 0-2,
        # whereas an unfitted head scores ~1/9; the test split's F1 (14 images, random-init
        # features: 0.04-0.13) does not reliably beat chance, so it is not asserted.
        assert not any(k.startswith("backbone.") for k in changed)
        m = api.evaluate(result.bundle, result.run_dir / "split.csv", tmp_path / "eval", split="train")
        assert m["macro_f1"] > 0.9


@pytest.mark.parametrize("strategy", ["gradual", "llrd", "lp-ft", "wise-ft", "bitfit", "lora"])
def test_new_strategies_fit_end_to_end(strategy: str, tiny_products: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    opts = {**TINY, "epochs": 2, "patience": 10}
    if strategy == "gradual":
        opts.update(head_epochs=1)
    result = api.fit(tiny_products, tmp_path / strategy, strategy=strategy, **opts)
    bundle = load_bundle(result.bundle)
    assert bundle.meta.strategy == strategy
    start = _start_state(len(bundle.labels))
    final = load_file(str(result.bundle / "model.safetensors"))
    assert set(final) == set(start)  # adapters merged: a plain network again
    changed = {k for k in start if not torch.equal(start[k], final[k])}
    assert {"head.fc.weight", "head.fc.bias"} <= changed
    share = float(result.info["trainable share"].rstrip("%"))
    if strategy in ("bitfit", "lora"):
        assert 0 < share < 30  # a small part of the network
        kernels = {k for k, v in start.items() if k.startswith("backbone.") and v.ndim == 4}
        assert (kernels & changed) if strategy == "lora" else not (kernels & changed)
    elif strategy == "gradual":
        # head alone in epoch 1, the top group joins in epoch 2 (the bundle holds the best
        # epoch, which may be the first: the last checkpoint shows the end of epoch 2)
        assert 0 < share < 100
        ckpt = torch.load(result.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
        # last.ckpt is the end of the last epoch even when that epoch did not improve
        # (Lightning's save_last skips those; resume would go back in time)
        assert ckpt["epoch"] == 1
        last = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        moved = {k for k, v in last.items() if not torch.equal(v, start[k])}
        assert not {k for k in moved if k.startswith("backbone.conv_stem")}
        assert {k for k in moved if k.startswith("backbone.")}
    else:
        assert share == 100.0  # every layer trains
    if strategy == "wise-ft":
        assert 0.0 <= result.info["wise-ft alpha"] <= 1.0
        assert (result.report.parent / "curve_0.png").is_file()
        assert "WiSE-FT" in result.report.read_text()
    assert 0 <= result.metrics["macro_f1"] <= 1


def test_features_strategy_reuses_cache(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beautytune.data import cache

    calls = []
    real = cache.save_features
    monkeypatch.setattr(cache, "save_features", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = api.fit(tiny_products, tmp_path / "a", strategy="features", **TINY)
    assert len(calls) == 2  # train + val (fitted on), test (scored on)
    second = api.fit(tiny_products, tmp_path / "b", strategy="features", **TINY)
    assert len(calls) == 2  # the second run read the cache
    assert second.metrics["macro_f1"] == pytest.approx(first.metrics["macro_f1"])


def test_time_budget_stops_and_still_evaluates(tiny_products: Path, tmp_path: Path) -> None:
    # patience=10_000: early stopping cannot end the run, so only the Timer can stop it before
    # epoch 1000. Measured ~20 epochs in 3 s here and over 50 on CI's machine, so 1000 leaves a
    # wide margin on any machine; a broken Timer would show as a slow run that then fails.
    opts = {**TINY, "epochs": 1000, "patience": 10_000}
    result = api.fit(tiny_products, tmp_path / "budget", strategy="full", time_budget="3s", **opts)
    assert result.info["stopped by time budget"] is True
    assert result.info["stopped early"] is False
    history = json.loads((result.run_dir / "history.json").read_text())
    assert 1 <= len(history) < 1000 and result.info["epochs run"] < 1000
    assert (result.run_dir / "report" / "metrics.json").is_file()
    assert (result.run_dir / "report" / "index.html").is_file()


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


def _format_1(meta: dict[str, object]) -> dict[str, object]:
    """bundle.json as beautytune 0.1 wrote it: "preprocess", no "task" / "modality"."""
    old = {k: v for k, v in meta.items() if k not in ("task", "modality", "processor")}
    return {**old, "preprocess": meta["processor"], "format_version": 1}


def test_format_1_bundle_still_loads(tiny_run: api.FitResult, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old_bundle"
    shutil.copytree(tiny_run.bundle, old)
    meta = json.loads((old / "bundle.json").read_text())
    (old / "bundle.json").write_text(json.dumps(_format_1(meta)))
    # Without the version-1 branch of BundleMeta.from_dict this raises "lacks 'processor'".
    b = load_bundle(old)
    assert b.meta.task == "image-classification" and b.meta.modality == "image"
    assert b.meta.processor == meta["processor"] and b.labels == meta["labels"]
    rows = list(csv.DictReader((tiny_run.run_dir / "split.csv").open()))[:4]
    paths = [r["path"] for r in rows]
    new_preds, old_preds = api.predict(tiny_run.bundle, paths), api.predict(old, paths)
    for n, o in zip(new_preds, old_preds, strict=True):
        assert o["label"] == n["label"]
        for label, prob in n["probabilities"].items():
            assert o["probabilities"][label] == pytest.approx(prob, abs=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task": "video-classification"}, "'video-classification' bundle"),
        ({"format_version": 99}, "format_version 99"),
    ],
)
def test_unloadable_bundle_gives_one_line(
    tiny_run: api.FitResult, tmp_path: Path, change: dict[str, object], message: str
) -> None:
    import shutil

    from beautytune.errors import BundleError

    copy = tmp_path / "bundle"
    shutil.copytree(tiny_run.bundle, copy)
    meta = json.loads((copy / "bundle.json").read_text())
    (copy / "bundle.json").write_text(json.dumps({**meta, **change}))
    with pytest.raises(BundleError) as err:
        load_bundle(copy)
    assert message in str(err.value) and "upgrade beautytune" in str(err.value)
    assert "\n" not in str(err.value)


def test_exchange_paths_swaps_two_folders(tmp_path: Path) -> None:
    from beautytune.io import exchange_paths

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "new.txt").write_text("new")
    (b / "old.txt").write_text("old")
    (b / "sub").mkdir()
    (b / "sub" / "deep.txt").write_text("deep")
    exchange_paths(a, b)  # a broken swap (a rename only, a copy) leaves a or b wrong
    assert sorted(p.name for p in b.iterdir()) == ["new.txt"]
    assert (b / "new.txt").read_text() == "new"
    assert sorted(p.name for p in a.iterdir()) == ["old.txt", "sub"]
    assert (a / "sub" / "deep.txt").read_text() == "deep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no "a.old" left over


def test_save_bundle_replaces_an_existing_bundle(tiny_run: api.FitResult, tmp_path: Path) -> None:
    import shutil

    from safetensors.torch import load_file

    from beautytune.inference.bundle import save_bundle

    place = tmp_path / "place"
    place.mkdir()
    target = place / "bundle"
    shutil.copytree(tiny_run.bundle, target)
    b = load_bundle(target)
    with torch.no_grad():
        b.model.fc.weight.add_(1.0)
    expected = b.model.fc.weight.detach().clone()
    save_bundle(target, b.model, b.meta, b.task, b.processor)
    # The swap leaves the old bundle in the temp folder, which must then be removed.
    assert [p.name for p in place.iterdir()] == ["bundle"], list(place.iterdir())
    assert torch.equal(load_file(str(target / "model.safetensors"))["head.fc.weight"], expected)
    again = load_bundle(target)
    assert torch.equal(again.model.fc.weight, expected) and again.labels == b.labels


def test_backbone_is_checked_before_the_audit(
    tiny_products: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beautytune.errors import BeautytuneError, WeightsError

    calls: list[object] = []

    def audit_records(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise AssertionError("the audit ran before the backbone was checked")

    # The name ImageClassification.audit calls: if check_backbone moved after the audit,
    # this AssertionError (not the BeautytuneError) would end the fit.
    monkeypatch.setattr("beautytune.tasks.image_classification.audit_records", audit_records)
    opts = {**TINY, "backbone": "no_such_net"}
    with pytest.raises(BeautytuneError, match="unknown backbone 'no_such_net'"):
        api.fit(tiny_products, tmp_path / "r1", **opts)
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(WeightsError, match="missing.safetensors not found"):
        api.fit(tiny_products, tmp_path / "r2", **{**TINY, "weights": str(missing)})
    assert calls == []
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


@pytest.mark.parametrize("strategy", ["features", "head"])
def test_a_frozen_backbones_report_from_cached_features_matches_predict(
    strategy: str, tiny_products: Path, tmp_path: Path
) -> None:
    """fit scores a frozen backbone's validation and test photos from the feature cache;
    the report must say what ``predict`` (every photo through the whole network) says."""
    result = api.fit(tiny_products, tmp_path / strategy, strategy=strategy, **{**TINY, "augment": "none"})
    with (result.run_dir / "report" / "predictions.csv").open() as f:
        reported = {r["path"]: r for r in csv.DictReader(f)}
    assert len(reported) == result.metrics["n"] > 5
    assert "cached features" in result.info["val/test predictions"]
    for p in api.predict(result.bundle, sorted(reported)):
        for label, prob in p["probabilities"].items():
            assert prob == pytest.approx(float(reported[p["path"]][f"p_{label}"]), abs=1e-5)
    if strategy == "head":  # calibrated on validation features: a temperature was fitted
        assert load_bundle(result.bundle).meta.calibration.get("temperature") is not None
