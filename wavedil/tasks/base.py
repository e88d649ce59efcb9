"""What the two training tasks share: optimiser set-up and self-describing checkpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
from torch import nn
from torch.optim import Optimizer

from wavedil.data.sources import DataInfo
from wavedil.spec import to_spec

__all__ = ["CHECKPOINT_KEY", "Task"]

#: Key of wavedil's own record inside a Lightning checkpoint.
CHECKPOINT_KEY = "wavedil"
CHECKPOINT_FORMAT = 1

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


class Task(pl.LightningModule):
    """A LightningModule that trains ``model`` (an ``nn.Module``).

    Args:
        model: the network.
        optimizer: ``params -> Optimizer`` (a Hydra ``_partial_``).
        scheduler: ``(optimizer, total_steps=N) -> LRScheduler`` stepped every
            batch, or ``None``.
        data_info: what the data are (sample rate, names); stored in checkpoints.
    """

    #: "generator" or "classifier", recorded in checkpoints.
    kind: str

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        data_info: DataInfo | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.data_info = data_info

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, total_steps=total)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Enough to rebuild the model with no config files at hand (wavedil.checkpoint).
        checkpoint[CHECKPOINT_KEY] = {
            "format": CHECKPOINT_FORMAT,
            "kind": self.kind,
            "model": to_spec(self.model),
            "data_info": dataclasses.asdict(self.data_info) if self.data_info else None,
        }
