"""Training and inference throughput of a backbone on this machine, side by side.

Prints images/second for eager training and inference, with channels_last on and off and
with glibc malloc tuned or not (the tuning is process-wide, so it runs last), so the ratios
come from one run on one machine. Usage:

    uv run python benchmarks/throughput.py --backbone tf_efficientnet_lite0 --size 224
"""

from __future__ import annotations

import argparse
import time

import torch

from beautytune.models.network import build_classifier
from beautytune.models.registry import get_spec
from beautytune.runtime import tune_cpu_runtime


def measure(
    model: torch.nn.Module, size: int, batch: int, train: bool, channels_last: bool, steps: int
) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)  # type: ignore[call-overload]
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train(train)

    def step() -> None:
        if train:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    step()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="tf_efficientnet_lite0")
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    spec = get_spec(args.backbone)
    size = args.size or spec.preprocess.input_size
    model, _ = build_classifier(spec, 10, init="random")
    print(f"{args.backbone} @ {size}px, batch {args.batch}, {torch.get_num_threads()} threads")
    rows = []
    for malloc in (False, True):
        if malloc:
            tune_cpu_runtime()
        for cl in (False, True):
            tr = measure(model, size, args.batch, True, cl, args.steps)
            inf = measure(model, size, args.batch, False, cl, args.steps)
            rows.append((malloc, cl, tr, inf))
            print(
                f"malloc tuned={malloc!s:5} channels_last={cl!s:5}  train {tr:6.1f} img/s  infer {inf:6.1f} img/s"
            )
    base = rows[0]
    best = rows[-1]
    print(
        f"ratio tuned+channels_last / default: train x{best[2] / base[2]:.2f}, infer x{best[3] / base[3]:.2f}"
    )


if __name__ == "__main__":
    main()
