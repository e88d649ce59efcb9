"""What the two training tasks share: optimiser set-up, self-describing
checkpoints, exact resumption, and a guard against non-finite losses."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from wavedil.checkpoint_format import CHECKPOINT_FORMAT, CHECKPOINT_KEY, upgrade_record
from wavedil.data.sources import DataInfo
from wavedil.nn.checks import check_choice, check_positive_int
from wavedil.nn.stack import DilatedStack
from wavedil.spec import to_spec

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_KEY", "NonFiniteLossError", "Task"]

log = logging.getLogger(__name__)


OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]


def _is_default(target: str, name: str, value: Any) -> bool:
    """Whether ``value`` is the default of argument ``name`` of the class ``target``."""
    import inspect

    from wavedil.spec import registered_class

    cls = registered_class(target)
    if cls is None:
        return False
    parameter = inspect.signature(cls.__init__).parameters.get(name)
    return parameter is not None and parameter.default is not inspect.Parameter.empty and (
        parameter.default == value)


class NonFiniteLossError(FloatingPointError):
    """Training diverged: a loss or gradient became NaN or infinite."""


class Task(pl.LightningModule):
    """A LightningModule that trains ``model`` (an ``nn.Module``).

    Args:
        model: the network.
        optimizer: ``params -> Optimizer`` (a Hydra ``_partial_``).
        scheduler: ``(optimizer, total_steps=N) -> LRScheduler`` stepped every
            batch, or ``None``.
        data_info: what the data are (sample rate, names); stored in checkpoints.
        nonfinite: what to do when a loss or a gradient is NaN or infinite:
            ``"stop"`` training with an error naming the step, or ``"skip"`` the
            batch (no update).
        max_skips: with ``"skip"``, stop after this many bad batches in a row.
        checkpoint_activations: recompute each residual block's activations in the
            backward pass instead of keeping them (less memory, about one more
            forward of compute; see ``bench/training.py``).
    """

    #: "generator" or "classifier", recorded in checkpoints.
    kind: str

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: Callable[..., Any] | None = None,
        data_info: DataInfo | None = None,
        nonfinite: str = "stop",
        max_skips: int = 10,
        checkpoint_activations: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.data_info = data_info
        self.nonfinite = check_choice("nonfinite", nonfinite, ("stop", "skip"))
        self.max_skips = check_positive_int("max_skips", max_skips)
        self._skips_in_a_row = 0
        for module in model.modules():
            if isinstance(module, DilatedStack):
                module.checkpoint_blocks = checkpoint_activations
        self._resume_rng: dict[str, Any] | None = None

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, total_steps=total)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- non-finite guard ---------------------------------------------------------------

    def guard(self, loss: Tensor) -> Tensor | None:
        """Return ``loss``, or ``None`` (skip the batch) / raise when it is not finite."""
        if torch.isfinite(loss):
            self._skips_in_a_row = 0
            return loss
        return self._nonfinite(f"the training loss is {loss.item()}")

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads and not torch.isfinite(torch.stack([g.norm() for g in grads])).all():
            if self._grad_scaler() is not None:
                # fp16 mixed precision: the scaler overflows on purpose while it searches
                # for its scale; it skips this step itself and lowers the scale
                return
            self._nonfinite("a gradient is not finite")
            for p in self.parameters():  # parameters without gradients are not updated
                p.grad = None

    def _grad_scaler(self) -> Any:
        """The gradient scaler of fp16 mixed precision, or ``None``."""
        plugin = getattr(self._trainer, "precision_plugin", None)
        return getattr(plugin, "scaler", None)

    def _nonfinite(self, what: str) -> None:
        """Stop (raise) or count a skipped batch."""
        where = f"at step {self.global_step} (epoch {self.current_epoch})"
        if self.nonfinite == "stop":
            raise NonFiniteLossError(
                f"Training diverged {where}: {what}. The weights and the last checkpoint are "
                "from before this step. Lower task.optimizer.lr, keep trainer.gradient_clip_val "
                "set, or pass task.nonfinite=skip to skip such batches."
            )
        self._skips_in_a_row += 1
        log.warning("Skipping a batch %s: %s (%d in a row).", where, what, self._skips_in_a_row)
        if self._skips_in_a_row >= self.max_skips:
            raise NonFiniteLossError(
                f"Training diverged {where}: {self._skips_in_a_row} batches in a row were "
                f"skipped ({what}). Lower task.optimizer.lr."
            )
        return None

    # -- checkpoints --------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = [name for name, t in checkpoint["state_dict"].items()
               if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise NonFiniteLossError(
                f"Refusing to write a checkpoint with non-finite weights ({', '.join(bad[:3])}"
                f"{' ...' if len(bad) > 3 else ''}); the previous checkpoint is kept."
            )
        # The metrics logged so far go to disk with the checkpoint: a run resumed from
        # it continues metrics.csv from this step (wavedil.tasks.loggers) with nothing lost.
        if self._trainer is not None:
            for logger in self._trainer.loggers:
                logger.save()
        # Enough to rebuild the model with no config files at hand (wavedil.checkpoint),
        # and the random state, so that a resumed run draws what this one would have.
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint[CHECKPOINT_KEY] = {
            "format": CHECKPOINT_FORMAT,
            "kind": self.kind,
            "model": to_spec(self.model),
            "data_info": dataclasses.asdict(self.data_info) if self.data_info else None,
            "rng": rng,
            "precision": self._precision_record(),
        }

    def _precision_record(self) -> dict[str, str] | None:
        """What the trainer's precision was asked to be, what ran, and why."""
        if self._trainer is None:
            return None
        choice = getattr(self._trainer, "precision_choice", None)  # wavedil.tasks.Trainer
        if choice is not None:
            return choice.asdict()
        used = str(self._trainer.precision)
        return {"requested": used, "precision": used, "device": self.device.type,
                "reason": "set explicitly"}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        record = upgrade_record(checkpoint.get(CHECKPOINT_KEY) or {})
        current = to_spec(self.model)
        saved = record.get("model")
        if saved is not None:  # an argument added since the run began counts at its default
            rate = (record.get("data_info") or {}).get("sample_rate")  # or, for the audio's
            saved = {**{k: v for k, v in current.items()  # rate, at the run's data rate
                        if k not in saved and (_is_default(current["_target_"], k, v) or (
                            k == "sample_rate" and v == rate))}, **saved}
        if saved not in (None, current):
            differ = sorted(k for k in set(current) | set(saved)
                            if current.get(k) != saved.get(k))
            raise ValueError(
                f"The checkpoint's model differs from the configured one in {differ}: resume "
                "with the overrides the run was started with."
            )
        self._resume_rng = record.get("rng")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Restore the random state of the interrupted run right before its next batch:
        # dropout and feature masking then draw what they would have drawn.
        if self._resume_rng is not None:
            torch.set_rng_state(self._resume_rng["torch"])
            if "cuda" in self._resume_rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._resume_rng["cuda"])
            self._resume_rng = None
