"""The label check on a copy of skincare_products with a share of labels flipped at random.

A seeded random 5% of the rows get another class's label (uniform over the other classes);
only a CSV is written (the photos stay in ../shared). Then:

1. `audit --labels` on the noisy copy: precision and recall of the flagged rows against the
   rows that were flipped;
2. `fit --strategy features` on the noisy copy with and without `--drop-label-issues`
   (same seed, same split): test macro-F1 against the noisy test labels and against the
   original (clean) labels of the same test photos.

Usage (a few minutes on 2 CPU cores; run it alone):

    uv run python benchmarks/label_noise.py --out runs/label_noise
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from beautytune import api

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skincare_products" / "manifest.csv"


def noisy_copy(src: Path, dst: Path, share: float, seed: int) -> tuple[Path, set[str], dict[str, str]]:
    with src.open(newline="") as f:
        rows = list(csv.DictReader(f))
    labels = sorted({r["label"] for r in rows})
    clean = {}
    for r in rows:
        r["path"] = str((src.parent / r["path"]).resolve())
        clean[r["path"]] = r["label"]
    rng = np.random.default_rng(seed)
    flipped = set()
    for i in rng.choice(len(rows), round(share * len(rows)), replace=False):
        others = [lab for lab in labels if lab != rows[i]["label"]]
        rows[i]["label"] = others[int(rng.integers(len(others)))]
        flipped.add(rows[i]["path"])
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst, flipped, clean


def clean_test_manifest(run: Path, clean: dict[str, str], dst: Path) -> Path:
    with (run / "split.csv").open() as f:
        test = [r for r in csv.DictReader(f) if r["split"] == "test"]
    with dst.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "group"])
        for r in test:
            w.writerow([r["path"], clean[r["path"]], r["group"]])
    return dst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/label_noise")
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backbone", default="tf_efficientnet_lite0")
    args = ap.parse_args()
    out = Path(args.out)
    data, flipped, clean = noisy_copy(SHARED, out / "noisy.csv", args.share, args.seed)
    report = api.audit(data, out / "audit", labels=True, backbone=args.backbone, seed=args.seed)
    flagged = {d["path"] for d in report.label_issues or []}
    hit = len(flagged & flipped)
    result: dict[str, object] = {
        "rows": len(clean),
        "flipped": len(flipped),
        "flagged": len(flagged),
        "precision": hit / max(1, len(flagged)),
        "recall": hit / max(1, len(flipped)),
    }
    for name, drop in (("plain", False), ("drop-label-issues", True)):
        run = out / name
        if not (run / "bundle").is_dir():
            api.fit(
                data, run, backbone=args.backbone, strategy="features", seed=args.seed, drop_label_issues=drop
            )
        noisy_f1 = json.loads((run / "bundle" / "bundle.json").read_text())["metrics"]["test"]["macro_f1"]
        truth = clean_test_manifest(run, clean, out / f"{name}_clean_test.csv")
        m = api.evaluate(run / "bundle", truth, out / f"{name}_clean_eval")
        result[name] = {"test_macro_f1_noisy_labels": noisy_f1, "test_macro_f1_clean_labels": m["macro_f1"]}
    print(json.dumps(result, indent=2))
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
