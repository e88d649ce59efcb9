"""A training sampler that makes data order and data randomness reproducible and
resumable, on one process or many.

For epoch ``e`` the order is a permutation drawn from ``(seed, e)``; each rank
takes every ``world_size``-th index of it (DistributedSampler's layout, padded
so that all ranks get as many items). Each item is yielded with its own seed,
derived from ``(seed, e, position)``, which the dataset uses for its random crop
and augmentation: no data randomness comes from the global RNG, so an epoch can
resume at any batch and see exactly the items, crops and perturbations it would
have seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from wavedil.nn.checks import check_positive_int

__all__ = ["EpochSampler", "item_generator"]

_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant for mixing seeds


def _mix(*values: int) -> int:
    """A 63-bit seed from integers (deterministic across processes and runs)."""
    h = 0
    for v in values:
        h = (h * 1_000_003 + (v & 0xFFFFFFFFFFFFFFFF)) * _MIX % (1 << 63)
    return h


def item_generator(item: int | tuple[int, int]) -> tuple[int, torch.Generator | None]:
    """Split what a sampler yields into the dataset index and its private generator.

    A plain index (evaluation, or a stock sampler) gets no generator.
    """
    if isinstance(item, tuple):
        index, seed = item
        return index, torch.Generator().manual_seed(seed)
    return item, None


class EpochSampler(Sampler):
    """Seeded, sharded, resumable order of a map-style dataset.

    Args:
        length: items in the dataset.
        shuffle: permute per epoch (True) or keep the dataset order.
        seed: base of every permutation and item seed.
        rank: this process's rank.
        world_size: processes sharing the data.

    Yields:
        ``(index, item_seed)`` pairs.

    Example:
        >>> a = EpochSampler(10, seed=1, rank=0, world_size=2)
        >>> b = EpochSampler(10, seed=1, rank=1, world_size=2)
        >>> sorted([i for i, _ in a] + [i for i, _ in b]) == list(range(10))
        True
    """

    def __init__(self, length: int, shuffle: bool = True, seed: int = 0, rank: int = 0,
                 world_size: int = 1) -> None:
        self.length = check_positive_int("length", length)
        self.world_size = check_positive_int("world_size", world_size)
        if not 0 <= rank < world_size:
            raise ValueError(f"Expected rank in [0, {world_size}), but found {rank}.")
        self.shuffle, self.seed, self.rank = shuffle, seed, rank
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before each epoch."""
        self.epoch = epoch

    def skip(self, items: int) -> None:
        """Leave out the first ``items`` of the next iteration only (resuming mid-epoch)."""
        self._skip = items

    def __len__(self) -> int:
        return math.ceil(self.length / self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(_mix(self.seed, self.epoch))
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        total = len(self) * self.world_size
        order += order[: total - len(order)]  # pad so every rank gets len(self) items
        mine = order[self.rank:total:self.world_size]
        start, self._skip = self._skip, 0
        for position in range(start, len(mine)):
            global_position = position * self.world_size + self.rank
            yield mine[position], _mix(self.seed, self.epoch, global_position)
