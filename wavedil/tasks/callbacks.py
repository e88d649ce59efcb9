"""Lightning callbacks used by ``train.py``."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from wavedil.plots import plot_curves, plot_spectrogram_grid

__all__ = ["LastCheckpoint", "PlotCurves", "Stopwatch", "TensorBoardMedia"]

log = logging.getLogger(__name__)


class PlotCurves(pl.Callback):
    """At the end of fitting, draw the logged train/val curves to ``filename`` in the
    CSV logger's folder (nothing without one)."""

    def __init__(self, filename: str = "curves.png") -> None:
        self.filename = filename

    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
        if logger is None or logger.log_dir is None:
            return
        logger.save()
        metrics = Path(logger.log_dir) / "metrics.csv"
        if metrics.is_file():
            out = plot_curves(metrics, Path(logger.log_dir) / self.filename)
            if out is not None:
                log.info("Training curves: %s", out)


class Stopwatch(pl.Callback):
    """Logs ``time/fit_s``, the seconds spent fitting so far (training and validation,
    not the start-up before it), beside each validation's metrics: how long a run took
    to reach a validation figure (``bench/training.py --time-to-quality``). The clock
    is saved in checkpoints, so a resumed run counts on from where it stopped."""

    def __init__(self) -> None:
        self.before = 0.0  # seconds counted by the run this one resumed
        self._start: float | None = None

    def elapsed(self) -> float:
        now = 0.0 if self._start is None else time.perf_counter() - self._start
        return self.before + now

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer,
                                pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            pl_module.log("time/fit_s", self.elapsed(), on_step=False, on_epoch=True)

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.before = float(state_dict["elapsed"])


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


class TensorBoardMedia(pl.Callback):
    """At each validation, what is better looked at or listened to than read, in
    TensorBoard (with ``logger=[csv,tensorboard]``; without a TensorBoard logger
    this does nothing):

    - a generator's samples (fast sampler, fixed seed) as audio with their
      spectrograms; for a vocoder, the resynthesis of fixed validation clips from
      their mel frames, each above its original;
    - a classifier's validation confusion matrix.

    Args:
        clips: how many clips.
        seconds: length of each (a vocoder's: the first seconds of each clip).
        seed: the sampling seed, the same at every validation.
    """

    def __init__(self, clips: int = 2, seconds: float = 0.5, seed: int = 0) -> None:
        self.clips, self.seconds, self.seed = clips, seconds, seed

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule
                                ) -> None:
        board = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if board is None or trainer.sanity_checking:
            return
        step = trainer.global_step
        if getattr(pl_module, "kind", None) == "classifier":
            pairs = getattr(pl_module, "val_predictions", None)
            if pairs is not None:
                board.experiment.add_image("val/confusion", self._confusion(pl_module, pairs),
                                           step, dataformats="HWC")
            return
        was_training = pl_module.training
        try:
            for tag, audio, picture in self._generator_media(trainer, pl_module):
                board.experiment.add_audio(tag, audio.clamp(-1, 1).unsqueeze(0), step,
                                           sample_rate=pl_module.data_info.sample_rate)
                board.experiment.add_image(f"{tag}/spectrogram", picture, step,
                                           dataformats="HWC")
        finally:
            pl_module.train(was_training)

    def _generator_media(self, trainer: pl.Trainer, pl_module: pl.LightningModule
                         ) -> list[tuple[str, Tensor, np.ndarray]]:
        from wavedil.inference import generate
        from wavedil.inference.vocoding import mel_frames, resynthesize

        model, info = pl_module.model, pl_module.data_info
        rate = info.sample_rate
        length = max(1, int(self.seconds * rate))
        if info.local_features:  # a vocoder: resynthesise fixed validation clips
            splits = getattr(trainer.datamodule, "splits", None)
            originals = [c.audio[:length].cpu() for c in (splits.val if splits else [])
                         [:self.clips]]
            if not originals:
                return []
            frames = [mel_frames(a, rate, info.local_features) for a in originals]
            made = resynthesize(model, frames, [len(a) for a in originals],
                                seed=self.seed).audio
            return [(f"val/resynthesis_{i}", made[i], _picture([[originals[i]], [made[i]]],
                                                                rate, ["original", "vocoder"]))
                    for i in range(len(originals))]
        cond = (torch.arange(self.clips) % model.global_classes
                if model.global_classes else None)
        audio = generate(model, length, batch_size=self.clips, seed=self.seed,
                         global_cond=None if cond is None else cond.to(pl_module.device)).audio
        return [(f"val/sample_{i}", audio[i].cpu(), _picture([[audio[i].cpu()]], rate,
                                                              [f"sample {i}"]))
                for i in range(audio.shape[0])]

    @staticmethod
    def _confusion(pl_module: pl.LightningModule, pairs: Tensor) -> np.ndarray:
        from wavedil.plots import plot_predictions

        num_classes = pl_module.model.num_classes
        names = (pl_module.data_info.label_names(num_classes) if pl_module.data_info
                 else [str(i) for i in range(num_classes)])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "confusion.png"
            plot_predictions(pairs, names, path, "validation")
            return _read_png(path)


def _picture(clips: list[list[Tensor]], rate: int, rows: list[str]) -> np.ndarray:
    """A spectrogram grid as an ``(H, W, 3)`` image array."""
    with tempfile.TemporaryDirectory() as tmp:
        return _read_png(plot_spectrogram_grid(clips, rate, Path(tmp) / "s.png", rows=rows))


def _read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(path)[..., :3]  # RGB in [0, 1]
