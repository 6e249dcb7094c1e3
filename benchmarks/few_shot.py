"""Few-shot curves: macro-F1 against K examples per class, with the spread over draws.

`beautytune compare --shots` on each set: one grouped split (split seed 0), K in 1/5/10/20,
five draws (seeds 0-4) of K training examples per class; validation and test stay whole.
Classes with fewer than K training examples keep all they have. Writes
OUT/<set>/shots.png and OUT/<set>/leaderboard.{md,json}. Usage (run it alone):

    uv run python benchmarks/few_shot.py --sets skin_type,skincare_products --out runs/few_shot
"""

from __future__ import annotations

import argparse
from pathlib import Path

from beautytune import api

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DATA = {
    "skin_type": SHARED / "skin_type" / "manifest.csv",
    "skincare_products": SHARED / "skincare_products" / "manifest.csv",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="skin_type,skincare_products")
    ap.add_argument("--strategies", default="prototype,features")
    ap.add_argument("--shots", default="1,5,10,20")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--backbone", default="tf_efficientnet_lite0")
    ap.add_argument("--out", default="runs/few_shot")
    args = ap.parse_args()
    shots = [int(k) for k in args.shots.split(",")]
    for name in args.sets.split(","):
        out = Path(args.out) / name
        api.compare(
            DATA[name],
            out,
            strategies=args.strategies.split(","),
            seeds=list(range(args.draws)),
            shots=shots,
            backbone=args.backbone,
            title=f"{name}: few-shot, {args.draws} draws per K",
        )
        print((out / "leaderboard.md").read_text())
        print(f"curve: {out / 'shots.png'}")


if __name__ == "__main__":
    main()
