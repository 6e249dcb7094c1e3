"""The shared fitters strategies are built from: the Lightning loop and a closed-form head."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from beautytune.config import RunConfig
from beautytune.data import cache
from beautytune.data.records import Record, by_split
from beautytune.errors import BeautytuneError
from beautytune.models.network import Classifier
from beautytune.runtime import inference_device
from beautytune.tasks.base import Task
from beautytune.train.datamodule import BeautyDataModule
from beautytune.train.module import LitClassifier
from beautytune.train.rundir import RunDir
from beautytune.train.trainer import TrainerParts


@dataclass
class FitContext:
    """What a strategy's ``fit`` gets: the task, the built network, the data, the run folder."""

    task: Task
    model: Classifier
    processor: Any
    backbone: str
    cfg: RunConfig
    data: BeautyDataModule
    run: RunDir
    labels: list[str]
    resume: bool = False
    interactive: bool = False
    #: a DDP worker process: trains, and leaves the bundle and report to rank 0
    worker: bool = False
    #: extra Lightning callbacks for every loop this run trains (``auto``'s pruning)
    callbacks: list[L.Callback] = field(default_factory=list)


def context_for(
    task: Task, cfg: RunConfig, records: list[Record], run: RunDir, interactive: bool = False
) -> FitContext:
    """A FitContext for split ``records``: the task's network and processor built for
    their classes, and a data module over them."""
    from beautytune.data.records import class_names

    labels = class_names(records)
    built = task.build(cfg, len(labels))
    data = BeautyDataModule(task, records, labels, built.processor, cfg)
    return FitContext(
        task, built.model, built.processor, built.backbone, cfg, data, run, labels, interactive=interactive
    )


@dataclass
class FitOutcome:
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    #: extra line plots for the report: title -> {"x", "y", "xlabel", "ylabel"}
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the validation split took no part in fitting (so it can calibrate the model)
    val_held_out: bool = True


def lightning_fit(
    ctx: FitContext,
    param_groups: list[dict[str, Any]],
    callbacks: list[L.Callback] | None = None,
    *,
    network: Classifier | None = None,
    data: L.LightningDataModule | None = None,
) -> FitOutcome:
    """Train ``param_groups`` with the Lightning loop; the best checkpoint ends up in the model.

    ``network`` and ``data`` default to the context's; :func:`cached_features_fit` passes the
    head alone (sharing its parameters with ``ctx.model``) and the cached features."""
    if ctx.resume and not ctx.run.has_checkpoint():
        raise BeautytuneError(f"cannot resume: {ctx.run.last_checkpoint} not found; start a new run")
    network = network if network is not None else ctx.model
    lit = LitClassifier(network, param_groups, ctx.cfg, len(ctx.labels), ctx.data.class_weights())
    parts = TrainerParts(ctx.cfg, ctx.run, [*(callbacks or []), *ctx.callbacks], ctx.interactive)
    ckpt_path = str(ctx.run.last_checkpoint) if ctx.resume else None
    parts.trainer.fit(lit, datamodule=data if data is not None else ctx.data, ckpt_path=ckpt_path)
    if ctx.worker:  # rank 0 writes the bundle and the report
        raise SystemExit(0)
    best = parts.checkpoint.best_model_path
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        lit.load_state_dict(state)
    if lit.ema is not None:
        network.load_state_dict(lit.ema.module.state_dict())
    ctx.model.cpu()
    trainable = sum(p.numel() for p in ctx.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in ctx.model.parameters())
    info = {
        "epochs run": parts.trainer.current_epoch,
        "best val macro-F1": round(float(parts.checkpoint.best_model_score or 0), 4),
        "trainable params": trainable,
        "trainable share": f"{100 * trainable / max(1, total):.2f}%",
        "stopped by time budget": parts.stopped_by_budget,
        "stopped early": parts.stopped_early,
    }
    return FitOutcome(parts.history.rows, info)


def cached_features_fit(
    ctx: FitContext, param_groups: list[dict[str, Any]], callbacks: list[L.Callback] | None = None
) -> FitOutcome:
    """The Lightning loop on the head alone, fed frozen features computed once (and cached
    across runs: a ``features`` run on the same data and backbone has already made them)."""
    from beautytune.train.feature_data import FeatureDataModule, HeadOnly

    records = by_split(ctx.data.records, "train") + by_split(ctx.data.records, "val")
    feats = extract_features(ctx, records, feature_key(ctx))
    n_train = len(by_split(ctx.data.records, "train"))
    data = FeatureDataModule(
        feats[:n_train],
        ctx.data.targets(records[:n_train]),
        feats[n_train:],
        ctx.data.targets(records[n_train:]),
        ctx.cfg,
    )
    ctx.model.head.train()  # extraction left the network in eval mode
    outcome = lightning_fit(ctx, param_groups, callbacks, network=HeadOnly(ctx.model.head), data=data)
    outcome.info["backbone features"] = "computed once, cached"
    return outcome


def closed_form_head_fit(
    ctx: FitContext,
    fit_head: Callable[[np.ndarray, np.ndarray], dict[str, Any]],
    splits: tuple[str, ...] = ("train", "val"),
) -> FitOutcome:
    """Frozen features of ``splits`` -> ``fit_head(x, y)``.

    Alone (``features``) there are no epochs to tune, so train and val both fit the head;
    before fine-tuning (``lp-ft``) the probe sees train only, val still picks the epoch.
    """
    train = [r for s in splits for r in by_split(ctx.data.records, s)]
    feats = extract_features(ctx, train, feature_key(ctx))
    y = np.array(ctx.data.targets(train))
    info = {**fit_head(feats, y), "trainable params": sum(p.numel() for p in ctx.model.fc.parameters())}
    return FitOutcome([], info, val_held_out="val" not in splits)


def feature_key(ctx: FitContext) -> dict[str, Any]:
    """What frozen features depend on besides the examples: the feature cache's key."""
    key: dict[str, Any] = {
        "task": ctx.task.name,
        "backbone": ctx.backbone,
        "init": ctx.cfg.init,
        "weights": ctx.cfg.weights,
        "processor": ctx.task.processor_meta(ctx.processor),
    }
    if ctx.cfg.init == "random" and not ctx.cfg.weights:
        key["seed"] = ctx.cfg.seed  # random weights differ by seed
    return key


@torch.no_grad()
def extract_features(ctx: FitContext, records: list[Record], key: dict[str, Any]) -> np.ndarray:
    """Pooled backbone features on the training accelerator, from the cache when seen before."""
    cached = cache.load_features(key, records)
    if cached is not None:
        return cached
    from rich.progress import track

    device = inference_device(ctx.cfg.accelerator)
    model = ctx.model.eval().to(device)
    # Similar sizes batch together (less padding for texts); features go back in record order.
    order = sorted(range(len(records)), key=lambda i: ctx.task.cost(ctx.task.record_input(records[i])))
    out = []
    loader = ctx.data.eval_loader([records[i] for i in order])
    # A DataLoader draws from the global RNG: forked, so what trains next (dropout masks)
    # is the same whether the features came from here or from the cache.
    with torch.random.fork_rng(devices=[]):
        for inputs, _ in track(loader, description="extracting features", disable=not ctx.interactive):
            inputs = {k: v.to(device) for k, v in inputs.items()}
            out.append(model.features(**inputs).float().cpu().numpy())
    model.cpu()
    feats = np.empty((len(records), out[0].shape[1]), dtype=np.float32)
    feats[order] = np.concatenate(out)
    cache.save_features(key, records, feats)
    return feats
