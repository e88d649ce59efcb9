"""Training of the classifier: cross-entropy and accuracy.

Batches: ``{"audio": (B, T), "lengths": (B,), "label": (B,)}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from wavedil.models import WaveNetClassifier
from wavedil.models.wrappers import SpeedAveraged
from wavedil.tasks.base import Task

__all__ = ["ClassificationTask"]


class ClassificationTask(Task):
    """Train a :class:`~wavedil.models.WaveNetClassifier`; logs ``{stage}/loss`` and
    ``{stage}/accuracy`` (and ``test/accuracy_single``, without the averaging, when
    ``test_speeds`` are set). Test predictions are kept in :attr:`test_predictions`
    (a ``(N, 2)`` tensor of label, prediction) for reports.

    Args:
        label_smoothing: cross-entropy label smoothing.
        mixup: mixup of training clips (Zhang et al., 2018): each training batch is
            mixed with a shuffled copy of itself, waveform by waveform, with a weight
            ``lam ~ Beta(mixup, mixup)`` drawn per batch, and the loss is the same mix
            of the two clips' cross-entropies (the longer clip's length is kept).
            ``0`` (default) trains on the clips as they are.
        test_speeds: test-time augmentation: test predictions average the
            log-probabilities of the clips played at these speeds
            (:class:`~wavedil.inference.classification.predict.SpeedAveraged`); ``None`` tests
            the clips as they are. Validation is never averaged.
        (others as :class:`~wavedil.tasks.base.Task`)
    """

    kind = "classifier"
    model: WaveNetClassifier

    def __init__(self, *args, label_smoothing: float = 0.0, mixup: float = 0.0,
                 test_speeds: Sequence[float] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"Expected label_smoothing in [0, 1), but found {label_smoothing}.")
        if not (mixup >= 0.0 and math.isfinite(mixup)):
            raise ValueError(f"Expected mixup (the Beta distribution's parameter) >= 0, "
                             f"but found {mixup}.")
        self.label_smoothing = label_smoothing
        self.mixup = float(mixup)
        # a plain list of module references, so that the wrapper adds no state_dict keys
        self._test_model = [SpeedAveraged(self.model, list(test_speeds))] if test_speeds else []
        self._test_pairs: list[Tensor] = []
        self.test_predictions: Tensor | None = None

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        model = self._test_model[0] if stage == "test" and self._test_model else self.model
        logits = model(batch["audio"], batch.get("lengths"))  # (B, K) logits or log-probs
        label = batch["label"]  # (B,)
        if stage == "train":
            loss = self.loss(logits, label, batch.get("weight"))
        else:  # every clip counts the same when scoring
            loss = F.cross_entropy(logits, label)
        prediction = logits.argmax(dim=-1)  # (B,)
        metrics = {"loss": loss, "accuracy": (prediction == label).float().mean()}
        if model is not self.model:  # averaged over speeds: also the clips as they are
            with torch.no_grad():
                single = self.model(batch["audio"], batch.get("lengths")).argmax(dim=-1)
            metrics["accuracy_single"] = (single == label).float().mean()
        on_step = stage == "train"
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, prog_bar=True, on_step=on_step,
                     on_epoch=not on_step, sync_dist=not on_step, batch_size=label.shape[0])
        return loss, torch.stack([label, prediction], dim=1)

    def loss(self, logits: Tensor, label: Tensor, weight: Tensor | None = None) -> Tensor:
        """Label-smoothed cross-entropy; with ``weight`` (B,), the weighted mean over
        the batch (clips that count less, e.g. synthetic ones: ``data.tts.weight``)."""
        smoothing = self.label_smoothing
        if weight is None or bool((weight == 1).all()):  # the plain mean, bit for bit
            return F.cross_entropy(logits, label, label_smoothing=smoothing)
        each = F.cross_entropy(logits, label, label_smoothing=smoothing, reduction="none")
        return (each * weight).sum() / weight.sum()

    def mixed_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The mixup training loss of one batch (see ``mixup``); logs ``train/loss``."""
        audio, label, lengths = batch["audio"], batch["label"], batch.get("lengths")
        lam = float(torch.distributions.Beta(self.mixup, self.mixup).sample())
        order = torch.randperm(label.shape[0], device=label.device)
        mixed = lam * audio + (1.0 - lam) * audio[order]  # padding is zeros: lengths add up
        if lengths is not None:
            lengths = torch.maximum(lengths, lengths[order])
        logits = self.model(mixed, lengths)
        weight = batch.get("weight")
        loss = (lam * self.loss(logits, label, weight)
                + (1.0 - lam) * self.loss(logits, label[order],
                                          None if weight is None else weight[order]))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False,
                 batch_size=label.shape[0])
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        if self.mixup > 0.0:
            return self.guard(self.mixed_loss(batch))
        return self.guard(self.step(batch, "train")[0])

    def on_validation_epoch_start(self) -> None:
        self._val_pairs: list[Tensor] = []

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, pairs = self.step(batch, "val")
        self._val_pairs.append(pairs.cpu())
        return loss

    @property
    def val_predictions(self) -> Tensor | None:
        """``(N, 2)`` true and predicted classes of the latest validation so far."""
        pairs = getattr(self, "_val_pairs", None)
        return torch.cat(pairs) if pairs else None

    def on_test_epoch_start(self) -> None:
        self._test_pairs = []

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, pairs = self.step(batch, "test")
        self._test_pairs.append(pairs.cpu())
        return loss

    def on_test_epoch_end(self) -> None:
        if self._test_pairs:
            self.test_predictions = torch.cat(self._test_pairs)
