"""Eager batch-1 latency and training speed, idle and beside a second CPU-bound job.

Each setting runs in a fresh process (OpenMP reads its wait policy once, at start), first on
an idle machine, then while another process runs a 2-thread PyTorch matmul loop, the busy
case of a shared CI runner or of two server workers on one box. Settings: torch's default
(as many threads as cores, OpenMP's active spin-wait), one thread, the default with
``OMP_WAIT_POLICY=PASSIVE``, and beautytune's choice (``beautytune.runtime``: passive wait;
inference on the cores actually free, training on every core of the affinity mask). Prints a table and writes JSON. Usage (alone on the
machine; ~3 minutes on 2 cores):

    uv run python benchmarks/busy_machine.py --out runs/busy_machine.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from beautytune.bench.busy import idle_and_busy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/busy_machine.json")
    args = ap.parse_args()
    rows = idle_and_busy()
    print(
        f"{'setting':<14} {'threads':>8} {'train':>5} {'idle ms':>8} {'busy ms':>8} {'x':>6} {'idle img/s':>11} {'busy img/s':>11} {'x':>6}"
    )
    for name, r in rows.items():
        idle, busy = r["idle"], r["busy"]  # type: ignore[assignment]
        print(
            f"{name:<14} {idle['threads']:>3}/{busy['threads']:<4} {busy['train_threads']:>5} {idle['latency_ms']:>8.1f} {busy['latency_ms']:>8.1f}"
            f" {busy['latency_ms'] / idle['latency_ms']:>6.2f} {idle['train_img_s']:>11.1f} {busy['train_img_s']:>11.1f}"
            f" {idle['train_img_s'] / busy['train_img_s']:>6.2f}"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
