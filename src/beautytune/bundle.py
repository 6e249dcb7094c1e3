"""A fine-tuned model on disk: ``model.safetensors`` + ``bundle.json``, nothing pickled."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from beautytune import __version__
from beautytune.errors import BundleError
from beautytune.io import write_json_atomic
from beautytune.models.network import Classifier, HeadConfig, build_classifier
from beautytune.models.registry import Preprocess, get_spec

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "bundle.json"


@dataclass
class Bundle:
    model: Classifier
    labels: list[str]
    preprocess: Preprocess
    meta: dict[str, Any]
    path: Path


def save_bundle(
    out: Path,
    model: Classifier,
    *,
    labels: list[str],
    backbone: str,
    weights_source: str,
    preprocess: Preprocess,
    head: HeadConfig,
    strategy: str,
    data_fingerprint: str,
    metrics: dict[str, Any] | None = None,
    task: str = "image-classification",
) -> Path:
    """Write the bundle into a temp folder beside ``out`` and rename it into place."""
    meta = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "modality": "image",
        "backbone": backbone,
        "weights_source": weights_source,
        "labels": labels,
        "preprocess": preprocess.to_dict(),
        "head": {"hidden": list(head.hidden), "dropout": head.dropout, "num_classes": len(labels)},
        "strategy": strategy,
        "data_fingerprint": data_fingerprint,
        "metrics": metrics or {},
        "beautytune_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        write_json_atomic(tmp / META_FILE, meta)
        # mkdtemp makes a private folder; a bundle is meant to be shared and served.
        tmp.chmod(0o755)
        (tmp / WEIGHTS_FILE).chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def update_bundle_metrics(path: Path, metrics: dict[str, Any]) -> None:
    meta = read_meta(path)
    meta["metrics"] = metrics
    write_json_atomic(path / META_FILE, meta)


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = Path(path) / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"{path} is not a beautytune bundle: {META_FILE} is missing")
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{meta_path} is not valid JSON ({e}): re-export the bundle") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise BundleError(
            f"{path} has bundle format_version {version!r}; this beautytune {__version__} reads "
            f"versions 1..{FORMAT_VERSION}: upgrade beautytune or re-export the bundle"
        )
    for key in ("backbone", "labels", "preprocess", "head"):
        if key not in meta:
            raise BundleError(f"{meta_path} lacks '{key}': the bundle is incomplete, re-export it")
    return meta


def load_bundle(path: str | Path) -> Bundle:
    """Rebuild the architecture (no original weights needed) and load the bundle's weights."""
    path = Path(path)
    meta = read_meta(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{path} is not a complete bundle: {WEIGHTS_FILE} is missing")
    spec = get_spec(meta["backbone"])
    head = HeadConfig(tuple(meta["head"].get("hidden", ())), float(meta["head"].get("dropout", 0.0)))
    labels = list(meta["labels"])
    model, _ = build_classifier(spec, len(labels), head, init="random")
    try:
        state = load_file(str(weights))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0]
        raise BundleError(f"{weights} does not fit backbone '{meta['backbone']}': {first}") from None
    model.eval()
    return Bundle(model, labels, Preprocess.from_dict(meta["preprocess"]), meta, path)
