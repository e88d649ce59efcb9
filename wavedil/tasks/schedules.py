"""Learning-rate schedules that need the run's total step count.

The tasks call a schedule factory as ``factory(optimizer, total_steps=N)``, with
``N`` from the trainer, so configs need not repeat how long a run is.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["constant", "warmup_cosine"]


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int,
    warmup_steps: int = 100,
    min_lr_ratio: float = 0.05,
) -> LambdaLR:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio * lr``."""
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"Expected min_lr_ratio in [0, 1], but found {min_lr_ratio}.")
    warmup = max(0, min(warmup_steps, total_steps - 1))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def constant(optimizer: Optimizer, total_steps: int) -> LambdaLR:
    """No schedule (a factor of 1 throughout)."""
    return LambdaLR(optimizer, lambda step: 1.0)
