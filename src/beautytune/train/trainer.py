"""The Lightning Trainer every gradient fit uses: checkpoints, history, budget, progress."""

from __future__ import annotations

import sys
from datetime import timedelta

import lightning as L

from beautytune.config import RunConfig
from beautytune.train.callbacks import AtomicCheckpointIO, History, RngState
from beautytune.train.rundir import RunDir


class TrainerParts:
    """The trainer plus the callbacks whose state the pipeline reads afterwards."""

    def __init__(self, cfg: RunConfig, run: RunDir, extra: list[L.Callback], interactive: bool) -> None:
        self.history = History(run.history)
        self.checkpoint = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=run.checkpoints,
            filename="best",
            monitor="val_macro_f1",
            mode="max",
            save_top_k=1,
            enable_version_counter=False,
        )
        # Lightning writes save_last's copy only in epochs that improved the monitor, so a
        # run killed after a worse epoch would resume from an older one: keep our own.
        self.last = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=run.checkpoints, filename="last", monitor=None, save_top_k=1, enable_version_counter=False
        )
        self.early_stopping = L.pytorch.callbacks.EarlyStopping(
            "val_macro_f1", mode="max", patience=cfg.patience
        )
        callbacks: list[L.Callback] = [
            self.checkpoint,
            self.last,
            self.history,
            RngState(),
            self.early_stopping,
            *extra,
        ]
        self.timer = None
        if cfg.time_budget:
            self.timer = L.pytorch.callbacks.Timer(
                duration=timedelta(seconds=cfg.time_budget), interval="step"
            )
            callbacks.append(self.timer)
        callbacks.append(L.pytorch.callbacks.RichProgressBar() if interactive else EpochPrinter())
        self.trainer = L.Trainer(
            max_epochs=cfg.epochs,
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            strategy=lightning_strategy(cfg),
            num_nodes=cfg.num_nodes,
            precision=cfg.precision,  # type: ignore[arg-type]
            callbacks=callbacks,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=str(run.path),
            logger=L.pytorch.loggers.CSVLogger(str(run.path), name="logs", version=""),
            num_sanity_val_steps=0,
            enable_model_summary=False,
            log_every_n_steps=1,
            enable_progress_bar=interactive,
            deterministic="warn",
            use_distributed_sampler=False,  # EpochSampler shards itself (train/datamodule.py)
        )

    @property
    def stopped_by_budget(self) -> bool:
        return bool(self.timer and (self.timer.time_remaining("train") or 0) <= 0)

    @property
    def stopped_early(self) -> bool:
        return self.early_stopping.stopped_epoch > 0


def lightning_strategy(cfg: RunConfig) -> str | L.pytorch.strategies.Strategy:
    """``--distributed`` as Lightning's strategy. DDP leaves frozen backbones alone (no
    gradient, no all-reduce); FSDP wraps the network whole and saves full state dicts, so a
    checkpoint loads into one process as any other does."""
    if cfg.distributed == "ddp":
        return L.pytorch.strategies.DDPStrategy(find_unused_parameters=False)
    if cfg.distributed == "fsdp":
        return L.pytorch.strategies.FSDPStrategy(state_dict_type="full")
    return "auto"


class EpochPrinter(L.Callback):
    """A one-line-per-epoch log when there is no terminal for a progress bar (CI, logs)."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        from pathlib import Path

        run = Path(trainer.default_root_dir).name
        parts = [f"[{run}] epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        parts += [f"{k}={float(m[k]):.4f}" for k in ("val_loss", "val_macro_f1") if k in m]
        print("  ".join(parts), file=sys.stderr, flush=True)
