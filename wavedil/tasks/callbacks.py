"""Lightning callbacks used by ``train.py``."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_only

from wavedil.plots import plot_curves

__all__ = ["PlotCurves"]

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
