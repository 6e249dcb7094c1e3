"""features vs full fine-tuning of tf_efficientnet_lite2 on ../shared/datasets/skincare_products.

Same grouped split (by brand, seed 0) for both; `full` gets a 20-minute CPU training budget
and trains at 192 px.
Prints test macro-F1 and wall time of each run. Usage:

    uv run python benchmarks/skincare_strategies.py [--out runs/skincare] [--budget 20m]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from beautytune import api

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skincare_products" / "manifest.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/skincare")
    ap.add_argument("--budget", default="20m")
    ap.add_argument("--backbone", default="tf_efficientnet_lite2")
    ap.add_argument("--strategies", default="features,full")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--image-size", type=int, default=192, help="input size for the fine-tuned runs")
    args = ap.parse_args()
    rows = []
    for strategy in args.strategies.split(","):
        out = Path(args.out) / strategy
        # features keeps the backbone's native 260 px; fine-tuning trains at --image-size
        # (the photos are 60x80 px, so 192 px loses nothing and doubles the epochs per budget).
        opts = {"epochs": args.epochs, "image_size": args.image_size} if strategy != "features" else {}
        r = api.fit(DATA, out, backbone=args.backbone, strategy=strategy, time_budget=args.budget, **opts)
        rows.append(
            {
                "strategy": strategy,
                "test_macro_f1": round(r.metrics["macro_f1"], 4),
                "test_accuracy": round(r.metrics["accuracy"], 4),
                "test_balanced_accuracy": round(r.metrics["balanced_accuracy"], 4),
                "train_time_s": round(r.train_time_s),
                "wall_time_s": round(r.wall_time_s),
                "report": str(r.report),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'strategy':10} {'macro-F1':>9} {'accuracy':>9} {'wall s':>7}")
    for row in rows:
        print(
            f"{row['strategy']:10} {row['test_macro_f1']:9.3f} {row['test_accuracy']:9.3f} {row['wall_time_s']:7d}"
        )


if __name__ == "__main__":
    main()
