"""Process-level speed settings for CPU training."""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import torch

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_done = False


def tune_cpu_runtime() -> None:
    """Stop glibc malloc from returning memory to the OS after every batch.

    With the default thresholds each large activation buffer is mmap'ed and unmapped per
    step, which halves eager PyTorch speed on small CPUs. Idempotent; a no-op off glibc.
    """
    global _done
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
