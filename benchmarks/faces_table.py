"""Whole photo vs face crop vs skin regions, on the shared face sets: the table issue 13 asks for.

Each (set, strategy, faces mode) is one `api.fit` on the same grouped split (seed 0: a person
or photo group never on two sides; `--faces-fallback whole` keeps every photo, so the test
photos are the same in every mode). `features` runs at the backbone's own 224 px (regions:
112 px patches), fine-tuned strategies at 192 px (regions: 96 px patches). Prints test
macro-F1, accuracy and wall time, then each run's test macro-F1 per skin-tone (ITA) bucket.
Finished rows are kept in `benchmarks/results/faces_table.jsonl` (see `sittings.py`).
Usage (run it alone):

    uv run python benchmarks/faces_table.py --sets skin_type,makeup --strategies features,full \\
        --modes off,crop,regions --out runs/faces
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
from sittings import Sittings

from beautytune import api
from beautytune.evaluate.slices import slice_metrics
from beautytune.faces.prepare import tone_of_file
from beautytune.faces.tone import CATEGORY_NAMES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
BACKBONE = "tf_efficientnet_lite0"
SITTINGS = Sittings("faces_table")
#: --modes: whole photo (off), face crop, skin patches, skin + makeup patches (lips, eyes)
FACE_MODES: dict[str, dict[str, str]] = {
    "off": {"faces": "off"},
    "crop": {"faces": "crop"},
    "regions": {"faces": "regions"},
    "makeup-regions": {"faces": "regions", "face_regions": "makeup"},
}
FINE_TUNED = {"image_size": 192, "epochs": 8}


def run(name: str, strategy: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {} if strategy == "features" else dict(FINE_TUNED)
    patch = ""  # a run at a non-default patch size gets its own folder and row name
    if FACE_MODES[mode]["faces"] == "regions" and "image_size" in settings:
        settings["image_size"] = args.patch_size or settings["image_size"] // 2
        patch = f"-p{args.patch_size}" if args.patch_size else ""
    fit_kwargs = {
        "data": SHARED / name / "manifest.csv",
        "backbone": BACKBONE,
        "strategy": strategy,
        **FACE_MODES[mode],
        "time_budget": None if strategy == "features" else args.budget,
        **settings,
    }
    row = SITTINGS.run(
        Path(args.out) / name / f"{strategy}-{mode}{patch}",
        set_name=name,
        name=f"{strategy}-{mode}{patch}",
        seed=args.seed,
        fit_kwargs=fit_kwargs,
        fit=api.fit,
        extra=tones,
    )
    assert row is not None
    return {"mode": mode, **row}


def tones(out: Path) -> dict[str, Any]:
    metrics = json.loads((out / "report" / "metrics.json").read_text())
    return {
        "tones": metrics.get("slices", {}).get("skin_tone") or tones_of(out / "report" / "predictions.csv")
    }


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
    ap.add_argument(
        "--patch-size", type=int, default=None, help="fine-tuned regions runs' patch side (default: half)"
    )
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
