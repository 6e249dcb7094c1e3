"""``fit``: data -> audit -> split -> task + backbone -> strategy.fit -> bundle -> report.

Everything that can be checked without reading data (options, strategy, backbone and its
weights) is checked first; nothing is written before the audit has passed, so bad input
leaves no run folder behind; everything the run decides is written into the folder so
``--resume`` can pick it up from there alone.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch

from beautytune.config import RunConfig
from beautytune.data import cache
from beautytune.data.records import Record, by_split
from beautytune.data.split import (
    LABEL_ISSUE,
    drop_examples,
    keep_shots,
    merge_duplicate_groups,
    split_summary,
)
from beautytune.errors import BeautytuneError, DataError
from beautytune.evaluate.evaluate import macro_f1_of
from beautytune.inference.adapt import source_statistics
from beautytune.inference.bundle import BundleMeta, save_bundle, update_bundle_metrics
from beautytune.inference.calibration import calibrate_predictor, describe
from beautytune.inference.predictor import Predictor
from beautytune.models.network import Classifier
from beautytune.runtime import inference_device, quiet_lightning, tune_cpu_runtime
from beautytune.strategies import get_strategy
from beautytune.strategies.fitters import FitContext, context_for
from beautytune.tasks import task_for
from beautytune.tasks.base import Task
from beautytune.train.datamodule import BeautyDataModule
from beautytune.train.lr_find import TITLE as LR_FIND_TITLE
from beautytune.train.lr_find import LrFindResult, find_lr
from beautytune.train.rundir import RunDir
from beautytune.train.self_training import adapt_model, describe_adaptation


@dataclass
class FitResult:
    run_dir: Path
    bundle: Path
    report: Path
    metrics: dict[str, Any]
    wall_time_s: float
    train_time_s: float
    skipped: list[dict[str, Any]]
    info: dict[str, Any]


#: extra rows for the report's comparison table, computed on the run's own split
#: (text baselines): called with (task, records, labels) -> baselines scored on the test split
BaselineFn = Callable[[Task, list[Record], list[str]], list[Any]]


def fit(
    cfg: RunConfig,
    *,
    resume: bool = False,
    comparisons: list[dict[str, Any]] | None = None,
    baselines: BaselineFn | None = None,
    prepared: tuple[list[Record], Any] | None = None,
    callbacks: list[L.Callback] | None = None,
    score_val: bool = False,
) -> FitResult:
    """One run. ``prepared``: records already audited and split, with their audit (``auto``
    runs many trials on one split); ``callbacks`` join the Lightning loop's; ``score_val``
    adds the shipped model's validation macro-F1 (``val_macro_f1``) to the metrics."""
    start = time.perf_counter()
    run = RunDir(cfg.out)
    worker = _launched_worker()
    if resume:
        cfg = _resumed_config(run)
        run.clean_partial_writes()  # a SIGKILL can land mid-write: the target is whole
    cfg.validate()
    if not resume and not worker and run.is_started():
        raise BeautytuneError(
            f"run folder {run.path} already exists: pass --resume to continue it, or choose another --out"
        )
    task = task_for(cfg)
    strategy = get_strategy(cfg.strategy, cfg.strategy_options)
    task.check_backbone(cfg)  # a wrong name or weights file fails before the data is read
    if cfg.adapt_to and (
        not Path(cfg.adapt_to).is_dir() or len(task.expand_inputs([Path(cfg.adapt_to)])) < 2
    ):  # checked now, not after training
        raise DataError(f"--adapt-to {cfg.adapt_to}: expected a folder of (at least 2) unlabelled photos")
    tune_cpu_runtime(cfg.workers)
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    interactive = sys.stderr.isatty()
    if worker and not resume:
        _await_rank_zero(run, cfg)
    if resume or worker:  # the split is decided once, by the first run on rank 0
        audit = None
        records = run.read_split()
    elif prepared is not None:
        records, audit = prepared
    else:
        records, audit = _read_and_split(task, cfg, interactive)
    labels = task.class_names(records)
    built = task.build(cfg, len(labels))
    data = BeautyDataModule(task, records, labels, built.processor, cfg)
    if cfg.batch_size_find and worker:  # rank 0 found it and wrote it to config.json
        cfg = replace(cfg, batch_size=RunConfig.load(run.config).batch_size, batch_size_find=False)
        data.cfg = cfg
    elif cfg.batch_size_find:
        from beautytune.train.batch_size import find_batch_size

        probe = FitContext(task, built.model, built.processor, built.backbone, cfg, data, run, labels)
        cfg = replace(cfg, batch_size=find_batch_size(probe, strategy), batch_size_find=False)
        data.cfg = cfg
    lr_found = None
    if cfg.lr_find and worker:  # rank 0 ran the range test before launching this process
        cfg = replace(cfg, lr=float(json.loads(run.lr_find_json.read_text())["suggestion"]), lr_find=False)
    elif cfg.lr_find:
        probe = FitContext(task, built.model, built.processor, built.backbone, cfg, data, run, labels)
        lr_found = find_lr(probe, strategy)
        cfg = replace(cfg, lr=lr_found.suggestion, lr_find=False)  # what config.json keeps
        data.cfg = cfg

    start_backbone = cache.weights_fingerprint(built.model.backbone)
    created = not run.path.exists()
    try:
        if audit is not None:
            _write_run_files(run, cfg, records, audit)
        if lr_found is not None:
            lr_found.write(run.path)
        t0 = time.perf_counter()
        ctx = FitContext(
            task,
            built.model,
            built.processor,
            built.backbone,
            cfg,
            data,
            run,
            labels,
            resume,
            interactive,
            worker,
            callbacks=list(callbacks or []),
        )
        outcome = strategy.fit(ctx)
        train_time = time.perf_counter() - t0
        if lr_found is not None:
            outcome.info["lr (range test)"] = f"{lr_found.suggestion:.3g}"
            outcome.curves[LR_FIND_TITLE] = lr_found.curve()
    except BaseException:
        if created and not worker:
            run.discard()  # nothing worth resuming: leave no trace
        raise

    model = built.model.cpu().eval()
    # what AdaBN moves target photos towards, now or later with `beautytune adapt`
    train_records = by_split(records, "train")
    trained_backbone = cache.weights_fingerprint(model.backbone)
    bn_source = (
        _source_statistics(model, task, built.processor, train_records, trained_backbone)
        if task.modality == "image"
        else {}
    )
    adaptation: dict[str, Any] = {}
    if cfg.adapt_to:  # before calibration: the temperature is fitted to the model that ships
        targets = task.expand_inputs([Path(cfg.adapt_to)])
        adaptation = adapt_model(
            model, task, built.processor, labels, targets, cfg.self_training(), bn_source, interactive
        )
        adaptation["target"] = cfg.adapt_to
        outcome.info["adapted to"] = f"{cfg.adapt_to} ({describe_adaptation(adaptation)})"
    predictor = Predictor(task, model, built.processor, labels, inference_device(cfg.accelerator))
    if trained_backbone == start_backbone and not adaptation:  # AdaBN moves BatchNorm statistics
        _evaluate_on_cached_features(predictor, ctx, records)
        outcome.info["val/test predictions"] = "the head on cached features (the backbone never moved)"
    calibration: dict[str, Any] = {}
    if cfg.calibrate and outcome.val_held_out and task.calibrates:
        calibration = calibrate_predictor(predictor, by_split(records, "val"))
    elif cfg.calibrate and task.calibrates:
        outcome.info["calibration"] = "none: the validation split trained the model"
    meta = BundleMeta(
        task=task.name,
        modality=task.modality,
        backbone=built.backbone,
        weights_source=built.weights_source,
        labels=labels,
        processor=task.processor_meta(built.processor),
        head={"hidden": list(cfg.head_hidden), "dropout": cfg.head_dropout, "num_classes": len(labels)},
        strategy=strategy.name,
        data_fingerprint=cache.data_fingerprint(records),
        calibration=calibration,
        adaptation=adaptation,
    )
    bundle_dir = save_bundle(run.bundle, model, meta, task, built.processor, bn_source)
    counts = "/".join(str(len(by_split(records, s))) for s in ("train", "val", "test"))
    context = {
        "data": cfg.data,
        "task": task.name,
        "backbone": built.backbone,
        "weights": built.weights_source,
        "strategy": strategy.name,
        **{
            k: v for k, v in task.processor_meta(built.processor).items() if k in ("input_size", "max_length")
        },
        "seed": cfg.seed,
        **({"split seed": cfg.split_seed} if cfg.split_seed is not None else {}),
        **({"shots per class": cfg.shots} if cfg.shots else {}),
        **(
            {"label issues left out (train/val)": sum(r.split == LABEL_ISSUE for r in records)}
            if cfg.drop_label_issues
            else {}
        ),
        f"train/val/test {task.noun}s": counts,
        "train time (s)": round(train_time, 1),
        **({"temperature (validation)": describe(calibration)} if calibration else {}),
        **outcome.info,
    }
    skipped = audit.skipped_rows() if audit is not None else []
    metrics = task.evaluate(
        predictor,
        records,
        run.report,
        history=outcome.history,
        curves=outcome.curves,
        context=context,
        comparisons=comparisons,
        skipped=skipped,
        title=f"beautytune: {built.backbone} / {strategy.name} (test split)",
        comparison_name=f"{built.backbone} / {strategy.name} / {cfg.init}",
        baselines=baselines(task, records, labels) if baselines else None,
    )
    model.cpu()
    wall = time.perf_counter() - start
    if score_val:
        metrics["val_macro_f1"] = macro_f1_of(predictor, by_split(records, "val"))
    summary = test_summary(metrics, metrics["val_macro_f1"] if score_val else None)
    update_bundle_metrics(
        bundle_dir,
        {
            "test": summary,
            "wall_time_s": round(wall, 1),
            "trainable_params": outcome.info.get("trainable params"),
        },
    )
    return FitResult(
        run.path, bundle_dir, run.report / "index.html", metrics, wall, train_time, skipped, outcome.info
    )


