"""A fine-tuned model on disk: ``model.safetensors`` + ``bundle.json`` (+ task files), nothing pickled.

``bundle.json`` is read into a typed :class:`BundleMeta`; the task named in it rebuilds
the architecture and the processor, so loading never needs the training data or the
original weights package.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from beautytune import __version__
from beautytune.errors import BundleError
from beautytune.io import exchange_paths, write_json_atomic
from beautytune.models.network import Classifier
from beautytune.tasks import TASKS, get_task
from beautytune.tasks.base import Task

FORMAT_VERSION = 2  # 2: "processor" (any task) replaced format 1's image-only "preprocess"
WEIGHTS_FILE = "model.safetensors"
#: BatchNorm input statistics of the training photos, for adaptation (inference/adapt.py)
SOURCE_STATS_FILE = "bn_source_stats.safetensors"
META_FILE = "bundle.json"


@dataclass
class BundleMeta:
    task: str
    modality: str
    backbone: str
    weights_source: str
    labels: list[str]
    processor: dict[str, Any]
    head: dict[str, Any]
    strategy: str = ""
    data_fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    #: adaptation to a target setting after training (``beautytune adapt``), if any
    adaptation: dict[str, Any] = field(default_factory=dict)
    beautytune_version: str = __version__
    created: str = ""
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: Path) -> BundleMeta:
        version = d.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise BundleError(
                f"{where} has bundle format_version {version!r}; this beautytune {__version__} reads "
                f"versions 1..{FORMAT_VERSION}: upgrade beautytune or re-export the bundle"
            )
        if version == 1:  # beautytune 0.1: image classification, preprocessing under "preprocess"
            d = {**d, "processor": d.get("preprocess"), "task": d.get("task", "image-classification")}
        for key in ("backbone", "labels", "processor", "head", "task"):
            if d.get(key) is None:
                raise BundleError(
                    f"{where / META_FILE} lacks '{key}': the bundle is incomplete, re-export it"
                )
        if d["task"] not in TASKS:
            raise BundleError(
                f"{where} is a '{d['task']}' bundle, which this beautytune {__version__} cannot load "
                f"(it knows {', '.join(TASKS)}): upgrade beautytune"
            )
        d = {**d, "modality": d.get("modality") or get_task(d["task"]).modality}
        known = set(cls.__dataclass_fields__)
        meta = cls(**{k: v for k, v in d.items() if k in known})
        meta.format_version = FORMAT_VERSION if version == 1 else version
        return meta


@dataclass
class Bundle:
    model: Classifier
    processor: Any
    meta: BundleMeta
    path: Path
    task: Task
    #: BatchNorm input statistics of the training photos (AdaBN's reference), if stored
    bn_source: dict[str, torch.Tensor] | None = None

    @property
    def labels(self) -> list[str]:
        return self.meta.labels


def save_bundle(
    out: Path,
    model: Classifier,
    meta: BundleMeta,
    task: Task,
    processor: Any,
    bn_source: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the bundle into a temp folder beside ``out``, then swap it in atomically."""
    meta.created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        if bn_source:
            save_file({k: v.contiguous().cpu() for k, v in bn_source.items()}, str(tmp / SOURCE_STATS_FILE))
        task.save_files(processor, model, tmp)
        write_json_atomic(tmp / META_FILE, meta.to_dict())
        # mkdtemp makes a private folder; a bundle is meant to be shared and served.
        for p in [tmp, *tmp.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        if out.exists():
            exchange_paths(tmp, out)  # the old bundle is now at tmp
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def update_bundle_metrics(path: Path, metrics: dict[str, Any]) -> None:
    meta = json.loads((path / META_FILE).read_text())
    meta["metrics"] = metrics
    write_json_atomic(path / META_FILE, meta)


def read_meta(path: str | Path) -> BundleMeta:
    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise BundleError(f"{path} is not a beautytune bundle: {META_FILE} is missing")
    try:
        raw = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise BundleError(f"{meta_path} is not valid JSON ({e}): re-export the bundle") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{meta_path} is not a bundle description: re-export the bundle")
    return BundleMeta.from_dict(raw, path)


def load_bundle(path: str | Path) -> Bundle:
    """The task named in ``bundle.json`` rebuilds the architecture; the weights load into it."""
    path = Path(path)
    meta = read_meta(path)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise BundleError(f"{path} is not a complete bundle: {WEIGHTS_FILE} is missing")
    task = get_task(meta.task)
    model, processor = task.load(meta.backbone, meta.processor, meta.head, len(meta.labels), path)
    try:
        state = load_file(str(weights))
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0]
        raise BundleError(f"{weights} does not fit backbone '{meta.backbone}': {first}") from None
    model.eval()
    stats = path / SOURCE_STATS_FILE
    bn_source = load_file(str(stats)) if stats.is_file() else None
    return Bundle(model, processor, meta, path, task, bn_source)
