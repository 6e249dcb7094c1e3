"""The loop users write today: torchvision ImageFolder + DataLoader + a timm model.

Decodes and resizes every photo every epoch (PIL), on ``workers`` loader processes, the way
the tutorials do; the model, batch and precision are the ones beautytune's side uses.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from beautytune.models.registry import Preprocess


def _loader(folder: Path, pp: Preprocess, batch: int, workers: int, train: bool) -> DataLoader[Any]:
    from torchvision import datasets
    from torchvision import transforms as T

    norm = [T.ToTensor(), T.Normalize(pp.mean, pp.std)]
    if train:
        tf = T.Compose(
            [T.RandomResizedCrop(pp.input_size, scale=(0.5, 1.0)), T.RandomHorizontalFlip(), *norm]
        )
    else:
        tf = T.Compose([T.Resize(pp.resize_size), T.CenterCrop(pp.input_size), *norm])
    ds = datasets.ImageFolder(str(folder), transform=tf)
    return DataLoader(
        ds,
        batch_size=batch,
        shuffle=train,
        num_workers=workers,
        drop_last=train,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=workers > 0,
    )


def autocast(device: str, precision: str) -> Any:
    if precision.startswith("bf16"):
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    if precision.startswith("16"):
        return torch.autocast(device_type=device, dtype=torch.float16)
    return nullcontext()


def plain_train(
    folder: Path,
    backbone: str,
    pp: Preprocess,
    batch: int,
    epochs: int,
    workers: int,
    device: str,
    precision: str,
) -> list[tuple[int, float]]:
    """(images, seconds) of each epoch of full fine-tuning, loading included."""
    import timm

    loader = _loader(folder, pp, batch, workers, train=True)
    n_classes = len(loader.dataset.classes)  # type: ignore[attr-defined]
    model = timm.create_model(backbone, num_classes=n_classes).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    epochs_seen: list[tuple[int, float]] = []
    for _ in range(epochs):
        n, t = 0, time.perf_counter()
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with autocast(device, precision):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            n += len(y)
        if device == "cuda":
            torch.cuda.synchronize()
        epochs_seen.append((n, time.perf_counter() - t))
    return epochs_seen


def plain_infer(
    folder: Path,
    model: torch.nn.Module,
    pp: Preprocess,
    batch: int,
    workers: int,
    device: str,
    precision: str,
) -> tuple[int, float]:
    """(images, seconds) of one pass of eval-transform inference, loading included."""
    loader = _loader(folder, pp, batch, workers, train=False)
    model = model.to(device).eval()
    n, t = 0, time.perf_counter()
    with torch.inference_mode(), autocast(device, precision):
        for x, _ in loader:
            model(x.to(device, non_blocking=True)).float().softmax(-1).cpu()
            n += len(x)
    return n, time.perf_counter() - t
