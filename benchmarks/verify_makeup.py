"""Makeup-robust face verification on the people of ../shared/datasets/makeup's test split.

The split is beautytune's grouped split (seed 0, by person, as `fit` makes it), so the test
people are the ones a fine-tuned embedding never trains on. Every pair of test photos is
scored; TAR at FAR 1% and 0.1% and ROC AUC are given for cross-condition pairs (makeup vs no
makeup) and same-condition pairs. Baseline: dlib's 128-d descriptor (frozen). Writes
OUT/verification.json and OUT/roc.png. Usage:

    uv run python benchmarks/verify_makeup.py --out runs/verify
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from beautytune.data.images import load_rgb
from beautytune.data.sources import load_records
from beautytune.data.split import split_records
from beautytune.evaluate.report import write_png
from beautytune.faces.prepare import faces_of
from beautytune.faces.verification import all_pairs, dlib_embedder, dlib_scores, verification_metrics

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/verify")
    args = ap.parse_args()
    records = split_records(load_records(SHARED / "makeup" / "manifest.csv"), seed=args.seed)
    test = [r for r in records if r.split == "test"]
    t0 = time.perf_counter()
    embedder = dlib_embedder()
    embeddings, no_face = [], 0
    for r in test:
        rgb = np.asarray(load_rgb(r.path))
        found = faces_of(rgb, r.path)
        no_face += not found
        box = found[0].box if found else (0, 0, rgb.shape[1], rgb.shape[0])
        embeddings.append(embedder.embed(rgb, box))
    seconds = time.perf_counter() - t0
    pairs = all_pairs([r.group for r in test], [r.label for r in test])
    result = {
        "photos": len(test),
        "people": len({r.group for r in test}),
        "no_face_found": no_face,
        "dlib": {
            "seconds": round(seconds, 1),
            **verification_metrics(dlib_scores(np.stack(embeddings), pairs), pairs),
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verification.json").write_text(json.dumps(result, indent=1))
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.subplots()
    for protocol, style in (("cross", "-"), ("same", "--")):
        roc = result["dlib"][protocol]["roc"]
        ax.plot(roc["fpr"], roc["tpr"], style, label=f"dlib, {protocol}-condition pairs")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"Verification, {result['people']} unseen people")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_png(out / "roc.png", fig)
    print(json.dumps({k: v for k, v in result.items() if k != "dlib"}))
    for protocol in ("all", "cross", "same"):
        row = {k: v for k, v in result["dlib"][protocol].items() if k != "roc"}
        print("dlib", protocol, json.dumps(row))


if __name__ == "__main__":
    main()
