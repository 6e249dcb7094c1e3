"""Process-level speed settings for CPU training."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Literal

import torch

from beautytune.errors import BeautytuneError

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False


Work = Literal["train", "infer"]


def tune_cpu_runtime(workers: int = 0, work: Work = "train") -> None:
    """Threads for ``work`` (:func:`configure_threads`), and glibc malloc kept from
    returning memory to the OS after every batch.

    With the default thresholds each large activation buffer is mmap'ed and unmapped per
    step, which halves eager PyTorch speed on small CPUs. Idempotent; a no-op off glibc.
    """
    global _done
    configure_threads(workers, work)
    if _done or os.name != "posix":
        return
    _done = True
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):
        pass


def core_ids() -> list[int]:
    """The cores this process may run on (its affinity mask: a container's or taskset's share)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0)) or [0]
    return list(range(os.cpu_count() or 1))


def free_cores(sample_s: float = 0.1) -> int:
    """Cores of :func:`core_ids` that no other process is busy on, measured over ``sample_s``."""
    import psutil

    ids = core_ids()
    load = psutil.cpu_percent(interval=sample_s, percpu=True)
    busy = sum(load[i] for i in ids if i < len(load)) / 100.0
    return max(1, round(len(ids) - busy))


def configure_threads(workers: int = 0, work: Work = "infer") -> int:
    """PyTorch's intra-op threads for ``work``, less one per data worker.

    Two CPU-bound jobs that each spin one OpenMP thread per core make eager inference up to
    x80 slower (threads spin-waiting on a core someone else holds), so OpenMP's wait policy
    is passive (set in ``beautytune/__init__.py``, before torch loads OpenMP). Inference
    (small batches, many short parallel regions) then gets only the cores actually free: a
    thread that must be woken per operator costs more than it brings. Training batches are
    long parallel regions that share busy cores well under a passive wait, so training takes
    every core of the affinity mask (benchmarks/busy_machine.py measures both).
    ``BEAUTYTUNE_THREADS=N`` overrides, ``=torch`` keeps torch's own choice. Returns the
    thread count in force.
    """
    wanted = os.environ.get("BEAUTYTUNE_THREADS", "").strip().lower()
    if wanted == "torch":
        return torch.get_num_threads()
    if wanted:
        try:
            threads = max(1, int(wanted))
        except ValueError:
            raise BeautytuneError(f"BEAUTYTUNE_THREADS={wanted!r}: use a whole number or 'torch'") from None
    else:
        cores = len(core_ids()) if work == "train" else free_cores()
        threads = max(1, cores - max(0, workers))
    torch.set_num_threads(threads)
    return threads


def quiet_lightning() -> None:
    """Keep Lightning's banner lines (GPU/TPU availability, tips) out of the user's output."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*least populated class in y.*")


def inference_device(accelerator: str = "auto") -> torch.device:
    """The device evaluation and feature extraction run on: the training accelerator's."""
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if accelerator == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
