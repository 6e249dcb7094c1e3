"""Adaptation to where a model is used, from unlabelled photos of that setting.

AdaBN (Li et al., 2017): BatchNorm's running mean and variance are the only statistics of
the training photos a CNN carries; re-estimating them on the target photos (another phone,
shop lighting, background) moves the network to the new input distribution without a label
or a gradient. The weights do not change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from beautytune.errors import BeautytuneError, InputError
from beautytune.models.network import Classifier
from beautytune.tasks.base import Task


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adabn(
    model: Classifier, task: Task, processor: Any, inputs: Sequence[Any], batch_size: int = 32
) -> dict[str, Any]:
    """Re-estimate every BatchNorm's running statistics on ``inputs`` (unlabelled), in place.

    Statistics are the plain average over all target batches (``momentum=None``), not an
    exponential one, so the order of the photos does not matter. Returns what was done.
    """
    layers = batchnorm_layers(model)
    if not layers:
        raise BeautytuneError("this backbone has no BatchNorm layers: AdaBN does not apply to it")
    prepared, skipped = [], 0
    for item in inputs:
        try:
            prepared.append(task.prepare_input(item, processor))
        except InputError:
            skipped += 1
    if len(prepared) < 2:
        raise BeautytuneError(f"AdaBN needs at least 2 usable target photos, got {len(prepared)}")
    collate = task.collate(processor)
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for start in range(0, len(prepared), batch_size):
            chunk = prepared[start : start + batch_size]
            if len(chunk) < 2 and start > 0:  # a batch of one has no variance: fold it away
                break
            batch, _ = collate([(x, 0) for x in chunk])
            model(**batch)
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    return {
        "method": "AdaBN",
        "target_images": len(prepared),
        "skipped": skipped,
        "batchnorm_layers": len(layers),
    }
