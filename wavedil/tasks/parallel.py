"""Training a parallel vocoder: a generator and a discriminator, two optimizers
(Lightning's manual optimisation, as its GAN example).

Batches: ``{"audio": (B, T), "local_cond": (B, F, N)}`` with ``N * hop >= T``.

Per batch, the generator makes a waveform from noise and the frames and learns from
the multi-resolution STFT loss, plus, once ``discriminator_start`` generator updates
have passed, ``adversarial_weight`` times the least-squares adversarial loss; then
the discriminator learns to tell the batch's real audio from the generated one.
Validation and test log the STFT loss (the comparable figure across runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from wavedil.losses import (
    MultiResolutionSTFTLoss,
    discriminator_loss,
    generator_adversarial_loss,
)
from wavedil.models.parallel import ParallelWaveNet, WaveDiscriminator
from wavedil.tasks.base import OptimizerFactory, Task

__all__ = ["ParallelVocoderTask"]


class ParallelVocoderTask(Task):
    """Train a :class:`~wavedil.models.ParallelWaveNet` (with a
    :class:`~wavedil.models.WaveDiscriminator`).

    Args:
        model: the generator.
        optimizer, scheduler: the generator's (as :class:`Task`'s).
        discriminator: the discriminator, or ``None`` (the STFT loss alone).
        discriminator_optimizer, discriminator_scheduler: its own (``None``: the
            generator's factories).
        stft_loss: the spectral loss (default: :class:`MultiResolutionSTFTLoss`).
        adversarial_weight: weight of the generator's adversarial loss.
        discriminator_start: generator updates before the adversarial game starts
            (Parallel WaveGAN: 100k of 400k; the discriminator trains from then on too).
        gradient_clip: gradient norm clipping of each network (Lightning's own clipping
            does not run under manual optimisation: set ``trainer.gradient_clip_val=null``).
        Other arguments: :class:`Task`.

    The task counts its generator updates in ``generator_updates`` (saved in the
    checkpoint), since Lightning's ``global_step`` counts both optimizers' steps.
    """

    kind = "generator"
    model: ParallelWaveNet

    def __init__(
        self,
        model: ParallelWaveNet,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        *,
        discriminator: WaveDiscriminator | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        discriminator_scheduler: Callable[..., Any] | None = None,
        stft_loss: MultiResolutionSTFTLoss | None = None,
        adversarial_weight: float = 4.0,
        discriminator_start: int = 1000,
        gradient_clip: float | None = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, optimizer, scheduler, **kwargs)
        self.automatic_optimization = False
        self.discriminator = discriminator
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        self.discriminator_scheduler_factory = discriminator_scheduler or scheduler
        self.stft_loss = stft_loss or MultiResolutionSTFTLoss()
        if not (math.isfinite(adversarial_weight) and adversarial_weight >= 0):
            raise ValueError(f"Expected adversarial_weight >= 0, but found {adversarial_weight!r}.")
        if isinstance(discriminator_start, bool) or not isinstance(discriminator_start, int) or (
                discriminator_start < 0):
            raise ValueError(f"Expected discriminator_start to be an integer >= 0 (generator "
                             f"updates), but found {discriminator_start!r}.")
        if gradient_clip is not None and not gradient_clip > 0:
            raise ValueError(f"Expected gradient_clip > 0 or None, but found {gradient_clip!r}.")
        self.adversarial_weight = adversarial_weight
        self.discriminator_start = discriminator_start
        self.gradient_clip = gradient_clip
        self.generator_updates = 0

    # -- optimisers ------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        total = int(self.trainer.estimated_stepping_batches)
        optimizers = [self.optimizer_factory(self.model.parameters())]
        factories = [self.scheduler_factory]
        if self.discriminator is not None:
            optimizers.append(self.discriminator_optimizer_factory(
                self.discriminator.parameters()))
            factories.append(self.discriminator_scheduler_factory)
        schedulers = [{"scheduler": f(o, total_steps=total), "interval": "step"}
                      for o, f in zip(optimizers, factories, strict=True) if f is not None]
        return optimizers, schedulers

    @property
    def adversarial(self) -> bool:
        """Whether the adversarial game is on (after ``discriminator_start`` updates)."""
        return self.discriminator is not None and (
            self.generator_updates >= self.discriminator_start)

    # -- steps -------------------------------------------------------------------------------

    def _generate(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        audio = batch["audio"]  # (B, T)
        fake = self.model(batch["local_cond"])[..., :audio.shape[-1]]  # (B, T)
        return audio, fake

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        schedulers = self.lr_schedulers()
        schedulers = [] if schedulers is None else (
            schedulers if isinstance(schedulers, list) else [schedulers])
        audio, fake = self._generate(batch)
        stft = self.stft_loss(fake, audio)
        loss = stft.total
        adversarial = self.adversarial
        if adversarial:
            assert self.discriminator is not None
            loss = loss + self.adversarial_weight * generator_adversarial_loss(
                self.discriminator(fake))
        if self.guard(loss) is None:  # task.nonfinite=skip: no update from this batch
            return
        self._update(optimizers[0], loss, self.model)
        if schedulers:
            schedulers[0].step()
        self.generator_updates += 1
        logged = {"train/loss": loss, "train/stft": stft.total,
                  "train/spectral_convergence": stft.spectral_convergence,
                  "train/log_magnitude": stft.log_magnitude}
        if adversarial:
            assert self.discriminator is not None
            d_loss = discriminator_loss(self.discriminator(audio),
                                        self.discriminator(fake.detach()))
            if self.guard(d_loss) is not None:
                self._update(optimizers[1], d_loss, self.discriminator)
                if len(schedulers) > 1:
                    schedulers[1].step()
            logged["train/discriminator"] = d_loss
        self.log_dict(logged, prog_bar=True, on_step=True, on_epoch=False,
                      batch_size=audio.shape[0])

    def _update(self, optimizer: Any, loss: Tensor, network: torch.nn.Module) -> None:
        """Backward, clip and step ``network``'s optimizer."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.gradient_clip is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip,
                                gradient_clip_algorithm="norm")
        optimizer.step()  # Task.on_before_optimizer_step guards against non-finite gradients

    def _evaluate(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        audio, fake = self._generate(batch)
        loss = self.stft_loss(fake, audio).total
        self.log(f"{stage}/loss", loss, prog_bar=True, on_step=False, on_epoch=True,
                 sync_dist=True, batch_size=audio.shape[0])
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._evaluate(batch, "test")

    # -- checkpoints: the update count beside Lightning's own state ---------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["parallel_vocoder"] = {"generator_updates": self.generator_updates}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.generator_updates = int(checkpoint.get("parallel_vocoder", {}).get(
            "generator_updates", 0))
