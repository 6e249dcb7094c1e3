"""ONNX serving speed and accuracy: eager PyTorch vs ONNX Runtime fp32 vs ONNX Runtime int8.

For one bundle (default: a `beautytune fit ../shared/datasets/skincare_products --strategy
features` run made first, tf_efficientnet_lite0), on CPU:

- exports `model.onnx` and the static int8 `model.int8.onnx` (`beautytune export --int8`,
  calibrated on 32 validation images) into OUT/onnx/;
- batch-1 median latency (ms) and batch-32 throughput (img/s) of each, with the thread count
  `beautytune.runtime.configure_threads` picks (the cores actually free), measured in
  `--rounds` interleaved rounds (the median of the rounds' medians, so a neighbour's burst
  of load hits all three alike);
- accuracy and macro-F1 on the run's test split (eager: the Predictor; ONNX: `evaluate_onnx`),
  and the int8 change.

Prints a Markdown table and writes OUT/onnx_serving.json. Usage (a few minutes on 2 cores):

    uv run python benchmarks/onnx_serving.py --out runs/onnx_serving
    uv run python benchmarks/onnx_serving.py --bundle RUN/bundle --split-csv RUN/split.csv --out runs/onnx_serving
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "skincare_products" / "manifest.csv"


def fit(out: Path) -> Path:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "beautytune.cli",
        "fit",
        str(DATA),
        "--strategy",
        "features",
        "--out",
        str(out),
    ]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return out / "bundle"


def spread(items: list[Any], n: int) -> list[Any]:
    return items[:: max(1, len(items) // n)][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, help="a bundle (default: fit one on skincare_products first)")
    ap.add_argument("--split-csv", type=Path, help="the run's split.csv (default: beside the bundle)")
    ap.add_argument("--out", type=Path, default=Path("runs/onnx_serving"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=30, help="batch-1 calls timed per round")
    args = ap.parse_args()

    from beautytune.data.records import Record, by_split
    from beautytune.inference.bundle import load_bundle
    from beautytune.inference.export import evaluate_onnx, export_onnx
    from beautytune.inference.predictor import Predictor
    from beautytune.inference.speed import eager_runner, example_batch, latency_and_throughput, onnx_runner
    from beautytune.runtime import configure_threads

    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    bundle_dir = args.bundle or fit(args.out / "fit")
    fit_s = None if args.bundle else round(time.perf_counter() - t0, 1)
    split_csv = args.split_csv or bundle_dir.parent / "split.csv"
    with split_csv.open(newline="") as f:  # path,label,group,split rows
        records = [Record(r["path"], r["label"], r.get("group", ""), r["split"]) for r in csv.DictReader(f)]
    if not by_split(records, "test"):
        raise SystemExit(f"{split_csv}: no test rows (give the run's split.csv)")
    test, val = by_split(records, "test"), by_split(records, "val")
    bundle = load_bundle(bundle_dir)

    exported = export_onnx(
        bundle_dir, args.out / "onnx" / "model.onnx", spread([r.path for r in val], 32), int8=True
    )
    q = exported.int8
    assert q is not None
    threads = configure_threads(0, "infer")
    runners = {
        "eager PyTorch": eager_runner(bundle, threads),
        "ORT fp32": onnx_runner(exported.path, threads),
        f"ORT int8 ({q.method})": onnx_runner(q.path, threads),
    }
    make = lambda n: example_batch(bundle, n)  # noqa: E731
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            rounds[name].append(latency_and_throughput(run, make, batch_size=32, repeats=args.repeats))
    speed = {
        name: {
            k: statistics.median(r[k] for r in rs)
            for k in ("latency_ms", "latency_p90_ms", "throughput_per_s")
        }
        for name, rs in rounds.items()
    }

    predictor = Predictor.from_bundle(bundle)
    probs, _ = predictor.predict_probs([r.path for r in test])
    from sklearn.metrics import accuracy_score, f1_score

    y = [predictor.labels.index(r.label) for r in test]
    quality = {
        "eager PyTorch": {
            "accuracy": float(accuracy_score(y, probs.argmax(1))),
            "macro_f1": float(f1_score(y, probs.argmax(1), average="macro", zero_division=0)),
        },
        "ORT fp32": evaluate_onnx(bundle, exported.path, test),
        f"ORT int8 ({q.method})": evaluate_onnx(bundle, q.path, test),
    }
    eager_ms = speed["eager PyTorch"]["latency_ms"]
    fp32 = quality["ORT fp32"]
    sizes = {"ORT fp32": q.fp32_size_bytes, f"ORT int8 ({q.method})": q.size_bytes}
    lines = [
        "| runtime | batch-1 median ms | vs eager | batch-32 img/s | size MB | test accuracy | test macro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in runners:
        s, m = speed[name], quality[name]
        size = f"{sizes[name] / 1e6:.1f}" if name in sizes else ""
        lines.append(
            f"| {name} | {s['latency_ms']:.1f} | {s['latency_ms'] / eager_ms:.2f}x | "
            f"{s['throughput_per_s']:.0f} | {size} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} |"
        )
    i8 = quality[f"ORT int8 ({q.method})"]
    change = {k: i8[k] - fp32[k] for k in ("accuracy", "macro_f1")}
    backbone = bundle.meta.backbone
    print(
        f"{backbone}, {bundle.meta.strategy}, {len(test)} test images, {threads} thread(s), "
        f"{args.rounds} rounds x {args.repeats} batch-1 calls"
    )
    print("\n".join(lines))
    print(
        f"\nint8 vs fp32: test accuracy {change['accuracy']:+.3f}, macro-F1 {change['macro_f1']:+.3f}; "
        f"on the 32 calibration images: top-1 agreement {q.top1_agreement:.0%}, "
        f"max abs diff {q.max_abs_diff:.3f}; parity fp32 vs PyTorch {exported.max_abs_diff:.1e}"
    )
    result = {
        "bundle": str(bundle_dir),
        "backbone": backbone,
        "strategy": bundle.meta.strategy,
        "fit_s": fit_s,
        "threads": threads,
        "n_test": len(test),
        "rounds": rounds,
        "speed": speed,
        "quality": quality,
        "int8": {
            "method": q.method,
            "size_bytes": q.size_bytes,
            "fp32_size_bytes": q.fp32_size_bytes,
            "calibration_top1_agreement": q.top1_agreement,
            "calibration_max_abs_diff": q.max_abs_diff,
            "change": change,
        },
        "parity_max_abs_diff": exported.max_abs_diff,
        "load_average_before_after": [load_before, os.getloadavg()],
    }
    (args.out / "onnx_serving.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'onnx_serving.json'}")


if __name__ == "__main__":
    main()
