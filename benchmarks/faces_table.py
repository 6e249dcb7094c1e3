"""Whole photo vs face crop vs skin regions, on the shared face sets: the table issue 13 asks for.

Each (set, strategy, faces mode) is one `api.fit` on the same grouped split (seed 0: a person
or photo group never on two sides; `--faces-fallback whole` keeps every photo, so the test
photos are the same in every mode). `features` runs at the backbone's own 224 px (regions:
112 px patches), fine-tuned strategies at 192 px (regions: 96 px patches). Prints test
macro-F1, accuracy and wall time, then each run's test macro-F1 per skin-tone (ITA) bucket.
A finished run is read back: the table fills in over sittings. Usage (run it alone):

    uv run python benchmarks/faces_table.py --sets skin_type,makeup --strategies features,full \\
        --modes off,crop,regions --out runs/faces
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from beautytune import api
from beautytune.evaluate.leaderboard import run_row
from beautytune.evaluate.slices import slice_metrics
from beautytune.faces.prepare import tone_of_file
from beautytune.faces.tone import CATEGORY_NAMES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
BACKBONE = "tf_efficientnet_lite0"
FINE_TUNED = {"image_size": 192, "epochs": 8}


def run(name: str, strategy: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out) / name / f"{strategy}-{mode}"
    row = run_row(out, f"{strategy}-{mode}", args.seed)
    if row is None:
        if out.exists() and not (out / "checkpoints" / "last.ckpt").exists():
            shutil.rmtree(out)  # stopped before its first checkpoint: nothing to resume
        settings: dict[str, Any] = {} if strategy == "features" else dict(FINE_TUNED)
        if mode == "regions" and "image_size" in settings:
            settings["image_size"] //= 2
        api.fit(
            SHARED / name / "manifest.csv",
            out,
            backbone=BACKBONE,
            strategy=strategy,
            seed=args.seed,
            faces=mode,
            time_budget=None if strategy == "features" else args.budget,
            resume=(out / "checkpoints" / "last.ckpt").exists(),
            **settings,
        )
        row = run_row(out, f"{strategy}-{mode}", args.seed)
    assert row is not None
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    row["tones"] = metrics.get("slices", {}).get("skin_tone") or tones_of(out / "report" / "predictions.csv")
    return {"set": name, "mode": mode, **row}


def tones_of(predictions: Path) -> list[dict[str, Any]]:
    """Per-tone scores of a whole-photo run (its report has none: it never looked for a face)."""
    rows = list(csv.DictReader(predictions.open()))
    labels = sorted({r["true"] for r in rows} | {r["predicted"] for r in rows})
    y = np.array([labels.index(r["true"]) for r in rows])
    probs = np.eye(len(labels))[[labels.index(r["predicted"]) for r in rows]]
    tones = [tone_of_file(r["path"]) for r in rows]
    buckets = [t.category if t else None for t in tones]
    return slice_metrics(y, probs, labels, buckets, CATEGORY_NAMES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="skin_type,makeup")
    ap.add_argument("--strategies", default="features,full")
    ap.add_argument("--modes", default="off,crop,regions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", default="10m")
    ap.add_argument("--out", default="runs/faces")
    args = ap.parse_args()
    rows = []
    for name in args.sets.split(","):
        for strategy in args.strategies.split(","):
            for mode in args.modes.split(","):
                row = run(name, strategy, mode, args)
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "tones"}), flush=True)
    lines = ["| set | strategy | faces | test macro-F1 | accuracy | wall time |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r['set']} | `{r['strategy']}` | {r['mode']} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} "
        f"| {r['wall_s']:.0f} s |"
        for r in rows
    ]
    lines += ["", "| set | run | " + " | ".join(["tone bucket: n, macro-F1"]) + " |", "|---|---|---|"]
    for r in rows:
        if r["tones"]:
            cells = ", ".join(
                f"{t['bucket']} {t['n']}: {t['macro_f1']:.3f}{'*' if 'warning' in t else ''}"
                for t in r["tones"]
            )
            lines.append(f"| {r['set']} | {r['name']} | {cells} |")
    lines.append("\n(*: fewer than 30 test photos in the bucket, too few to judge)")
    text = "\n".join(lines)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "faces_table.md").write_text(text + "\n")
    (Path(args.out) / "faces_table.json").write_text(json.dumps(rows, indent=1))
    print(text)


if __name__ == "__main__":
    main()
