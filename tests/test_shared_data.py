"""Checks on the real shared datasets; skipped cleanly when ../shared is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from beautytune import api
from beautytune.data.audit import audit_records
from beautytune.data.records import class_names
from beautytune.data.sources import load_records
from beautytune.data.split import split_records
from conftest import shared_dataset

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("name", ["skincare_products", "skin_type", "makeup"])
def test_grouped_split_never_shares_a_group(name: str) -> None:
    records = load_records(shared_dataset(name) / "manifest.csv")
    report = audit_records(records)
    assert report.summary["error"] == 0
    split = split_records(report.usable(), seed=0)
    sides: dict[str, set[str]] = {}
    for r in split:
        sides.setdefault(r.group, set()).add(r.split or "")
    assert all(len(s) == 1 for s in sides.values())
    assert set(class_names([r for r in split if r.split == "train"])) == set(class_names(split))
    assert split_records(report.usable(), seed=0) == split  # deterministic by seed


@pytest.mark.weights
def test_skincare_features_lite0(tmp_path: Path) -> None:
    data = shared_dataset("skincare_products") / "manifest.csv"
    run = api.fit(
        data, tmp_path / "run", backbone="tf_efficientnet_lite0", strategy="features", image_size=128
    )
    # 16 imbalanced classes, unseen brands at test time: chance macro-F1 is about 0.06.
    assert run.metrics["macro_f1"] > 0.2
    assert len(run.metrics["per_class"]) == 16
