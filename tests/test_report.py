"""The HTML report and its artefacts, plus the atomic-write helpers they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beautytune.evaluate.metrics import compute_metrics
from beautytune.evaluate.report import format_value, worst_errors, write_report
from beautytune.io import to_jsonable, write_json_atomic

ALWAYS = ("index.html", "metrics.json", "confusion_matrix.png", "reliability.png", "worst_errors.png")


def make_images(folder: Path, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img_{i}.png"
        Image.new("RGB", (40 + i, 30), (10 * i % 255, 80, 160)).save(path)
        paths.append(str(path))
    return paths


def three_class_case(tmp_path: Path) -> dict:
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.2, 0.7, 0.1],  # wrong, 0.7
            [0.1, 0.8, 0.1],
            [0.1, 0.85, 0.05],
            [0.05, 0.05, 0.9],
            [0.6, 0.1, 0.3],  # wrong, 0.6
        ]
    )
    labels = ["lipstick", "mascara", "blush"]
    paths = make_images(tmp_path / "imgs", len(y))
    paths[5] = str(tmp_path / "imgs" / "gone.jpg")  # must become a placeholder, not a crash
    return {
        "y_true": y,
        "probs": probs,
        "labels": labels,
        "paths": paths,
        "metrics": compute_metrics(y, probs, labels),
    }


def assert_valid_pngs(out: Path) -> None:
    for png in out.glob("*.png"):
        with Image.open(png) as im:
            im.verify()


def test_full_report_writes_every_file_and_links_them(tmp_path: Path) -> None:
    case = three_class_case(tmp_path)
    history = [
        {"epoch": 0, "train_loss": 1.2, "val_loss": 1.3, "val_macro_f1": 0.4, "lr": 1e-3},
        {"epoch": 1, "train_loss": 0.8, "val_loss": 1.0, "val_macro_f1": 0.6, "lr": 5e-4},
    ]
    out = tmp_path / "report"
    index = write_report(
        out,
        **case,
        history=history,
        title="My run",
        context={"backbone": "efficientnet_lite0", "seed": 7},
        comparisons=[
            {"name": "pretrained", "macro_f1": 0.66, "accuracy": 0.7},
            {"name": "random init", "macro_f1": 0.2, "accuracy": 0.33},
        ],
        skipped=[{"path": "bad/broken.jpg", "reason": "truncated image"}],
    )
    assert index == out / "index.html"
    for name in (*ALWAYS, "learning_curves.png"):
        assert (out / name).is_file(), name
    assert_valid_pngs(out)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    html = index.read_text(encoding="utf-8")
    for png in ("confusion_matrix.png", "reliability.png", "worst_errors.png", "learning_curves.png"):
        assert f'src="{png}"' in html
    assert "My run" in html
    assert format_value(case["metrics"]["macro_f1"]) in html
    assert format_value(case["metrics"]["accuracy"]) in html
    assert "efficientnet_lite0" in html and "random init" in html
    assert "bad/broken.jpg" in html and "truncated image" in html
    assert "gone.jpg" in html  # the mistakes table lists the file behind each error

    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["macro_f1"] == pytest.approx(case["metrics"]["macro_f1"])
    assert saved["context"] == {"backbone": "efficientnet_lite0", "seed": 7}
    assert saved["per_class"]["mascara"]["support"] == 2


def test_without_history_skips_learning_curves(tmp_path: Path) -> None:
    out = tmp_path / "report"
    index = write_report(out, **three_class_case(tmp_path), history=None)
    for name in ALWAYS:
        assert (out / name).is_file(), name
    assert not (out / "learning_curves.png").exists()
    html = index.read_text(encoding="utf-8")
    assert "learning_curves.png" not in html
    assert "Skipped files" not in html and "Comparisons" not in html


def test_single_class_without_errors(tmp_path: Path) -> None:
    y = np.zeros(3, dtype=int)
    probs = np.ones((3, 1))
    metrics = compute_metrics(y, probs, ["only"])
    assert metrics["accuracy"] == 1.0 and metrics["macro_f1"] == 1.0
    out = tmp_path / "report"
    write_report(
        out,
        metrics=metrics,
        y_true=y,
        probs=probs,
        labels=["only"],
        paths=make_images(tmp_path / "imgs", 3),
        history=[],
    )
    for name in ALWAYS:
        assert (out / name).is_file(), name
    assert_valid_pngs(out)


def test_two_classes_and_hostile_label_names_are_escaped(tmp_path: Path) -> None:
    labels = ["<script>alert(1)</script>", "b & c"]
    y = np.array([0, 1, 1])
    probs = np.array([[0.3, 0.7], [0.2, 0.8], [0.4, 0.6]])
    out = tmp_path / "report"
    index = write_report(
        out,
        metrics=compute_metrics(y, probs, labels),
        y_true=y,
        probs=probs,
        labels=labels,
        paths=make_images(tmp_path / "imgs", 3),
        history=[{"epoch": 0, "train_loss": 0.7}],
    )
    html = index.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "b &amp; c" in html
    assert (out / "learning_curves.png").is_file()


def test_mismatched_paths_rejected(tmp_path: Path) -> None:
    case = three_class_case(tmp_path)
    case["paths"] = case["paths"][:-1]
    with pytest.raises(ValueError, match="differ"):
        write_report(tmp_path / "report", **case)


def test_worst_errors_most_confident_first() -> None:
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.4, 0.6], [0.95, 0.05], [0.9, 0.1], [0.3, 0.7]])
    worst = worst_errors(y, probs, ["a", "b"], ["p0", "p1", "p2", "p3"], n=5)
    assert [w["path"] for w in worst] == ["p1", "p0"]
    assert worst[0] == {"path": "p1", "true": "b", "pred": "a", "confidence": 0.95, "index": 1}
    assert worst_errors(y, probs, ["a", "b"], ["p0", "p1", "p2", "p3"], n=1)[0]["path"] == "p1"


def test_write_json_atomic_converts_numpy_and_non_finite(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    write_json_atomic(
        target,
        {
            "a": np.float32(0.5),
            "b": np.arange(3),
            "c": np.int64(4),
            "d": float("nan"),
            "e": np.bool_(True),
            "f": (1, 2),
            "g": Path("p"),
        },
    )
    assert json.loads(target.read_text(encoding="utf-8")) == {
        "a": 0.5,
        "b": [0, 1, 2],
        "c": 4,
        "d": None,
        "e": True,
        "f": [1, 2],
        "g": "p",
    }
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_failed_json_write_keeps_old_file_and_leaves_no_litter(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_json_atomic(target, {"ok": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert to_jsonable({1: {2}}) == {"1": [2]}
