"""`auto` under a wall-clock budget against the best strategy of a full comparison.

Runs `api.auto` on one shared set with the given budget (the set's split seed 0, which is
also the split of the strategy table's seed-0 runs), then reads the strategy table's
seed-0 rows for that set (benchmarks/strategy_table.py, same split; the kept rows serve) and prints
auto's test macro-F1 against the best of them, and auto's wall time against its budget.
Usage (run it alone; the strategy table's seed 0 must be done for the set):

    uv run python benchmarks/auto_vs_compare.py --set skincare_products --budget 15m \\
        --table runs/strategies --out runs/auto
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from strategy_table import SETS
from strategy_table import run as table_row

from beautytune import api
from beautytune.config import parse_duration

STRATEGIES = "features,head,partial,full,gradual,llrd,lp-ft,wise-ft,bitfit,lora"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="skincare_products")
    ap.add_argument("--budget", default="15m")
    ap.add_argument("--table", default="runs/strategies")
    ap.add_argument("--out", default="runs/auto")
    ap.add_argument("--soup", action="store_true", help="auto --soup: greedy soup of the best trials")
    args = ap.parse_args()
    spec = SETS[args.set]
    # the table's seed-0 rows as kept (benchmarks/results/strategy_table.jsonl) or finished
    # in this sitting under --table; nothing is started here
    kept = argparse.Namespace(out=args.table, epochs=8, budget="10m", read_only=True)
    rows = [r for s in STRATEGIES.split(",") if (r := table_row(args.set, s, 0, kept)) is not None]
    if not rows:
        raise SystemExit(f"no seed-0 rows for {args.set}: run benchmarks/strategy_table.py first")
    best = max(rows, key=lambda r: r["macro_f1"])
    out = Path(args.out) / args.set
    result = api.auto(
        spec["data"], out, time_budget=args.budget, seed=0, soup=args.soup, **spec.get("columns", {})
    )
    budget = parse_duration(args.budget) or 0.0
    summary = {
        "set": args.set,
        "auto_test_macro_f1": result.metrics["macro_f1"],
        "auto_chosen": {"soup": result.soup} if result.soup else result.best.params,
        "auto_trials": len(result.trials),
        "auto_wall_s": round(result.wall_time_s, 1),
        "budget_s": budget,
        "wall_over_budget": round(result.wall_time_s / budget, 4),
        "compare_best": {"strategy": best["name"], "test_macro_f1": best["macro_f1"]},
        "compare_runs": len(rows),
        "gap_points": round(100 * (result.metrics["macro_f1"] - best["macro_f1"]), 2),
    }
    print(json.dumps(summary, indent=2))
    (out / "vs_compare.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
