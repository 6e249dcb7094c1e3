"""Every strategy x seeds on the shared sets: test macro-F1 mean +- std, wall time, ECE.

The table issue 11 asks for. Each (set, strategy, seed) is one `api.fit` with the set's
grouped split and the same settings for every strategy; ECE is reported before and after
temperature scaling (the bundle's calibration). Rows print as JSON lines while they finish,
then the table. Usage (hours on 2 CPU cores; run it alone on the machine):

    uv run python benchmarks/strategy_table.py --sets skin_type,skincare_products \\
        --strategies features,head,partial,full,gradual,llrd,lp-ft,wise-ft,bitfit,lora \\
        --seeds 0,1,2 --budget 10m --out runs/strategies
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from beautytune import api

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS: dict[str, dict[str, Any]] = {
    "skincare_products": {"data": SHARED / "skincare_products" / "manifest.csv"},
    "skin_type": {"data": SHARED / "skin_type" / "manifest.csv"},
    "sephora_reviews": {
        "data": SHARED / "sephora_reviews" / "reviews.csv",
        "columns": {"text_col": "text", "label_from_rating": "rating", "group_col": "product_id"},
        "backbone": "minilm",
        "settings": {"max_length": 128, "backbone_lr_mult": 0.1, "warmup_epochs": 0.3},
    },
}
IMAGE = {"backbone": "tf_efficientnet_lite0", "settings": {"image_size": 192}}


def run(name: str, strategy: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = SETS[name]
    settings = (
        {**IMAGE["settings"], **spec.get("settings", {})} if "backbone" not in spec else spec["settings"]
    )
    if strategy == "features":  # frozen features at the backbone's own size, no epochs
        settings = {k: v for k, v in settings.items() if k == "max_length"}
    else:
        settings = {**settings, "epochs": args.epochs}
    out = Path(args.out) / name / f"{strategy}-s{seed}"
    r = api.fit(
        spec["data"],
        out,
        backbone=spec.get("backbone", IMAGE["backbone"]),
        strategy=strategy,
        seed=seed,
        time_budget=None if strategy == "features" else args.budget,
        **spec.get("columns", {}),
        **settings,
    )
    return {
        "set": name,
        "strategy": strategy,
        "seed": seed,
        "macro_f1": r.metrics["macro_f1"],
        "accuracy": r.metrics["accuracy"],
        "ece": r.metrics["ece"],
        "ece_uncalibrated": r.metrics.get("uncalibrated", {}).get("ece"),
        "wall_s": r.wall_time_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="skin_type,skincare_products")
    ap.add_argument(
        "--strategies", default="features,head,partial,full,gradual,llrd,lp-ft,wise-ft,bitfit,lora"
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--budget", default="10m", help="training time budget of each fine-tuned run")
    ap.add_argument("--out", default="runs/strategies")
    args = ap.parse_args()
    rows = []
    for name in args.sets.split(","):
        for strategy in args.strategies.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append(run(name, strategy, seed, args))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'set':18} {'strategy':9} {'macro-F1':>15} {'ECE before -> after':>20} {'wall s':>8}")
    for name in args.sets.split(","):
        for strategy in args.strategies.split(","):
            cell = [r for r in rows if r["set"] == name and r["strategy"] == strategy]
            f1 = [r["macro_f1"] for r in cell]
            sd = statistics.stdev(f1) if len(f1) > 1 else 0.0
            before = [r["ece_uncalibrated"] for r in cell if r["ece_uncalibrated"] is not None]
            ece = f"{statistics.mean(before):.3f} -> " if before else "(none) "
            ece += f"{statistics.mean(r['ece'] for r in cell):.3f}"
            wall = statistics.mean(r["wall_s"] for r in cell)
            print(f"{name:18} {strategy:9} {statistics.mean(f1):7.3f} +- {sd:.3f} {ece:>20} {wall:8.0f}")


if __name__ == "__main__":
    main()
