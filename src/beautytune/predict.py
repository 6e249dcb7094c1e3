"""Batched inference: the one code path behind evaluate, predict and fit's test report."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from beautytune.bundle import Bundle
from beautytune.data.images import ImageError, is_image_path, load_rgb
from beautytune.data.transforms import eval_transform
from beautytune.errors import BeautytuneError
from beautytune.models.registry import Preprocess


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files stay as given (even odd extensions: they get a per-file error); folders recurse."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and is_image_path(f)))
        elif p.exists():
            out.append(p)
        else:
            out.append(p)  # reported as "file not found" per file
    return out


def _batches(paths: list[Path], size: int) -> Iterator[list[Path]]:
    for i in range(0, len(paths), size):
        yield paths[i : i + size]


@torch.no_grad()
def predict_probs(
    model: nn.Module, paths: list[Path], pp: Preprocess, batch_size: int = 32
) -> tuple[np.ndarray, list[str | None]]:
    """Class probabilities for each path (NaN rows where the file is unusable) and errors."""
    model.eval()
    device = next(model.parameters()).device
    tf = eval_transform(pp)
    n_classes = None
    probs: list[np.ndarray] = []
    errors: list[str | None] = []
    for chunk in _batches(paths, batch_size):
        tensors, ok = [], []
        for p in chunk:
            try:
                tensors.append(tf(load_rgb(p)))
                ok.append(True)
                errors.append(None)
            except ImageError as e:
                ok.append(False)
                errors.append(str(e))
        out = None
        if tensors:
            x = torch.stack(tensors).to(device).contiguous(memory_format=torch.channels_last)
            out = torch.softmax(model(x).float(), dim=1).cpu().numpy()
            n_classes = out.shape[1]
        j = 0
        for good in ok:
            if good and out is not None:
                probs.append(out[j])
                j += 1
            else:
                probs.append(np.full(n_classes or 1, np.nan))
    if n_classes is None:
        return np.full((len(paths), 1), np.nan), errors
    width = n_classes
    return np.stack([p if p.shape[0] == width else np.full(width, np.nan) for p in probs]), errors


def predict_paths(
    bundle: Bundle, inputs: list[str], top_k: int = 1, batch_size: int = 32
) -> list[dict[str, Any]]:
    paths = expand_inputs(inputs)
    if not paths:
        raise BeautytuneError("no images found in the given paths")
    probs, errors = predict_probs(bundle.model, paths, bundle.preprocess, batch_size)
    k = max(1, min(top_k, len(bundle.labels)))
    results: list[dict[str, Any]] = []
    for p, row, err in zip(paths, probs, errors, strict=True):
        if err is not None:
            results.append({"path": str(p), "error": err})
            continue
        order = np.argsort(-row)[:k]
        results.append(
            {
                "path": str(p),
                "label": bundle.labels[int(order[0])],
                "confidence": float(row[order[0]]),
                "top_k": [{"label": bundle.labels[int(i)], "probability": float(row[i])} for i in order],
                "probabilities": {lab: float(row[i]) for i, lab in enumerate(bundle.labels)},
            }
        )
    return results
