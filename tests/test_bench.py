"""`beautytune bench`: both sides measured in one run, written as JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_bench_measures_both_sides_and_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    r = run_cli(
        "bench",
        "--out",
        str(out),
        "--backbone",
        "test_efficientnet",
        "--image-size",
        "48",
        "--photos-per-class",
        "6",
        "--photo-side",
        "96",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--no-busy",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((out / "bench.json").read_text())
    t = result["training"]
    assert len(t["beautytune_epochs"]) == len(t["plain_epochs"]) == 2
    assert t["plain_epochs"][0][0] == 6 * 9 // 8 * 8  # every photo, last partial batch dropped
    assert 0 < t["beautytune_epochs"][0][0] < 6 * 9  # the training split only
    for side in ("beautytune_img_s", "plain_img_s"):
        assert t[side] > 0 and result["inference"][side] > 0
    assert t["ratio"] == pytest.approx(t["beautytune_img_s"] / t["plain_img_s"], rel=0.02)
    assert result["caches"]["features_cold_s"] > 0 and result["caches"]["head_speedup"] > 0
    serving = result["serving"]
    eager, fp32 = serving["eager PyTorch"], serving["ONNX Runtime fp32"]
    assert fp32["accuracy"] == pytest.approx(eager["accuracy"], abs=1e-9)  # the same model
    assert any(k.startswith("ONNX Runtime int8") for k in serving)
    assert all(r["latency_ms"] > 0 for r in serving.values() if isinstance(r, dict))
    md = (out / "bench.md").read_text()
    assert "| training img/s, later epochs |" in md and "plain timm + ImageFolder" in md
    again = run_cli("bench", "--out", str(out), "--no-busy", "--no-onnx")
    assert again.returncode != 0 and "is not empty" in again.stderr
