"""What the speed benchmarks share: timing on CPU or GPU, rounds run side by side.

The machine drifts between runs (25-60% here), so every benchmark times the things
it compares in the same rounds, round-robin, and reports medians and the spread
between rounds. Imported by the scripts beside it (``python bench/NAME.py`` puts
this folder on the path).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import torch

__all__ = ["interleaved", "medians", "seconds", "spread_pct", "sync"]


def sync(device: str | torch.device) -> None:
    """Wait for queued GPU work (a no-op on CPU), so that a clock reading means it."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def seconds(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Wall time of one call of ``fn``, GPU work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(fns: Mapping[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each ``fn`` returns a measurement; call them round-robin ``repeats`` times and
    return every round's value per name."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(fn())
    return runs


def medians(runs: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The median of each name's rounds."""
    return {name: statistics.median(values) for name, values in runs.items()}


def spread_pct(values: Sequence[float]) -> int:
    """(max - min) / median of the rounds, in percent: how much the machine drifted."""
    return round(100 * (max(values) - min(values)) / statistics.median(values))
