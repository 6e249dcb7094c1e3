"""Test-time augmentation: averaged views, its cost reported, refused where it has no meaning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beautytune import api
from beautytune.errors import BeautytuneError
from beautytune.inference.predictor import Predictor
from beautytune.tasks import get_task
from conftest import TINY, run_cli


@pytest.fixture(scope="module")
def bundle(tiny_products: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tta") / "run"
    return api.fit(tiny_products, out, strategy="full", calibrate=False, **{**TINY, "epochs": 1}).bundle


def test_flip_averages_the_photo_and_its_mirror(bundle: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (54, 54, 3), dtype=np.uint8))  # resize 54, crop 48
    mirror = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    plain = Predictor.from_bundle(bundle)
    p, _ = plain.predict_probs([photo, mirror])
    t, _ = Predictor.from_bundle(bundle, tta="flip").predict_probs([photo])
    assert np.allclose(t[0], (p[0] + p[1]) / 2, atol=1e-5)
    views = get_task("image-classification").tta_views(
        plain.task.prepare_input(photo, plain.processor), "crops"
    )
    assert len(views) == 6 and all(v.shape == views[0].shape for v in views)


def test_evaluate_reports_tta_and_its_cost(bundle: Path, tmp_path: Path) -> None:
    split = bundle.parent / "split.csv"
    r = run_cli(
        "evaluate", str(bundle), str(split), "--split", "test", "--tta", "crops", "--out", str(tmp_path / "e")
    )
    assert r.returncode == 0, r.stderr
    assert "tta crops" in r.stdout
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["tta"] == "crops" and m["predict_seconds"] > 0
    assert m["context"]["test-time augmentation"] == "crops"


def test_unknown_or_meaningless_tta_is_one_clear_error(bundle: Path) -> None:
    with pytest.raises(BeautytuneError, match="unknown --tta 'rotate'"):
        Predictor.from_bundle(bundle, tta="rotate")
    text = get_task("text-classification")
    with pytest.raises(BeautytuneError, match="no test-time augmentation"):
        Predictor(text, None, None, ["a"], tta="flip")  # type: ignore[arg-type]
