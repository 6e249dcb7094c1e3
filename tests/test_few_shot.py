"""Few-shot: K per class drawn from the training split, the prototype classifier, the curve."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from beautytune import api
from beautytune.data.records import Record
from beautytune.data.split import UNUSED, keep_shots
from beautytune.strategies.prototype import prototype_head
from conftest import TINY


def _records() -> list[Record]:
    out = []
    for i in range(60):
        split = ("train", "train", "train", "val", "test")[i % 5]
        out.append(Record(f"/x/{i:03d}.jpg", "abc"[i % 3], f"g{i % 12}", split))
    return out


def test_keep_shots_draws_k_per_class_and_leaves_val_and_test() -> None:
    records = _records()
    kept = keep_shots(records, 2, seed=0)
    train = [r for r in kept if r.split == "train"]
    assert Counter(r.label for r in train) == {"a": 2, "b": 2, "c": 2}
    assert [r for r in kept if r.split in ("val", "test")] == [
        r for r in records if r.split in ("val", "test")
    ]
    assert sum(r.split == UNUSED for r in kept) == 36 - 6
    assert keep_shots(records, 2, seed=0) == kept  # a draw is reproducible
    assert {r.path for r in keep_shots(records, 2, seed=1) if r.split == "train"} != {r.path for r in train}
    big = keep_shots(records, 100, seed=0)  # more shots than examples: all of them
    assert sum(r.split == "train" for r in big) == 36


def test_prototype_head_is_the_cosine_nearest_centred_mean() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)) + 3.0
    y = np.arange(40) % 4
    w, b = prototype_head(x, y, 5, scale=10.0)
    q = rng.normal(size=(25, 8)) + 3.0
    m = x.mean(0)
    zn = (x - m) / np.linalg.norm(x - m, axis=1, keepdims=True)
    means = np.stack([zn[y == c].mean(0) for c in range(4)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    cos = ((q - m) / np.linalg.norm(q - m, axis=1, keepdims=True)) @ means.T
    logits = q @ w.T + b
    assert (logits.argmax(1) == cos.argmax(1)).all()
    assert (logits[:, 4] < -1e3).all()  # class 4 has no example: never predicted


def test_fit_with_shots_trains_on_k_per_class(tiny_products: Path, tmp_path: Path) -> None:
    r = api.fit(tiny_products, tmp_path / "k2", strategy="prototype", shots=2, **TINY)
    with (r.run_dir / "split.csv").open() as f:
        rows = list(csv.DictReader(f))
    train = Counter(row["label"] for row in rows if row["split"] == "train")
    assert set(train.values()) == {2} and any(row["split"] == UNUSED for row in rows)
    assert r.info["prototypes from"] == f"{2 * len(train)} training examples"
    meta = json.loads((r.bundle / "bundle.json").read_text())
    assert meta["calibration"]["method"] == "temperature scaling"  # val held out: calibrated
    # features with shots fits on the K per class only, so validation calibrates it too
    f = api.fit(tiny_products, tmp_path / "f2", strategy="features", shots=2, **TINY)
    assert json.loads((f.bundle / "bundle.json").read_text())["calibration"]


def test_compare_shots_curve(tiny_products: Path, tmp_path: Path) -> None:
    out = tmp_path / "shots"
    board = api.compare(tiny_products, out, strategies=["prototype"], seeds=[0, 1], shots=[1, 3], **TINY)
    assert {b["name"] for b in board} == {"prototype k=1", "prototype k=3"}
    assert (out / "shots.png").stat().st_size > 0 and (out / "prototype-k3-s1" / "bundle").is_dir()
    rows = json.loads((out / "leaderboard.json").read_text())["runs"]
    assert sorted({r["shots"] for r in rows}) == [1, 3]
    # draws differ by seed, the split does not
    a, b = (
        {
            x["path"]
            for x in csv.DictReader((out / f"prototype-k1-s{s}" / "split.csv").open())
            if x["split"] == "train"
        }
        for s in (0, 1)
    )
    assert a != b


def test_shots_must_be_positive(tmp_path: Path) -> None:
    from beautytune.errors import BeautytuneError

    with pytest.raises(BeautytuneError, match="--shots"):
        api.run_config("-", tmp_path, shots=0).validate()
