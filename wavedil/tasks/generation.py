"""Teacher-forced training of the generator: negative log-likelihood per sample.

Batches: ``{"audio": (B, T), "global_cond": (B,)?, "local_cond": (B, F, N)?}``.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from wavedil.models import WaveNet
from wavedil.tasks.base import Task

__all__ = ["GenerationTask"]


class GenerationTask(Task):
    """Train a :class:`~wavedil.models.WaveNet`; logs ``{stage}/loss`` (nats) and
    ``{stage}/bits_per_sample`` for train, val and test.

    Args:
        excitation_noise: for a source-filter generator, LPCNet's noise injection in
            training: the past it is fed is synthesised with excitation codes moved by
            Gaussian noise of this many codes (std; 0: the true past). Validation and
            test always use the true past. Other arguments: :class:`Task`.
    """

    kind = "generator"
    model: WaveNet

    def __init__(self, *args: Any, excitation_noise: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not (math.isfinite(excitation_noise) and excitation_noise >= 0):
            raise ValueError(f"Expected excitation_noise >= 0 (codes), but found "
                             f"{excitation_noise!r}.")
        self.excitation_noise = float(excitation_noise)

    def step(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        local_cond = batch.get("local_cond")
        noise = self.excitation_noise if stage == "train" else 0.0
        inputs, target, side = self.model.teacher_forcing(batch["audio"], local_cond,
                                                          noise)  # (B, T)
        params = self.model(inputs, local_cond, batch.get("global_cond"), side)  # (B, C, T)
        loss = self.model.output.nll(params, target).mean()
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=on_step, on_epoch=not on_step,
                 sync_dist=not on_step, batch_size=target.shape[0])
        self.log(f"{stage}/bits_per_sample", loss / math.log(2), on_step=on_step,
                 on_epoch=not on_step, sync_dist=not on_step, batch_size=target.shape[0])
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return self.guard(self.step(batch, "train"))

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "test")
