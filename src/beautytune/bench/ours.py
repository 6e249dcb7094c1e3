"""beautytune's side of the bench: its own fit loop and Predictor, timed from inside."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from beautytune.config import RunConfig
from beautytune.train.pipeline import FitResult
from beautytune.train.pipeline import fit as pipeline_fit


class EpochClock(L.Callback):
    """(images, seconds) of every training epoch: its first batch's loading to its last
    step, validation left out (the plain loop has none)."""

    def __init__(self) -> None:
        self.epochs: list[tuple[int, float]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._n, self._start = 0, time.perf_counter()
        self._end = self._start

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self._n += len(batch[1])
        self._end = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs.append((self._n, self._end - self._start))


def our_fit(
    manifest: Path, out: Path, clock: EpochClock | None = None, **options: Any
) -> tuple[FitResult, float]:
    """One ordinary ``fit`` (audit, split, training, report, bundle) and its wall seconds."""
    cfg = RunConfig(data=str(manifest), out=str(out), patience=10_000, **options)
    t = time.perf_counter()
    result = pipeline_fit(cfg, callbacks=[clock] if clock else None, baselines=None)
    return result, time.perf_counter() - t


def our_infer(bundle: Path, paths: list[str], batch: int, device: str) -> tuple[int, float]:
    """(images, seconds) of ``Predictor.predict`` on ``paths``, decoding included."""
    from beautytune.inference.predictor import Predictor

    predictor = Predictor.from_bundle(bundle, device=device)
    t = time.perf_counter()
    predictor.predict(paths, batch_size=batch)
    return len(paths), time.perf_counter() - t
