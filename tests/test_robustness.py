"""Seeded photo shifts and the robustness report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beautytune import api
from beautytune.errors import BeautytuneError
from beautytune.evaluate.robustness import PERTURBATIONS, SEVERITIES, perturb
from conftest import TINY, run_cli


def _photo(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    # larger than every resolution step (the shortest side goes down to 160 .. 40 px)
    base = np.linspace(40, 220, 240 * 320).reshape(240, 320)
    arr = np.stack([base, base[::-1], np.full_like(base, 128)], axis=-1) + rng.normal(0, 8, (240, 320, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("shift", list(PERTURBATIONS))
def test_each_shift_is_deterministic_and_grows_with_severity(shift: str) -> None:
    im = _photo()
    clean = np.asarray(im, dtype=np.float32)
    distances = []
    for s in SEVERITIES:
        a, b = perturb(im, shift, s, index=3), perturb(im, shift, s, index=3)
        assert np.array_equal(np.asarray(a), np.asarray(b))  # same seed, same image
        if shift == "crop":
            distances.append(1 - a.width * a.height / (im.width * im.height))
        else:
            assert a.size == im.size
            distances.append(float(np.abs(np.asarray(a, dtype=np.float32) - clean).mean()))
    assert distances[0] > 0
    assert distances[-1] > distances[0]  # severity 5 moves the photo further than severity 1


def test_unknown_severity_and_shift_are_clear_errors() -> None:
    with pytest.raises(BeautytuneError, match="severity"):
        perturb(_photo(), "blur", 9, index=0)
    with pytest.raises(BeautytuneError, match="unknown shift 'fog'"):
        perturb(_photo(), "fog", 1, index=0)


def test_robustness_report_on_a_bundle(tiny_products: Path, tmp_path: Path) -> None:
    fit = api.fit(tiny_products, tmp_path / "run", strategy="full", **{**TINY, "epochs": 1})
    out = tmp_path / "rob"
    r = run_cli(
        "robustness",
        str(fit.bundle),
        str(fit.run_dir / "split.csv"),
        "--split",
        "test",
        "--out",
        str(out),
        "--shift",
        "blur",
        "--shift",
        "JPEG quality",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "robustness.json").read_text())
    assert set(result["shifts"]) == {"blur", "JPEG quality"}
    assert set(result["shifts"]["blur"]) == {"1", "2", "3", "4", "5"}
    assert 0 <= result["clean"]["macro_f1"] <= 1
    assert (out / "robustness.png").stat().st_size > 1000
    bad = run_cli("robustness", str(fit.bundle), str(fit.run_dir / "split.csv"), "--shift", "fog")
    assert bad.returncode != 0 and "unknown shift" in bad.stderr and "Traceback" not in bad.stderr