def _evaluate_on_cached_features(predictor: Predictor, ctx: FitContext, records: list[Record]) -> None:
    """A backbone that never moved (``features``, ``head``) has the cache's features: the
    validation and test predictions run the head alone on them instead of every photo again."""
    from beautytune.strategies.fitters import extract_features, feature_key

    key = feature_key(ctx)
    fitted = by_split(records, "train") + by_split(records, "val")  # the entry fitting used
    for group in (fitted, by_split(records, "test")):
        if group:
            inputs = [ctx.task.record_input(r) for r in group]
            predictor.use_features(inputs, extract_features(ctx, group, key))
    predictor.model.eval().to(predictor.device)  # extraction hands the network back on the CPU


def _source_statistics(
    model: Classifier, task: Task, processor: Any, train: list[Record], backbone_digest: str
) -> dict[str, torch.Tensor]:
    """The training photos' BatchNorm statistics, from the cache when the backbone (its
    weights' ``backbone_digest``) and the photos are the ones seen before (a frozen
    backbone: ``features``, ``head``)."""
    key = {
        "task": task.name,
        "backbone": backbone_digest,
        "processor": task.processor_meta(processor),
    }
    stats = cache.load_tensors("bn_source", key, train)
    if stats is None:
        stats = source_statistics(model, task, processor, [task.record_input(r) for r in train])
        if stats:
            cache.save_tensors("bn_source", key, train, stats)
    return stats


