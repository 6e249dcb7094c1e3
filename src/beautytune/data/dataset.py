"""Torch datasets and samplers over records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from beautytune.data.images import load_rgb
from beautytune.data.records import Record

if TYPE_CHECKING:
    from beautytune.data.prepared import PreparedImages
    from beautytune.faces.patches import Patches


class ImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images with per-epoch transforms, each decoded once.

    With a ``store`` (:mod:`beautytune.data.prepared`) an image is read from its memory-mapped
    square; without one (or for a file the store could not prepare) it is decoded and kept,
    shrunk, in memory.
    """

    def __init__(
        self,
        records: list[Record],
        targets: list[int],
        transform: Callable[[Image.Image], torch.Tensor],
        keep_size: int | None = None,
        prepare: Callable[[Image.Image, str], Image.Image] | None = None,
        store: PreparedImages | None = None,
    ) -> None:
        self.store = store
        #: a step after decoding, before the shrink and the cache (the face crop): (image, path)
        self.prepare = prepare
        self.records = records
        self.targets = targets
        self.transform = transform
        self.keep_size = keep_size
        self._cache: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.records)

    def image(self, i: int) -> Image.Image:
        if self.store is not None:
            square = self.store.image(i)
            if square is not None:
                return square
        im = self._cache.get(i)
        if im is None:
            im = load_rgb(self.records[i].path)
            if self.prepare is not None:
                im = self.prepare(im, self.records[i].path)
            if self.keep_size and min(im.size) > 2 * self.keep_size:
                # Large photos are shrunk once (never below 2x the crop size), not every epoch.
                scale = 2 * self.keep_size / min(im.size)
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BICUBIC)
            self._cache[i] = im
        return im

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image(i)), self.targets[i]


class PatchesDataset(Dataset[tuple[tuple[torch.Tensor, torch.Tensor], int]]):
    """Skin patches a photo (``--faces regions``): cut once and kept; transforms per epoch."""

    def __init__(
        self,
        records: list[Record],
        targets: list[int],
        transform: Callable[[Image.Image], torch.Tensor],
        patches: Callable[[Image.Image, str], Patches],
    ) -> None:
        self.records = records
        self.targets = targets
        self.transform = transform
        self.patches = patches
        self._cache: dict[int, Patches] = {}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[tuple[torch.Tensor, torch.Tensor], int]:
        p = self._cache.get(i)
        if p is None:
            p = self.patches(load_rgb(self.records[i].path), self.records[i].path)
            p = self._cache[i] = replace(p, regions=None)  # the masks are photo-sized: not kept
        return patch_tensors(p, self.transform), self.targets[i]


def patch_tensors(
    patches: Patches, transform: Callable[[Image.Image], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, 3, H, W) transformed patches and their (R,) presence weights."""
    return torch.stack([transform(im) for im in patches.images]), torch.tensor(patches.weights)


class EpochSampler(Sampler[int]):
    """Shuffles (or class-balances) with a generator seeded by (seed, epoch).

    The order of epoch k depends on nothing but the seed and k, so a resumed run sees
    exactly the batches an uninterrupted one would. Lightning calls ``set_epoch``.

    Under DDP every rank draws the same epoch order and keeps every ``world``-th index from
    ``rank`` (padded by wrapping round, as torch's DistributedSampler does), so the ranks see
    disjoint shards of equal length and take the same number of steps.
    """

    def __init__(
        self, targets: list[int], seed: int, balanced: bool = False, *, rank: int = 0, world: int = 1
    ) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside a world of {world}")
        self.targets = np.asarray(targets)
        self.seed = seed
        self.balanced = balanced
        self.rank = rank
        self.world = world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.targets) // self.world)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.targets)
        if self.balanced:
            counts = np.bincount(self.targets)
            weights = 1.0 / counts[self.targets]
            order = rng.choice(n, size=n, replace=True, p=weights / weights.sum())
        else:
            order = rng.permutation(n)
        if self.world > 1:
            order = np.resize(order, len(self) * self.world)[self.rank :: self.world]
        return iter(order.tolist())


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples in a seeded random order (texts: far less padding).

    Takes the epoch's order from ``sampler`` (shuffled or class-balanced), sorts windows of
    ``window`` batches by ``costs``, cuts them into batches and shuffles the batches, so
    every epoch still sees a fresh random mix. Lightning reaches ``sampler.set_epoch``.
    """

    def __init__(self, sampler: EpochSampler, costs: list[int], batch_size: int, window: int = 50) -> None:
        self.sampler = sampler
        self.costs = np.asarray(costs)
        self.batch_size = batch_size
        self.window = window

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(self.sampler)
        span = self.batch_size * self.window
        batches: list[list[int]] = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start : start + span], key=lambda i: self.costs[i])
            batches += [chunk[j : j + self.batch_size] for j in range(0, len(chunk), self.batch_size)]
        rng = np.random.default_rng([self.sampler.seed, self.sampler.epoch, 1])
        return iter([batches[k] for k in rng.permutation(len(batches))])
