"""The LightningDataModule: the split's records -> the task's datasets and loaders.

The audit and the split are done once, before this exists (DDP workers read the split
from the run folder instead of auditing again); ``setup`` builds the datasets per rank.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from beautytune.config import RunConfig
from beautytune.data.dataset import EpochSampler, LengthBucketBatchSampler
from beautytune.data.records import Record, by_split
from beautytune.errors import DataError
from beautytune.tasks.base import Task


class BeautyDataModule(L.LightningDataModule):
    def __init__(
        self, task: Task, records: list[Record], labels: list[str], processor: Any, cfg: RunConfig
    ) -> None:
        super().__init__()
        self.task = task
        self.records = records
        self.labels = labels
        self.index = {lab: i for i, lab in enumerate(labels)}
        self.processor = processor
        self.cfg = cfg
        self.collate = task.collate(processor)

    @property
    def batch_size(self) -> int:
        """``cfg.batch_size``, settable (Lightning's batch-size scaler sets it per trial)."""
        return self.cfg.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        self.cfg = replace(self.cfg, batch_size=int(value))

    def targets(self, records: list[Record]) -> list[int]:
        return [self.index[r.label] for r in records]

    def setup(self, stage: str | None = None) -> None:
        train, val = by_split(self.records, "train"), by_split(self.records, "val")
        # validation order does not change its metrics; similar sizes together cut padding
        val = sorted(val, key=lambda r: self.task.cost(self.task.record_input(r)))
        if not val:
            raise DataError(
                f"the validation split is empty: add {self.task.noun}s from more groups or raise --val-frac"
            )
        self.train_targets = self.targets(train)
        self.train_costs = [self.task.cost(self.task.record_input(r)) for r in train]
        self.train_ds = self.task.dataset(train, self.train_targets, self.processor, self.cfg, train=True)
        self.val_ds = self.task.dataset(val, self.targets(val), self.processor, self.cfg, train=False)

    def class_weights(self) -> torch.Tensor | None:
        """Inverse-frequency loss weights (``--imbalance weighted``), else None."""
        if self.cfg.imbalance != "weighted":
            return None
        targets = self.targets(by_split(self.records, "train"))
        counts = np.bincount(targets, minlength=len(self.labels)).astype(np.float64)
        return torch.tensor(len(targets) / (len(self.labels) * np.maximum(counts, 1)), dtype=torch.float32)

    def _loader_kw(self) -> dict[str, Any]:
        return shared_loader_settings(self.cfg, self.collate)

    def train_dataloader(self) -> DataLoader[Any]:
        return epoch_loader(
            self, self.train_ds, self.train_targets, self.cfg, self.train_costs, **self._loader_kw()
        )

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.val_ds, batch_size=self.cfg.batch_size * 2, shuffle=False, **self._loader_kw())

    def eval_loader(self, records: list[Record]) -> DataLoader[Any]:
        """Un-augmented, in the order given: for feature extraction."""
        ds = self.task.dataset(records, self.targets(records), self.processor, self.cfg, train=False)
        return DataLoader(ds, batch_size=self.cfg.batch_size, shuffle=False, **self._loader_kw())


def shared_loader_settings(cfg: RunConfig, collate: Any) -> dict[str, Any]:
    """DataLoader settings every loader shares: workers kept alive between epochs, and
    page-locked batches when a GPU takes them (the copy then overlaps the step)."""
    w = cfg.workers
    gpu = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return {"num_workers": w, "persistent_workers": w > 0, "collate_fn": collate, "pin_memory": gpu}


def epoch_loader(
    module: L.LightningDataModule,
    dataset: Dataset[Any],
    targets: list[int],
    cfg: RunConfig,
    costs: list[int] | None = None,
    **loader_kw: Any,
) -> DataLoader[Any]:
    """The training loader every data module uses: :class:`EpochSampler` order (seeded by
    epoch, class-balanced with ``--imbalance sample``, sharded per DDP rank), batches of
    similar ``costs`` together when sizes differ (texts)."""
    # Our sampler shards itself under DDP (Lightning's is off: it would hide set_epoch)
    trainer = module.trainer
    rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
    sampler = EpochSampler(targets, cfg.seed, balanced=cfg.imbalance == "sample", rank=rank, world=world)
    if costs and any(costs):
        buckets = LengthBucketBatchSampler(sampler, costs, cfg.batch_size)
        return DataLoader(dataset, batch_sampler=buckets, **loader_kw)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(sampler) > cfg.batch_size,
        **loader_kw,
    )
