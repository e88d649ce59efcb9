"""Lightning callbacks used by ``train.py``."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from wavedil.plots import plot_curves

__all__ = ["LastCheckpoint", "PlotCurves"]

log = logging.getLogger(__name__)


class PlotCurves(pl.Callback):
    """At the end of fitting, draw the logged train/val curves to ``filename`` in the
    logger's folder (needs a CSV logger)."""

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.logger is None or trainer.logger.log_dir is None:
            return
        trainer.logger.save()
        metrics = Path(trainer.logger.log_dir) / "metrics.csv"
        if metrics.is_file():
            out = plot_curves(metrics, Path(trainer.logger.log_dir) / self.filename)
            if out is not None:
                log.info("Training curves: %s", out)


class LastCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for ``last.ckpt`` that also writes it when training ends.

    Lightning's callback saved every ``every_n_train_steps`` steps leaves ``last.ckpt``
    up to that many steps behind the final weights (it saves at the end only if it never
    saved before), so a checkpoint evaluated after training would not be the model the
    training's own test measured. This one saves once more at the end, unless the last
    step is already saved.
    """

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the only save if none came before
        # Lightning's own test: not fast_dev_run, fitting, and this step not saved yet
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
