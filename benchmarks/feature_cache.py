"""What the caches save, end to end: `beautytune fit` timed as a user runs it, cold and warm.

On ../shared/datasets/skincare_products with tf_efficientnet_lite0 (the defaults), each run a
fresh `beautytune fit` process, wall clock from start to exit (audit, split, training,
calibration, report, bundle):

- `features` with an empty cache (BEAUTYTUNE_CACHE a new folder), then again on the same data;
- 10 epochs (no early stop) of `head --augment none` on features computed once: with an empty cache, and with
  the cache the `features` runs filled;
- the same 10 epochs with `--no-cache-features` (the backbone runs on every batch, as any
  augmentation forces), with an empty cache.

Prints the table and the ratios, writes JSON. Usage (alone on the machine; ~6 minutes on 2 cores):

    uv run python benchmarks/feature_cache.py --out runs/feature_cache
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skincare_products" / "manifest.csv"
HEAD = ["--strategy", "head", "--epochs", "10", "--patience", "10", "--augment", "none"]


def fit(out: Path, cache: Path, *flags: str) -> dict[str, object]:
    env = {**os.environ, "BEAUTYTUNE_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "beautytune.cli", "fit", str(DATA), "--out", str(out), *flags],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    metrics = json.loads((out / "bundle" / "bundle.json").read_text())["metrics"]["test"]
    return {"wall_s": round(wall, 1), "test_macro_f1": round(float(metrics["macro_f1"]), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/feature_cache")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists: choose another --out")
    scratch = Path(tempfile.mkdtemp(prefix="beautytune-cache-bench-"))
    shared, cold_head, cold_full = scratch / "shared", scratch / "head", scratch / "full"
    rows = {
        "features, empty cache": fit(out / "features-cold", shared, "--strategy", "features"),
        "features, second run": fit(out / "features-warm", shared, "--strategy", "features"),
        "head 10 epochs on cached features, empty cache": fit(out / "head-cold", cold_head, *HEAD),
        "head 10 epochs on cached features, warm cache": fit(out / "head-warm", shared, *HEAD),
        "head 10 epochs recomputing features, empty cache": fit(
            out / "head-recompute", cold_full, *HEAD, "--no-cache-features"
        ),
    }
    for name, r in rows.items():
        print(f"{name:<50} {r['wall_s']:>7.1f} s   test macro-F1 {r['test_macro_f1']:.3f}")
    recompute = float(rows["head 10 epochs recomputing features, empty cache"]["wall_s"])  # type: ignore[arg-type]
    ratios = {
        "head: recompute / cached, both cold": recompute
        / float(rows["head 10 epochs on cached features, empty cache"]["wall_s"]),  # type: ignore[arg-type]
        "head: recompute / cached warm": recompute
        / float(rows["head 10 epochs on cached features, warm cache"]["wall_s"]),  # type: ignore[arg-type]
        "features: cold / warm": float(rows["features, empty cache"]["wall_s"])  # type: ignore[arg-type]
        / float(rows["features, second run"]["wall_s"]),  # type: ignore[arg-type]
    }
    for name, v in ratios.items():
        print(f"{name:<50} x{v:.1f}")
    (out / "feature_cache.json").write_text(json.dumps({"runs": rows, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