def test_summary(metrics: dict[str, Any], val_macro_f1: float | None = None) -> dict[str, Any]:
    """What a bundle's ``metrics["test"]`` keeps of a test evaluation (leaderboards read it)."""
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "ece")
    summary = {k: metrics[k] for k in keys if k in metrics} | dict(metrics.get("summary", {}))
    if val_macro_f1 is not None:
        summary["val_macro_f1"] = val_macro_f1
    if "uncalibrated" in metrics:
        summary["ece_uncalibrated"] = metrics["uncalibrated"]["ece"]
    return summary


def find_learning_rate(cfg: RunConfig, min_lr: float, max_lr: float, steps: int) -> LrFindResult:
    """``beautytune lr-find``: the range test on the split ``fit`` with these settings would
    make; writes ``cfg.out``/lr_find.json and lr_find.png and nothing else."""
    cfg.validate()
    task = task_for(cfg)
    strategy = get_strategy(cfg.strategy, cfg.strategy_options)
    task.check_backbone(cfg)
    tune_cpu_runtime()
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    interactive = sys.stderr.isatty()
    records, _ = _read_and_split(task, cfg, interactive)
    run = RunDir(cfg.out)
    result = find_lr(context_for(task, cfg, records, run, interactive), strategy, min_lr, max_lr, steps)
    result.write(run.path)
    return result


