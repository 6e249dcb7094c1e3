"""Integration on the packaged ImageNet weights: pretrained features beat random ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beautytune import api
from beautytune.demo.synthetic import generate_products

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_products(tmp_path_factory.mktemp("p") / "data", n_per_class=16, seed=7, size=96)


def test_pretrained_features_beat_random_init(products: Path, tmp_path: Path) -> None:
    opts = {"backbone": "tf_efficientnet_lite0", "strategy": "features", "image_size": 128}
    pre = api.fit(products, tmp_path / "pre", init="pretrained", **opts)
    rnd = api.fit(products, tmp_path / "rnd", init="random", **opts)
    assert pre.metrics["macro_f1"] > rnd.metrics["macro_f1"] + 0.2, (
        pre.metrics["macro_f1"],
        rnd.metrics["macro_f1"],
    )
    assert pre.metrics["macro_f1"] > 0.5


def test_lite0_full_finetune_bundle_exports(products: Path, tmp_path: Path) -> None:
    run = api.fit(
        products,
        tmp_path / "full",
        backbone="tf_efficientnet_lite0",
        strategy="full",
        image_size=96,
        epochs=1,
        batch_size=16,
    )
    result = api.export(run.bundle)
    assert result.max_abs_diff < 1e-4


def test_demo_runs_end_to_end_and_compares(tmp_path: Path) -> None:
    result = api.demo(tmp_path / "demo", n_per_class=8, epochs=1, image_size=64, batch_size=16)
    html = result["pretrained"].report.read_text()
    assert "random" in html and "pretrained" in html  # both rows of the comparison table
    metrics = json.loads((result["pretrained"].run_dir / "report" / "metrics.json").read_text())
    names = [row["name"] for row in metrics["comparisons"]]
    assert len(names) == 2 and names[0].endswith("/ pretrained") and names[1].endswith("/ random")
