"""Adaptation to where a model is used, from unlabelled photos of that setting.

AdaBN (Li et al., 2017) re-estimates BatchNorm statistics on the target photos, so each
layer sees inputs standardised the way it saw them in training. Plain AdaBN replaces the
running statistics with the target's; that is right only for a network whose running
statistics *are* its training photos' (BatchNorm trained). beautytune fine-tunes pretrained
backbones with BatchNorm frozen at ImageNet statistics, so their running statistics are
ImageNet's, and plain AdaBN would swap them for the target's: measured on skin_type
(full, frozen BN), re-estimating on the clean validation photos alone takes test macro-F1
from 0.953 to 0.360 (benchmarks/adabn_reference.py). So each bundle stores the BatchNorm
*input* statistics of its own training photos (``bn_source_stats.safetensors``), and
adaptation maps the target's onto them: per channel, target inputs are standardised with
the target's mean and standard deviation and moved to the source's, which folds into new
running statistics

    mean' = mean_t - (mean_s - mean_run) * std_t / std_s,   var' = var_run * var_t / var_s

(plain AdaBN when the running statistics equal the source's). Statistics are measured on one
batch of up to ``SAMPLE`` photos, layer by layer in a single forward pass (each layer's
input already comes through the adapted layers before it; measuring the training photos
alone takes the same sums in chunks). Weights never change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from beautytune.errors import BeautytuneError, InputError
from beautytune.models.network import Classifier
from beautytune.tasks.base import Task

#: photos in the one batch the statistics are measured on (seeded sample when more)
SAMPLE = 128

#: photos a forward pass when only measuring (the training photos' statistics)
_CHUNK = 32


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _named_batchnorms(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _prepare(task: Task, processor: Any, inputs: Sequence[Any], seed: int) -> tuple[dict[str, Any], int, int]:
    prepared, skipped = [], 0
    for item in inputs:
        try:
            prepared.append(task.prepare_input(item, processor))
        except InputError:
            skipped += 1
    if len(prepared) < 2:
        raise BeautytuneError(f"AdaBN needs at least 2 usable photos, got {len(prepared)}")
    if len(prepared) > SAMPLE:
        keep = np.random.default_rng(seed).choice(len(prepared), SAMPLE, replace=False)
        prepared = [prepared[i] for i in sorted(keep)]
    batch, _ = task.collate(processor)([(x, 0) for x in prepared])
    return batch, len(prepared), skipped


@torch.no_grad()
def bn_input_statistics(
    model: Classifier,
    task: Task,
    processor: Any,
    inputs: Sequence[Any],
    source: dict[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Per-channel mean and variance of every BatchNorm's input (``NAME.mean``, ``NAME.var``).

    With ``source`` (statistics of the training photos), each layer's running statistics are
    moved onto the target as it is reached, before it normalises (see the module doc).
    """
    layers = _named_batchnorms(model)
    batch, used, skipped = _prepare(task, processor, inputs, seed)
    # per layer: elements per channel, sum and sum of squares (float64)
    sums: dict[str, list[Any]] = {}

    def hook(name: str, bn: nn.modules.batchnorm._BatchNorm):  # type: ignore[no-untyped-def]
        def measure(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0]
            # per channel (dim 1), no copy; CPU reductions of float32 accumulate in double
            var, mean = torch.var_mean(x, dim=[d for d in range(x.dim()) if d != 1], correction=0)
            mean, var = mean.double(), var.double()
            n = x.numel() // x.shape[1]
            acc = sums.setdefault(name, [0, 0.0, 0.0])
            acc[0] += n
            acc[1] = acc[1] + n * mean
            acc[2] = acc[2] + n * (var + mean * mean)
            if source is not None:
                assert bn.running_mean is not None and bn.running_var is not None
                m_s, v_s = source[f"{name}.mean"].double(), source[f"{name}.var"].double().clamp_min(1e-12)
                m_r, v_r = bn.running_mean.double(), bn.running_var.double()
                ratio = (var / v_s).sqrt()
                bn.running_mean.copy_(mean - (m_s - m_r) * ratio)
                bn.running_var.copy_(v_r * var / v_s)

        return measure

    handles = [bn.register_forward_pre_hook(hook(name, bn)) for name, bn in layers]
    model.eval()
    # Adapting moves each layer as the whole batch reaches it, so it takes one pass; measuring
    # alone is the same sums in chunks, which run far faster than one big batch on a CPU.
    chunk = used if source is not None else _CHUNK
    try:
        for start in range(0, used, chunk):
            model(**{k: v[start : start + chunk] for k, v in batch.items()})
    finally:
        for h in handles:
            h.remove()
    stats: dict[str, torch.Tensor] = {}
    for name, (n, total, squares) in sums.items():
        mean = total / n
        stats[f"{name}.mean"], stats[f"{name}.var"] = (
            mean.float(),
            (squares / n - mean * mean).clamp_min(0).float(),
        )
    return stats, {"images": used, "skipped": skipped}


def source_statistics(
    model: Classifier, task: Task, processor: Any, inputs: Sequence[Any]
) -> dict[str, torch.Tensor]:
    """The training photos' BatchNorm input statistics, to ship in the bundle (empty: no BatchNorm)."""
    if not batchnorm_layers(model):
        return {}
    return bn_input_statistics(model, task, processor, inputs)[0]


def adabn(
    model: Classifier,
    task: Task,
    processor: Any,
    inputs: Sequence[Any],
    source: dict[str, torch.Tensor] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Move every BatchNorm's running statistics onto the photos in ``inputs``, in place.

    ``source``: the bundle's training-photo statistics. Without them the running statistics
    stand in for the source (plain AdaBN), which is only right when BatchNorm was trained.
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise BeautytuneError("this backbone has no BatchNorm layers: AdaBN does not apply to it")
    if source is None:
        source = {}
        for name, bn in _named_batchnorms(model):
            assert bn.running_mean is not None and bn.running_var is not None
            source[f"{name}.mean"], source[f"{name}.var"] = bn.running_mean.clone(), bn.running_var.clone()
        reference = "the model's running statistics (plain AdaBN)"
    else:
        reference = "the training photos' statistics stored in the bundle"
    _, counts = bn_input_statistics(model, task, processor, inputs, source=source, seed=seed)
    return {
        "method": "AdaBN",
        "target_images": counts["images"],
        "skipped": counts["skipped"],
        "batchnorm_layers": len(layers),
        "source statistics": reference,
    }
