"""Batched inference: the one code path behind evaluate, predict and fit's test report."""

from __future__ import annotations

from collections.abc import Iterable
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
        else:
            out.append(p)  # a missing or unreadable file is reported per file
    return out


@torch.no_grad()
def predict_probs(
    model: nn.Module, paths: list[Path], pp: Preprocess, batch_size: int = 32
) -> tuple[np.ndarray, list[str | None]]:
    """Class probabilities per path (a NaN row where the file is unusable) and per-path errors."""
    model.eval()
    device = next(model.parameters()).device
    tf = eval_transform(pp)
    rows: dict[int, np.ndarray] = {}
    errors: list[str | None] = [None] * len(paths)
    for start in range(0, len(paths), batch_size):
        idx, tensors = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                tensors.append(tf(load_rgb(paths[i])))
                idx.append(i)
            except ImageError as e:
                errors[i] = str(e)
        if tensors:
            x = torch.stack(tensors).to(device).contiguous(memory_format=torch.channels_last)
            out = torch.softmax(model(x).float(), dim=1).cpu().numpy()
            rows.update(zip(idx, out, strict=True))
    width = next(iter(rows.values())).shape[0] if rows else 1
    probs = np.full((len(paths), width), np.nan)
    for i, row in rows.items():
        probs[i] = row
    return probs, errors


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
