"""``train(cfg)``: seed, build data, model and task from the Hydra config, fit, test.

The root ``train.py`` wraps this in ``@hydra.main``; see ``conf/train.yaml``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from wavedil.checkpoint import AtomicCheckpointIO
from wavedil.config import use_data_info

__all__ = ["train"]

log = logging.getLogger("wavedil.train")


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job described by ``cfg``; returns the final metrics."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    use_data_info(datamodule.info)

    model = instantiate(cfg.model, _convert_="all")
    # Objects are passed after instantiation: Hydra would turn a dataclass into a config.
    task = instantiate(cfg.task, _partial_=True, _convert_="all")(
        model=model, data_info=datamodule.info
    )
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=logger, plugins=[AtomicCheckpointIO()]
    )

    output_dir = Path(cfg.output_dir)
    if trainer.is_global_zero:
        output_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    parameters = sum(p.numel() for p in model.parameters())
    rate = datamodule.info.sample_rate
    field = model.receptive_field
    log.info("%s: %.2fM parameters, receptive field %d samples (%.1f ms at %d Hz)",
             type(model).__name__, parameters / 1e6, field, 1000 * field / rate, rate)

    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = _scalars(trainer.callback_metrics)

    if cfg.get("test", True) and "test" in datamodule.datasets:
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        ckpt = "best" if cfg.get("test_ckpt", "best") == "best" and best else None
        trainer.test(task, datamodule=datamodule, ckpt_path=ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
    if trainer.is_global_zero:
        summary = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
        log.info("Final metrics: %s", summary)
        log.info("Outputs in %s", output_dir.resolve())
    return metrics


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        value = float(value)
        if math.isfinite(value):
            out[key] = value
    return out
