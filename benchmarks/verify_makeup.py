"""Makeup-robust face verification on ../shared/datasets/makeup: dlib vs fine-tuned embeddings.

Each fine-tuned row is one `fit --task face-verification` (tf_efficientnet_lite0, faces
aligned and cropped, seed 0): the test people are held out whole, never trained on. dlib's
frozen 128-d descriptor is scored on exactly the same test photos (read from the first run's
split.csv). Every pair of test photos is scored; TAR at FAR 1% and 0.1% and ROC AUC are given
for cross-condition pairs (makeup vs no makeup) and same-condition pairs. Writes
OUT/verification.json, OUT/verification.md and OUT/roc.png. Usage (run it alone):

    uv run python benchmarks/verify_makeup.py --strategies head,full --out runs/verify
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from beautytune import api
from beautytune.data.images import load_rgb
from beautytune.evaluate.report import write_png
from beautytune.faces.prepare import faces_of
from beautytune.faces.verification import all_pairs, dlib_embedder, dlib_scores, verification_metrics
from beautytune.faces.verification_report import plot_roc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def fine_tuned(strategy: str, args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    out = Path(args.out) / f"{strategy}-s{args.seed}"
    if not (out / "bundle" / "bundle.json").is_file():
        api.fit(
            SHARED / "makeup" / "manifest.csv",
            out,
            task="face-verification",
            strategy=strategy,
            faces="align",
            image_size=args.image_size,
            epochs=args.epochs,
            seed=args.seed,
        )
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    meta = json.loads((out / "bundle" / "bundle.json").read_text())
    metrics["seconds"] = meta["metrics"]["wall_time_s"]
    return metrics, out / "split.csv"


def dlib_row(split_csv: Path) -> dict[str, Any]:
    test = [r for r in csv.DictReader(split_csv.open()) if r["split"] == "test"]
    t0 = time.perf_counter()
    embedder = dlib_embedder()
    vectors = []
    for r in test:
        rgb = np.asarray(load_rgb(r["path"]))
        found = faces_of(rgb, r["path"])
        box = found[0].box if found else (0, 0, rgb.shape[1], rgb.shape[0])
        vectors.append(embedder.embed(rgb, box))
    pairs = all_pairs([r["group"] for r in test], [r["condition"] for r in test])
    metrics = verification_metrics(dlib_scores(np.stack(vectors), pairs), pairs)
    return {
        "photos": len(test),
        "people": len({r["group"] for r in test}),
        **metrics,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--strategies", default="head,full")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--image-size", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default="runs/verify")
    args = ap.parse_args()
    results: dict[str, dict[str, Any]] = {}
    split_csv = None
    for strategy in args.strategies.split(","):
        results[f"lite0 {strategy} (ArcFace)"], split_csv = fine_tuned(strategy, args)
    assert split_csv is not None
    results = {"dlib (frozen)": dlib_row(split_csv), **results}
    out = Path(args.out)
    (out / "verification.json").write_text(json.dumps(results, indent=1))
    write_png(out / "roc.png", plot_roc(results))
    any_row = next(iter(results.values()))
    lines = [
        f"{any_row['photos']} test photos of {any_row['people']} people never trained on "
        f"({any_row['cross']['genuine']} genuine / {any_row['cross']['impostor']} impostor cross-condition "
        f"pairs, {any_row['same']['genuine']} / {any_row['same']['impostor']} same-condition)",
        "",
        "| model | cross TAR@FAR1% | cross TAR@FAR0.1% | cross AUC | same TAR@FAR1% | same TAR@FAR0.1% | "
        "same AUC | wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        c, s = m["cross"], m["same"]
        lines.append(
            f"| {name} | {c['tar@far0.01']:.3f} | {c['tar@far0.001']:.3f} | {c['auc']:.3f} | "
            f"{s['tar@far0.01']:.3f} | {s['tar@far0.001']:.3f} | {s['auc']:.3f} | {m['seconds']:.0f} s |"
        )
    text = "\n".join(lines)
    (out / "verification.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
