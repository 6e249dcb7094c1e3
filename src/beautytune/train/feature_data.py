"""Frozen features as the Lightning loop's data: the head trains without the backbone.

With the backbone frozen and no augmentation, every epoch would recompute the same
features; computed once, an epoch of ``head`` is a few matrix products.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from beautytune.config import RunConfig
from beautytune.models.network import Classifier
from beautytune.train.datamodule import epoch_loader


class _Passthrough(nn.Module):
    """The backbone of :class:`HeadOnly`: its inputs already are the features."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class HeadOnly(Classifier):
    """A network of ``head`` alone, taking ``features=``; it shares the head's parameters,
    so training it trains the full model's head."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__(_Passthrough(), head)


class _Features(Dataset[tuple[dict[str, torch.Tensor], int]]):
    def __init__(self, x: np.ndarray, y: list[int]) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.y = y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int]:
        return {"features": self.x[i]}, self.y[i]


class FeatureDataModule(L.LightningDataModule):
    """Train and validation features with the same epoch sampler (seed, balancing, DDP
    shards) as :class:`~beautytune.train.datamodule.BeautyDataModule`."""

    def __init__(
        self, x_train: np.ndarray, y_train: list[int], x_val: np.ndarray, y_val: list[int], cfg: RunConfig
    ) -> None:
        super().__init__()
        self.train_ds, self.val_ds = _Features(x_train, y_train), _Features(x_val, y_val)
        self.cfg = cfg

    def train_dataloader(self) -> DataLoader[Any]:
        return epoch_loader(self, self.train_ds, self.train_ds.y, self.cfg)

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.val_ds, batch_size=self.cfg.batch_size * 2, shuffle=False)
