"""``fit``: data -> audit -> split -> model + strategy -> Lightning loop -> bundle -> report.

Everything is validated before the run folder is created, so bad input leaves nothing
behind; everything the run decides is written into the folder so ``--resume`` can pick
it up from there alone.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from beautytune.bundle import save_bundle, update_bundle_metrics
from beautytune.config import RunConfig
from beautytune.data import cache
from beautytune.data.audit import AuditReport, audit_records
from beautytune.data.dataset import EpochSampler, ImageDataset
from beautytune.data.records import Record, by_split, class_names
from beautytune.data.sources import load_records
from beautytune.data.split import merge_duplicate_groups, split_records, split_summary
from beautytune.data.transforms import eval_transform, train_transform
from beautytune.errors import BeautytuneError, DataError
from beautytune.evaluate.evaluate import evaluate_records
from beautytune.io import write_json_atomic, write_text_atomic
from beautytune.models.network import Classifier, HeadConfig, build_classifier
from beautytune.models.registry import Preprocess, get_spec
from beautytune.runtime import quiet_lightning, tune_cpu_runtime
from beautytune.strategies import Strategy, get_strategy
from beautytune.strategies.features import FeaturesStrategy
from beautytune.train.callbacks import AtomicCheckpointIO, History, RngState
from beautytune.train.module import LitClassifier

CONFIG_JSON = "config.json"
SPLIT_CSV = "split.csv"


@dataclass
class FitResult:
    run_dir: Path
    bundle: Path
    report: Path
    metrics: dict[str, Any]
    wall_time_s: float
    train_time_s: float
    skipped: list[dict[str, Any]]


def fit(
    cfg: RunConfig, *, resume: bool = False, comparisons: list[dict[str, Any]] | None = None
) -> FitResult:
    cfg.validate()
    tune_cpu_runtime()
    quiet_lightning()
    start = time.perf_counter()
    run_dir = Path(cfg.out)
    worker = _launched_worker()
    if resume:
        cfg = _resumed_config(run_dir, cfg)
    elif not worker and run_dir.exists() and any(run_dir.iterdir()):
        raise BeautytuneError(
            f"run folder {run_dir} already exists: pass --resume to continue it, or choose another --out"
        )
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    records = load_records(
        cfg.data,
        path_col=cfg.path_col,
        label_col=cfg.label_col,
        group_col=cfg.group_col,
        split_col=cfg.split_col,
    )
    audit = audit_records(records, progress=_interactive())
    usable = audit.usable()
    _check_no_class_lost(records, usable)
    if resume or worker:
        records = _read_split(run_dir / SPLIT_CSV)
    else:
        usable = merge_duplicate_groups(usable, audit.duplicates)
        records = split_records(usable, seed=cfg.seed, val_frac=cfg.val_frac, test_frac=cfg.test_frac)
    labels = class_names(records)
    spec = get_spec(cfg.backbone)
    pp = spec.preprocess if cfg.image_size is None else replace(spec.preprocess, input_size=cfg.image_size)
    strategy = get_strategy(cfg.strategy)
    head = HeadConfig(cfg.head_hidden, cfg.head_dropout)
    if isinstance(strategy, FeaturesStrategy) and head.hidden:
        raise BeautytuneError("the features strategy fits a linear classifier: drop --head-hidden")
    model, weights_source = build_classifier(spec, len(labels), head, init=cfg.init, weights=cfg.weights)

    created = not run_dir.exists()
    try:
        if not resume and not worker:
            _write_run_files(run_dir, cfg, records, audit)
        t0 = time.perf_counter()
        if isinstance(strategy, FeaturesStrategy):
            history: list[dict[str, Any]] = []
            info = _fit_features(strategy, model, cfg, records, labels, pp)
        else:
            history, info = _fit_gradients(strategy, model, cfg, records, labels, pp, run_dir, resume)
            if worker:  # rank 0 writes the bundle and the report
                raise SystemExit(0)
        train_time = time.perf_counter() - t0
    except BaseException:
        if created and not worker and not (run_dir / "checkpoints").exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing worth resuming: leave no trace
        raise

    fingerprint = cache.data_fingerprint(records)
    bundle_dir = save_bundle(
        run_dir / "bundle",
        model,
        labels=labels,
        backbone=spec.name,
        weights_source=weights_source,
        preprocess=pp,
        head=head,
        strategy=strategy.name,
        data_fingerprint=fingerprint,
    )
    context = {
        "data": cfg.data,
        "backbone": spec.name,
        "weights": weights_source,
        "strategy": strategy.name,
        "input size": pp.input_size,
        "seed": cfg.seed,
        "train/val/test images": "/".join(str(len(by_split(records, s))) for s in ("train", "val", "test")),
        "train time (s)": round(train_time, 1),
        **info,
    }
    skipped = audit.skipped_rows()
    metrics = evaluate_records(
        model,
        pp,
        labels,
        by_split(records, "test"),
        run_dir / "report",
        history=history,
        context=context,
        comparisons=comparisons,
        skipped=skipped,
        title=f"beautytune: {spec.name} / {strategy.name} (test split)",
        comparison_name=f"{spec.name} / {strategy.name} / {cfg.init}",
    )
    wall = time.perf_counter() - start
    summary = {k: metrics[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "ece")}
    update_bundle_metrics(bundle_dir, {"test": summary, "wall_time_s": round(wall, 1)})
    return FitResult(
        run_dir, bundle_dir, run_dir / "report" / "index.html", metrics, wall, train_time, skipped
    )


def _check_no_class_lost(records: list[Record], usable: list[Record]) -> None:
    lost = sorted({r.label for r in records} - {r.label for r in usable})
    if lost:
        raise DataError(
            f"class(es) {', '.join(lost)} have no usable images (all were skipped by the audit): "
            "fix or replace those files, or drop the class; `beautytune audit DATA` lists why"
        )


def _launched_worker() -> bool:
    """True in the extra processes Lightning's DDP launcher starts for multi-GPU training.

    They re-run the same command: they must reuse rank 0's split and run folder, train,
    and leave the bundle and report to rank 0.
    """
    return int(os.environ.get("LOCAL_RANK", "0") or 0) > 0 or int(os.environ.get("NODE_RANK", "0") or 0) > 0


def _interactive() -> bool:
    return sys.stderr.isatty()


def _resumed_config(run_dir: Path, cfg: RunConfig) -> RunConfig:
    path = run_dir / CONFIG_JSON
    if not path.is_file():
        raise BeautytuneError(f"cannot resume: {path} not found (was {run_dir} made by beautytune fit?)")
    saved = RunConfig.load(path)
    if not (run_dir / "checkpoints" / "last.ckpt").is_file() and saved.strategy != "features":
        raise BeautytuneError(f"cannot resume: {run_dir}/checkpoints/last.ckpt not found; start a new run")
    return saved


def _write_run_files(run_dir: Path, cfg: RunConfig, records: list[Record], audit: AuditReport) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / CONFIG_JSON, {**cfg.to_dict(), "versions": _versions()})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "label", "group", "split"])
    for r in records:
        w.writerow([r.path, r.label, r.group, r.split])
    write_text_atomic(run_dir / SPLIT_CSV, buf.getvalue())
    write_json_atomic(run_dir / "split_summary.json", split_summary(records))
    audit.write(run_dir / "audit")


def _read_split(path: Path) -> list[Record]:
    if not path.is_file():
        raise BeautytuneError(f"cannot resume: {path} not found")
    with path.open(newline="") as f:
        return [Record(r["path"], r["label"], r["group"], r["split"]) for r in csv.DictReader(f)]


def _versions() -> dict[str, str]:
    import timm

    from beautytune import __version__

    return {
        "beautytune": __version__,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "lightning": L.__version__,
        "python": sys.version.split()[0],
    }


def _fit_features(
    strategy: FeaturesStrategy,
    model: Classifier,
    cfg: RunConfig,
    records: list[Record],
    labels: list[str],
    pp: Preprocess,
) -> dict[str, Any]:
    train = by_split(records, "train") + by_split(records, "val")  # no epochs to tune: use both
    index = {lab: i for i, lab in enumerate(labels)}
    key: dict[str, Any] = {
        "backbone": cfg.backbone,
        "init": cfg.init,
        "weights": cfg.weights,
        "preprocess": pp.to_dict(),
    }
    if cfg.init == "random" and not cfg.weights:
        key["seed"] = cfg.seed  # random weights differ by seed
    feats = extract_features(model, train, pp, key=key, batch_size=cfg.batch_size)
    y = np.array([index[r.label] for r in train])
    info = strategy.fit_head(model, feats, y, cfg)
    return {"classifier": info["classifier"], "C": info["C"]}


@torch.no_grad()
def extract_features(
    model: Classifier, records: list[Record], pp: Preprocess, *, key: dict[str, Any], batch_size: int = 32
) -> np.ndarray:
    """Pooled backbone features, from the cache when this data and backbone were seen before."""
    cached = cache.load_features(key, records)
    if cached is not None:
        return cached
    ds = ImageDataset(records, {r.label: 0 for r in records}, eval_transform(pp))
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False)
    model.eval()
    backbone = model.backbone.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    out = []
    from rich.progress import track

    for x, _ in track(loader, description="extracting features", disable=not _interactive()):
        out.append(backbone(x.contiguous(memory_format=torch.channels_last)).float().numpy())
    feats = np.concatenate(out)
    cache.save_features(key, records, feats)
    return feats


def _fit_gradients(
    strategy: Strategy,
    model: Classifier,
    cfg: RunConfig,
    records: list[Record],
    labels: list[str],
    pp: Preprocess,
    run_dir: Path,
    resume: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    index = {lab: i for i, lab in enumerate(labels)}
    train_recs, val_recs = by_split(records, "train"), by_split(records, "val")
    if not val_recs:
        raise DataError("the validation split is empty: add images from more groups or lower --val-frac")
    train_ds = ImageDataset(train_recs, index, train_transform(pp, cfg.augment), keep_size=pp.resize_size)
    val_ds = ImageDataset(val_recs, index, eval_transform(pp), keep_size=pp.resize_size)
    sampler = EpochSampler(train_ds.targets, cfg.seed, balanced=cfg.imbalance == "sample")
    loader_kw: dict[str, Any] = {"num_workers": cfg.workers, "persistent_workers": cfg.workers > 0}
    train_dl = DataLoader(
        train_ds,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_ds) > cfg.batch_size,
        **loader_kw,
    )
    val_dl = DataLoader(val_ds, batch_size=cfg.batch_size * 2, shuffle=False, **loader_kw)

    weights = None
    if cfg.imbalance == "weighted":
        counts = np.bincount(train_ds.targets, minlength=len(labels)).astype(np.float64)
        weights = torch.tensor(len(train_ds) / (len(labels) * np.maximum(counts, 1)), dtype=torch.float32)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    lit = LitClassifier(model, strategy, cfg, len(labels), weights)
    history_cb = History(run_dir / "history.json")
    ckpt_dir = run_dir / "checkpoints"
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val_macro_f1",
        mode="max",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    callbacks: list[L.Callback] = [
        checkpoint,
        history_cb,
        RngState(),
        L.pytorch.callbacks.EarlyStopping("val_macro_f1", mode="max", patience=cfg.patience),
        *strategy.callbacks(cfg),
    ]
    timer = None
    if cfg.time_budget:
        timer = L.pytorch.callbacks.Timer(duration=timedelta(seconds=cfg.time_budget), interval="step")
        callbacks.append(timer)
    if _interactive():
        callbacks.append(L.pytorch.callbacks.RichProgressBar())
    else:
        callbacks.append(_EpochPrinter())
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        precision=cfg.precision,  # type: ignore[arg-type]
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(run_dir),
        logger=L.pytorch.loggers.CSVLogger(str(run_dir), name="logs", version=""),
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=1,
        enable_progress_bar=_interactive(),
        deterministic="warn",
    )
    ckpt_path = str(ckpt_dir / "last.ckpt") if resume else None
    trainer.fit(lit, train_dl, val_dl, ckpt_path=ckpt_path)
    best = checkpoint.best_model_path
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        lit.load_state_dict(state)
    model = model.cpu()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info = {
        "epochs run": trainer.current_epoch,
        "best val macro-F1": round(float(checkpoint.best_model_score or 0), 4),
        "trainable params": trainable,
        "stopped by time budget": bool(timer and (timer.time_remaining("train") or 0) <= 0),
    }
    return history_cb.rows, info


class _EpochPrinter(L.Callback):
    """A one-line-per-epoch log when there is no terminal for a progress bar (CI, logs)."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        run = Path(trainer.default_root_dir).name
        parts = [f"[{run}] epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        parts += [f"{k}={float(m[k]):.4f}" for k in ("val_loss", "val_macro_f1") if k in m]
        print("  ".join(parts), file=sys.stderr, flush=True)
