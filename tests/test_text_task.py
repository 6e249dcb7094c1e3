"""Text classification through the same commands as images, on the packaged MiniLM."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from beautytune import api
from beautytune.inference.bundle import load_bundle
from conftest import run_cli

POSITIVE = [
    "Love this {p}, my skin feels amazing.",
    "Best {p} ever, so hydrating!",
    "Wonderful {p}, I repurchase it.",
]
NEGATIVE = [
    "Terrible {p}, it broke me out.",
    "Awful {p}, my face burned.",
    "Worst {p}, returned it right away.",
]
NEUTRAL = ["The {p} is okay, nothing special.", "Average {p}, it does the job.", "This {p} is fine I guess."]
PRODUCTS = ["cream", "serum", "toner", "mask", "cleanser", "balm", "oil", "gel", "lotion", "mist"]
TEXT = {"max_length": 32, "epochs": 1, "batch_size": 16, "lr": 3e-3, "backbone_lr_mult": 0.3}


def write_reviews(path: Path, n_per_product: int = 9, seed: int = 0) -> Path:
    rng = random.Random(seed)
    rows = []
    for p in PRODUCTS:
        for i in range(n_per_product):
            rating, pool = [(5, POSITIVE), (1, NEGATIVE), (3, NEUTRAL)][i % 3]
            rows.append({"text": rng.choice(pool).format(p=p) + f" ({i})", "rating": rating, "product_id": p})
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["text", "rating", "product_id"])
        w.writeheader()
        w.writerows(rows)
    return path


def text_args(csv_path: Path) -> dict[str, object]:
    return {"text_col": "text", "label_from_rating": "rating", "group_col": "product_id"}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_reviews(tmp_path_factory.mktemp("reviews") / "reviews.csv")


@pytest.fixture(scope="module")
def text_run(reviews: Path, tmp_path_factory: pytest.TempPathFactory) -> api.FitResult:
    out = tmp_path_factory.mktemp("runs") / "text"
    return api.fit(reviews, out, strategy="full", **TEXT, **text_args(reviews))  # type: ignore[arg-type]


def test_text_fit_writes_run_folder_and_baselines(text_run: api.FitResult) -> None:
    run = text_run.run_dir
    for name in (
        "config.json",
        "split.csv",
        "audit/audit.json",
        "bundle/model.safetensors",
        "bundle/encoder/tokenizer.json",
    ):
        assert (run / name).is_file(), name
    meta = json.loads((run / "bundle" / "bundle.json").read_text())
    assert meta["task"] == "text-classification" and meta["labels"] == ["negative", "neutral", "positive"]
    assert meta["processor"]["max_length"] == 32
    with (run / "split.csv").open() as f:
        rows = list(csv.DictReader(f))
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(r["group"], set()).add(r["split"])
    assert all(len(s) == 1 for s in sides.values()) and rows[0]["text"]
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    names = [c["name"] for c in metrics["comparisons"]]
    assert names[0].startswith("minilm / full")
    assert {"baseline: majority class", "baseline: VADER", "baseline: TF-IDF + LR"} <= set(names)
    html = (run / "report" / "index.html").read_text()
    assert "Most confident mistakes" in html and "worst_errors.png" not in html


def test_text_predict_matches_evaluate(text_run: api.FitResult, reviews: Path, tmp_path: Path) -> None:
    with (text_run.run_dir / "report" / "predictions.csv").open() as f:
        evaluated = list(csv.DictReader(f))
    split = {r["path"]: r["text"] for r in csv.DictReader((text_run.run_dir / "split.csv").open())}
    texts = [split[r["path"]] for r in evaluated]
    predicted = api.predict(text_run.bundle, texts)
    for p, row in zip(predicted, evaluated, strict=True):
        assert p["label"] == row["predicted"]
        for label, prob in p["probabilities"].items():
            assert prob == pytest.approx(float(row[f"p_{label}"]), abs=1e-5)
    m = api.evaluate(
        text_run.bundle, text_run.run_dir / "split.csv", tmp_path / "e", split="test", text_col="text"
    )
    assert m["macro_f1"] == pytest.approx(text_run.metrics["macro_f1"])


def test_text_cli_evaluate_audit_predict_export(
    text_run: api.FitResult, reviews: Path, tmp_path: Path
) -> None:
    cols = ["--text-col", "text", "--label-from-rating", "rating"]
    proc = run_cli("evaluate", str(text_run.bundle), str(reviews), "--out", str(tmp_path / "ev"), *cols)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert {"accuracy", "balanced_accuracy", "macro_f1", "per_class"} <= set(metrics)
    assert metrics["n"] == 90
    proc = run_cli("audit", str(reviews), "--out", str(tmp_path / "au"), *cols)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((tmp_path / "au" / "audit.json").read_text())["entries"]) == 90
    proc = run_cli("predict", str(text_run.bundle), "--text", "Love it, amazing", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["label"] in ("negative", "neutral", "positive")
    proc = run_cli("predict", str(text_run.bundle), str(reviews), "--text-col", "text", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(lines) == 90 and lines[0]["row"] == 1
    result = api.export(text_run.bundle, examples=[r["text"] for r in lines[:0]] or None)
    assert result.max_abs_diff < 1e-4 and result.input_names == ["input_ids", "attention_mask"]
    real = [x["text"] for x in lines[:6]]
    assert api.export(text_run.bundle, tmp_path / "m.onnx", examples=real).max_abs_diff < 1e-4


def test_text_bundle_loads_alone(text_run: api.FitResult, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "moved"
    shutil.copytree(text_run.bundle, copy)
    b = load_bundle(copy)
    assert b.meta.task == "text-classification"
    assert api.predict(copy, ["fine"])[0]["label"] in b.labels


@pytest.mark.parametrize("strategy", ["features", "head", "partial", "lora"])
def test_text_strategies_train_what_they_say(strategy: str, reviews: Path, tmp_path: Path) -> None:
    result = api.fit(reviews, tmp_path / strategy, strategy=strategy, **TEXT, **text_args(reviews))  # type: ignore[arg-type]
    assert load_bundle(result.bundle).meta.strategy == strategy
    keys = load_file(str(result.bundle / "model.safetensors")).keys()
    assert not any("lora" in k for k in keys)  # adapters are merged: a plain network ships
    if strategy == "features":
        # the frozen encoder + logistic regression separates these templated reviews
        assert result.metrics["macro_f1"] > 0.9
    else:
        trainable = result.info["trainable params"]
        if strategy == "head":
            assert trainable == 384 * 3 + 3
        elif strategy == "lora":
            assert 384 * 3 + 3 < trainable < 1_000_000
        else:  # partial: head + the top 2 of MiniLM's 6 layers
            assert 1_000_000 < trainable < 5_000_000


def test_bad_text_rows_are_reported_per_row(tmp_path: Path) -> None:
    path = write_reviews(tmp_path / "r.csv")
    with path.open("ab") as f:
        f.write(b'"",5,cream\n')
        f.write(b'"   ",5,cream\n')
        f.write(b'"caf\xe9 cr\xe8me tr\xe8s bien",4,cream\n')
        f.write(('"' + "long words here " * 7000 + '",5,serum\n').encode())
        f.write(b'"great stuff",five,serum\n')
    proc = run_cli(
        "audit",
        str(path),
        "--out",
        str(tmp_path / "a"),
        "--text-col",
        "text",
        "--label-from-rating",
        "rating",
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    entries = json.loads((tmp_path / "a" / "audit.json").read_text())["entries"]
    reasons = {e["row"]: (e["status"], e["reason"]) for e in entries}
    assert reasons[91] == ("error", "empty text")
    assert reasons[92][1] == "whitespace-only text"
    assert "not UTF-8" in reasons[93][1]
    assert reasons[94][0] == "warning" and "truncated at 256 tokens" in reasons[94][1]
    assert "'five' is not a number" in reasons[95][1]
    wrong = run_cli("fit", str(path), "--out", str(tmp_path / "r"), "--text-col", "review")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    last = wrong.stderr.strip().splitlines()[-1]
    assert "missing column 'review'" in last and "--text-col" in last
    assert not (tmp_path / "r").exists()


def test_unknown_text_backbone_fails_before_reading(reviews: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "fit", str(reviews), "--out", str(tmp_path / "r"), "--text-col", "text", "--backbone", "bert-huge"
    )
    assert proc.returncode == 2 and "bert-huge" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_features_probabilities_are_calibrated_enough(text_run: api.FitResult) -> None:
    probs = np.array(
        [
            [r[f"p_{lab}"] for lab in ("negative", "neutral", "positive")]
            for r in csv.DictReader((text_run.run_dir / "report" / "predictions.csv").open())
        ],
        dtype=float,
    )
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
