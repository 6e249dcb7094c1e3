"""Every strategy x seeds on the shared sets: test macro-F1 mean +- std, wall time, ECE.

The table issue 11 asks for. Each (set, strategy, seed) is one `api.fit`; the seed picks
the grouped split as well as the initialisation and batch order, so the spread covers both.
Every fine-tuned strategy gets the same settings and budget; `features` runs at the
backbone's own input size (it has no epochs). ECE is reported before and after temperature
scaling (the bundle's calibration). Rows print as JSON lines while they finish; each set's
leaderboard goes to OUT/<set>/leaderboard.{md,json,png}. Finished rows are kept in
`benchmarks/results/strategy_table.jsonl` (see `sittings.py`) and one stopped mid-way is
resumed: the table fills in over sittings, on machines that keep nothing between them.
Usage (hours on 2 CPU cores; run it alone on the machine):

    uv run python benchmarks/strategy_table.py --sets skin_type,skincare_products \\
        --strategies features,head,partial,full,gradual,llrd,lp-ft,wise-ft,bitfit,lora \\
        --seeds 0,1,2 --budget 10m --out runs/strategies
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sittings import Sittings

from beautytune import api
from beautytune.evaluate.leaderboard import write_leaderboard

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS: dict[str, dict[str, Any]] = {
    # packshots are 60 x 80 px: 128 px input loses nothing that 192 would keep, at 0.44 the cost
    "skincare_products": {
        "data": SHARED / "skincare_products" / "manifest.csv",
        "settings": {"image_size": 128, "epochs": 6},
    },
    "skin_type": {"data": SHARED / "skin_type" / "manifest.csv"},
    "sephora_reviews": {
        "data": SHARED / "sephora_reviews" / "reviews.csv",
        "columns": {"text_col": "text", "label_from_rating": "rating", "group_col": "product_id"},
        "backbone": "minilm",
        "settings": {"max_length": 128, "backbone_lr_mult": 0.1, "warmup_epochs": 0.3},
    },
}
SITTINGS = Sittings("strategy_table")
IMAGE = {"backbone": "tf_efficientnet_lite0", "settings": {"image_size": 192}}


def run(name: str, strategy: str, seed: int, args: argparse.Namespace) -> dict[str, Any] | None:
    spec = SETS[name]
    image = "backbone" not in spec
    settings = {**IMAGE["settings"], **spec.get("settings", {})} if image else dict(spec["settings"])
    settings.setdefault("epochs", args.epochs)
    if strategy == "features":  # frozen features at the backbone's own size, no epochs
        settings = {k: v for k, v in settings.items() if k == "max_length"}
    fit_kwargs = {
        "data": spec["data"],
        "backbone": spec.get("backbone", IMAGE["backbone"]),
        "strategy": strategy,
        "time_budget": None if strategy == "features" else args.budget,
        **spec.get("columns", {}),
        **settings,
    }
    return SITTINGS.run(
        Path(args.out) / name / f"{strategy}-s{seed}",
        set_name=name,
        name=strategy,
        seed=seed,
        fit_kwargs=fit_kwargs,
        fit=api.fit,
        start=not args.read_only,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="skin_type,skincare_products")
    ap.add_argument(
        "--strategies", default="features,head,partial,full,gradual,llrd,lp-ft,wise-ft,bitfit,lora"
    )
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=8, help="epochs where a set does not say")
    ap.add_argument("--budget", default="10m", help="training time budget of each fine-tuned run")
    ap.add_argument("--out", default="runs/strategies")
    ap.add_argument("--read-only", action="store_true", help="tabulate finished runs, start none")
    args = ap.parse_args()
    for name in args.sets.split(","):
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):  # seed-major: a stopped sitting
            for strategy in args.strategies.split(","):  # leaves whole seeds behind
                row = run(name, strategy, seed, args)
                if row is not None:
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        write_leaderboard(Path(args.out) / name, rows, f"{name}: every strategy, seeds {args.seeds}")
        print((Path(args.out) / name / "leaderboard.md").read_text())
        calibrated = [r for r in rows if r["ece_uncalibrated"] is not None]
        lower = sum(r["ece"] < r["ece_uncalibrated"] for r in calibrated)
        print(f"{name}: ECE lower after temperature scaling on {lower} of {len(calibrated)} bundles")
        for r in calibrated:
            if r["ece"] >= r["ece_uncalibrated"]:
                print(f"  not lower: {r['run']} {r['ece_uncalibrated']:.3f} -> {r['ece']:.3f}")


if __name__ == "__main__":
    main()
