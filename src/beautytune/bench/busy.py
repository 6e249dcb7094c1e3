"""Idle against busy: eager batch-1 latency and training speed beside a CPU-bound job.

Each setting runs in a fresh process (OpenMP reads its wait policy once, at start), first on
an idle machine, then while another process runs a 2-thread PyTorch matmul loop (a shared
CI runner, two server workers on one box). Settings: torch's default (as many threads as
cores, OpenMP's active spin-wait), one thread, the default with ``OMP_WAIT_POLICY=PASSIVE``,
and beautytune's choice (``beautytune.runtime``: passive wait; inference on the cores
actually free, training on every core of the affinity mask).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable

SETTINGS: dict[str, dict[str, object]] = {
    "torch default": {
        "env": {"OMP_WAIT_POLICY": "ACTIVE", "BEAUTYTUNE_THREADS": "torch"},
        "threads": "default",
    },
    "1 thread": {"env": {"OMP_WAIT_POLICY": "ACTIVE", "BEAUTYTUNE_THREADS": "torch"}, "threads": "1"},
    "passive wait": {
        "env": {"OMP_WAIT_POLICY": "PASSIVE", "BEAUTYTUNE_THREADS": "torch"},
        "threads": "default",
    },
    "beautytune": {"env": {}, "threads": "beautytune"},
}

WORKER = r"""
import json, statistics, sys, time
threads = sys.argv[1]
import beautytune  # sets the wait policy before torch loads OpenMP
import torch
from beautytune.runtime import tune_cpu_runtime
from beautytune.runtime import configure_threads
tune_cpu_runtime()  # malloc settings for all; threads stay torch's unless "beautytune"
if threads == "beautytune":
    configure_threads(work="infer")
elif threads != "default":
    torch.set_num_threads(int(threads))
import timm
model = timm.create_model(sys.argv[2], num_classes=9).eval()
x = torch.randn(1, 3, 224, 224)
with torch.inference_mode():
    for _ in range(5):
        model(x)
    times = []
    for _ in range(30):
        t = time.perf_counter(); model(x); times.append(time.perf_counter() - t)
infer_threads = torch.get_num_threads()
if threads == "beautytune":
    configure_threads(work="train")
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
xb, yb = torch.randn(16, 3, 160, 160), torch.randint(0, 9, (16,))
def step():
    opt.zero_grad(); torch.nn.functional.cross_entropy(model(xb), yb).backward(); opt.step()
step()
t = time.perf_counter(); n = 0
while n < 4 or time.perf_counter() - t < 8:
    step(); n += 1
print(json.dumps({"latency_ms": 1000 * statistics.median(times),
                  "train_img_s": 16 * n / (time.perf_counter() - t),
                  "threads": infer_threads, "train_threads": torch.get_num_threads()}))
"""

HOG = r"""
import torch
torch.set_num_threads(2)
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def measure(setting: dict[str, object], backbone: str = "tf_efficientnet_lite0") -> dict[str, float]:
    env = {**os.environ, **setting["env"]}  # type: ignore[dict-item]
    if not setting["env"]:
        env.pop("OMP_WAIT_POLICY", None)
        env.pop("BEAUTYTUNE_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(setting["threads"]), backbone],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def idle_and_busy(
    names: Iterable[str] = tuple(SETTINGS), backbone: str = "tf_efficientnet_lite0"
) -> dict[str, dict[str, dict[str, float]]]:
    """``{setting: {"idle": figures, "busy": figures}}``, idle all first, then busy."""
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        rows[name] = {"idle": measure(SETTINGS[name], backbone)}
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        time.sleep(3)  # the competitor at full speed, and the load average seeing it
        for name in names:
            rows[name]["busy"] = measure(SETTINGS[name], backbone)
    finally:
        hog.kill()
        hog.wait()
    return rows