def _read_and_split(task: Task, cfg: RunConfig, interactive: bool) -> tuple[list[Record], Any]:
    """Read, audit (unusable examples out, a class left empty refused), split by group."""
    records = task.read(cfg.data, cfg)
    audit = task.audit(records, cfg, progress=interactive)
    usable = audit.usable()
    _check_no_class_lost(task, records, usable)
    usable = merge_duplicate_groups(usable, audit.duplicates)
    seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    split = task.split(usable, seed, cfg.val_frac, cfg.test_frac)
    if cfg.drop_label_issues:
        from beautytune.evaluate.label_issues import label_issues

        audit.label_issues = label_issues(task, cfg, usable, interactive=interactive)
        split = drop_examples(split, {d["path"] for d in audit.label_issues}, LABEL_ISSUE)
        L.seed_everything(cfg.seed, workers=True, verbose=False)  # the check built a model
    if cfg.shots:
        split = keep_shots(split, cfg.shots, cfg.seed)
    return split, audit


def _check_no_class_lost(task: Task, records: list[Record], usable: list[Record]) -> None:
    lost = sorted({r.label for r in records if r.label} - {r.label for r in usable})
    if lost:
        raise DataError(
            f"class(es) {', '.join(lost)} have no usable {task.noun}s (all were skipped by the audit): "
            f"fix or replace those {task.noun}s, or drop the class; `beautytune audit DATA` lists why"
        )


#: environment variables that give a process's rank: Lightning's launcher, torchrun, SLURM
_RANK_VARIABLES = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")


def _launched_worker() -> bool:
    """True in every process but global rank 0 of a multi-device run: the extra processes
    Lightning's DDP launcher starts, and ranks above 0 under torchrun or srun.

    They run the same command: they must reuse rank 0's split and run folder, train,
    and leave the bundle and report to rank 0.
    """
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in _RANK_VARIABLES)


def _await_rank_zero(run: RunDir, cfg: RunConfig, timeout: float = 3600.0) -> None:
    """Wait for rank 0's split (and range test) in the run folder. Lightning's own launcher
    starts the workers after writing them; torchrun and srun start every rank at once."""
    needed = [run.config, run.split_csv] + ([run.lr_find_json] if cfg.lr_find else [])
    deadline = time.monotonic() + timeout
    while not all(p.is_file() for p in needed):
        if time.monotonic() > deadline:
            missing = ", ".join(str(p) for p in needed if not p.is_file())
            raise BeautytuneError(f"rank 0 never wrote {missing}: is rank 0 running with the same --out?")
        time.sleep(1.0)


def _resumed_config(run: RunDir) -> RunConfig:
    if not run.config.is_file():
        raise BeautytuneError(
            f"cannot resume: {run.config} not found (was {run.path} made by beautytune fit?)"
        )
    return RunConfig.load(run.config)


def _write_run_files(run: RunDir, cfg: RunConfig, records: list[Record], audit: Any) -> None:
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_json(run.config, {**cfg.to_dict(), "versions": _versions()})
    run.write_split(records)
    run.write_json(run.split_summary, split_summary(records))
    audit.write(run.audit)


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
