"""Which statistics AdaBN should aim at, checked with no shift at all.

"Adapting" a bundle to clean photos of its own set must leave it about where it was. For
one run folder (a bundle and its split.csv), this prints test macro-F1 before, after plain
AdaBN (running statistics replaced by the validation photos') and after beautytune's AdaBN
(validation photos' statistics moved onto the training photos'). Usage:

    uv run python benchmarks/adabn_reference.py runs/strategies/skin_type/full-s0
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from beautytune.evaluate.metrics import compute_metrics
from beautytune.inference.adapt import adabn, source_statistics
from beautytune.inference.bundle import load_bundle
from beautytune.inference.predictor import Predictor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    with (args.run / "split.csv").open() as f:
        rows = list(csv.DictReader(f))
    paths = {s: [r["path"] for r in rows if r["split"] == s] for s in ("train", "val", "test")}
    test_labels = [r["label"] for r in rows if r["split"] == "test"]

    def macro_f1(b) -> float:  # type: ignore[no-untyped-def]
        probs, _ = Predictor(b.task, b.model, b.processor, b.labels).predict_probs(paths["test"])
        y = np.array([b.labels.index(lab) for lab in test_labels])
        return float(compute_metrics(y, probs, b.labels)["macro_f1"])

    b = load_bundle(args.run / "bundle")
    print(f"test macro-F1 before: {macro_f1(b):.3f}")
    adabn(b.model, b.task, b.processor, paths["val"])
    print(f"after plain AdaBN on the clean val photos: {macro_f1(b):.3f}")
    b = load_bundle(args.run / "bundle")
    source = b.bn_source or source_statistics(b.model, b.task, b.processor, paths["train"])
    adabn(b.model, b.task, b.processor, paths["val"], source)
    print(f"after AdaBN towards the training photos' statistics: {macro_f1(b):.3f}")


if __name__ == "__main__":
    main()
