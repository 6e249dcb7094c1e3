"""Feature cache keyed by fingerprints, so re-running on the same data and backbone is free."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from beautytune.data.records import Record
from beautytune.io import write_bytes_atomic


def cache_root() -> Path:
    return Path(os.environ.get("BEAUTYTUNE_CACHE", Path.home() / ".cache" / "beautytune"))


def file_fingerprint(path: str) -> str:
    """Path, size and mtime: cheap, and changes whenever the file is replaced or edited."""
    try:
        st = os.stat(path)
        return f"{path}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"{path}|missing"


def record_fingerprint(record: Record) -> str:
    """A text example is its text; an image is its file (path, size, mtime)."""
    if record.text is not None:
        return f"{record.path}|{hashlib.sha256(record.text.encode('utf-8', 'replace')).hexdigest()}"
    return file_fingerprint(record.path)


def data_fingerprint(records: list[Record]) -> str:
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r.path):
        h.update(f"{record_fingerprint(r)}|{r.label}|{r.split}\n".encode())
    return h.hexdigest()[:16]


def _key(model_key: dict[str, Any], records: list[Record]) -> str:
    h = hashlib.sha256(json.dumps(model_key, sort_keys=True).encode())
    for r in records:
        h.update(record_fingerprint(r).encode() + b"\n")
    return h.hexdigest()[:24]


def load_features(model_key: dict[str, Any], records: list[Record]) -> np.ndarray | None:
    path = cache_root() / "features" / f"{_key(model_key, records)}.npy"
    if not path.is_file():
        return None
    try:
        arr: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return arr if arr.shape[0] == len(records) else None


def save_features(model_key: dict[str, Any], records: list[Record], feats: np.ndarray) -> Path:
    import io

    path = cache_root() / "features" / f"{_key(model_key, records)}.npy"
    buf = io.BytesIO()
    np.save(buf, feats.astype(np.float32), allow_pickle=False)
    write_bytes_atomic(path, buf.getvalue())
    return path


def weights_fingerprint(module: Any) -> str:
    """A digest of a module's state (parameters and buffers): what its outputs depend on."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


def load_tensors(kind: str, model_key: dict[str, Any], records: list[Record]) -> dict[str, Any] | None:
    """Named tensors saved by :func:`save_tensors` under the same key, or None."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = cache_root() / kind / f"{_key(model_key, records)}.safetensors"
    if not path.is_file():
        return None
    try:
        return dict(load_file(str(path)))
    except (OSError, SafetensorError):
        return None


def save_tensors(
    kind: str, model_key: dict[str, Any], records: list[Record], tensors: dict[str, Any]
) -> None:
    from safetensors.torch import save

    write_bytes_atomic(
        cache_root() / kind / f"{_key(model_key, records)}.safetensors",
        save({k: v.contiguous() for k, v in tensors.items()}),
    )
