"""A camera shift built from a shared set, and what `adapt` (= `fit --adapt-to`) recovers.

The shift, "another shop's camera": every photo of the target setting gets the same warm
(tungsten) cast, is under-exposed, passes through a low-resolution sensor and is saved as
a heavy JPEG (see ``shop_camera``). It is built from each run's own grouped split, so no
photo the model trained on is involved:

* the run's **validation** photos, shifted, are the unlabelled target folder (what a user
  would collect in the new setting);
* the run's **test** photos, shifted, with their labels, are the labelled target data
  (``--eval``); they are never used for adaptation.

For each bundle under ``--runs`` (for instance the folders `strategy_table.py` writes) it
prints test macro-F1 on the clean test photos, then on the shifted ones before adapting,
after AdaBN alone and after AdaBN + self-training; ECE beside each. Usage:

    uv run python benchmarks/strategy_table.py --sets skin_type --seeds 0 --out runs/strategies
    uv run python benchmarks/shift_demo.py --runs runs/strategies/skin_type --out runs/shift

Rows are also kept in `benchmarks/results/shift_table.jsonl` (one per set and run).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from beautytune import api

#: red / green / blue gains of a tungsten-lit shop, and the exposure
WARM_CAST = np.array([1.2, 1.0, 0.75], dtype=np.float32)
EXPOSURE = 0.7
SENSOR_SIDE = 64  # shortest side of the low-resolution sensor
JPEG_QUALITY = 25


def shop_camera(im: Image.Image) -> Image.Image:
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) * WARM_CAST * EXPOSURE
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    scale = min(1.0, SENSOR_SIDE / min(im.size))
    small = im.resize(
        (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BILINEAR
    )
    im = small.resize(im.size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def build_target(run: Path, out: Path) -> tuple[Path, Path]:
    """Shifted copies of ``run``'s val photos (unlabelled) and test photos (labelled CSV)."""
    photos, labelled = out / "unlabelled", out / "labelled"
    if (out / "labelled.csv").is_file():
        return photos, out / "labelled.csv"
    photos.mkdir(parents=True)
    labelled.mkdir()
    rows = []
    with (run / "split.csv").open() as f:
        for i, row in enumerate(csv.DictReader(f)):
            if row["split"] not in ("val", "test"):
                continue
            folder = photos if row["split"] == "val" else labelled
            target = folder / f"{i:05d}.jpg"
            shop_camera(Image.open(row["path"])).save(target, quality=95)
            if row["split"] == "test":
                rows.append({"path": f"labelled/{target.name}", "label": row["label"]})  # relative to the CSV
    with (out / "labelled.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label"])
        w.writeheader()
        w.writerows(rows)
    return photos, out / "labelled.csv"


RESULTS = Path(__file__).resolve().parent / "results" / "shift_table.jsonl"


def keep(row: dict[str, Any], set_name: str) -> None:
    """Add ``row`` to the results kept in the repository (replacing the same set and run's)."""
    row = {"set": set_name, **row}
    old = [json.loads(line) for line in RESULTS.read_text().splitlines()] if RESULTS.is_file() else []
    rows = [r for r in old if (r["set"], r["run"]) != (set_name, row["run"])] + [row]
    RESULTS.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="a folder of run folders (each with bundle/ and split.csv)")
    ap.add_argument("--out", default="runs/shift")
    ap.add_argument("--self-train-epochs", type=int, default=2)
    ap.add_argument("--pseudo-threshold", type=float, default=0.9)
    ap.add_argument("--pattern", default="*", help="which run folders to take, e.g. '*-s0' for seed 0")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for run in sorted(p for p in Path(args.runs).glob(args.pattern) if (p / "bundle").is_dir()):
        out = Path(args.out) / run.name
        photos, labelled = build_target(run, out / "target")
        clean = json.loads((run / "bundle" / "bundle.json").read_text())["metrics"]["test"]
        # bundles older than their stored training-photo statistics get them from the split
        source = None if (run / "bundle" / "bn_source_stats.safetensors").is_file() else run / "split.csv"
        bn = api.adapt(
            run / "bundle", photos, out / "adabn", eval_data=labelled, self_train_epochs=0, source=source
        )
        st = api.adapt(
            run / "bundle",
            photos,
            out / "self-train",
            eval_data=labelled,
            source=source,
            self_train_epochs=args.self_train_epochs,
            pseudo_threshold=args.pseudo_threshold,
        )
        pseudo = st["adaptation"].get("self_training", {})
        row = {
            "run": run.name,
            "clean": round(clean["macro_f1"], 3),
            "shifted": round(bn["before"]["macro_f1"], 3),
            "adabn": round(bn["after"]["macro_f1"], 3),
            "adabn+self-train": round(st["after"]["macro_f1"], 3),
            "ece shifted/adabn/self-train": [
                round(x, 3) for x in (bn["before"]["ece"], bn["after"]["ece"], st["after"]["ece"])
            ],
            "pseudo-labelled": f"{pseudo.get('pseudo_labelled', 0)}/{pseudo.get('target_images', '?')}",
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        keep(row, Path(args.runs).name)
    print(f"\n{'run':14} {'clean':>6} {'shifted':>8} {'AdaBN':>6} {'+self-train':>12} {'pseudo':>8}")
    for r in rows:
        print(
            f"{r['run']:14} {r['clean']:6.3f} {r['shifted']:8.3f} {r['adabn']:6.3f} "
            f"{r['adabn+self-train']:12.3f} {r['pseudo-labelled']:>8}"
        )


if __name__ == "__main__":
    main()
