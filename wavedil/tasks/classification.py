"""Training of the classifier: cross-entropy and accuracy.

Batches: ``{"audio": (B, T), "lengths": (B,), "label": (B,)}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from wavedil.models import WaveNetClassifier
from wavedil.tasks.base import Task

__all__ = ["ClassificationTask"]


class ClassificationTask(Task):
    """Train a :class:`~wavedil.models.WaveNetClassifier`; logs ``{stage}/loss`` and
    ``{stage}/accuracy``. Test predictions are kept in :attr:`test_predictions`
    (a ``(N, 2)`` tensor of label, prediction) for reports.

    Args:
        label_smoothing: cross-entropy label smoothing.
        (others as :class:`~wavedil.tasks.base.Task`)
    """

    kind = "classifier"
    model: WaveNetClassifier

    def __init__(self, *args, label_smoothing: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"Expected label_smoothing in [0, 1), but found {label_smoothing}.")
        self.label_smoothing = label_smoothing
        self._test_pairs: list[Tensor] = []
        self.test_predictions: Tensor | None = None

    def step(self, batch: dict[str, Tensor], stage: str) -> tuple[Tensor, Tensor]:
        logits = self.model(batch["audio"], batch.get("lengths"))  # (B, K)
        label = batch["label"]  # (B,)
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits, label, label_smoothing=smoothing)
        prediction = logits.argmax(dim=-1)  # (B,)
        accuracy = (prediction == label).float().mean()
        on_step = stage == "train"
        for name, value in (("loss", loss), ("accuracy", accuracy)):
            self.log(f"{stage}/{name}", value, prog_bar=True, on_step=on_step,
                     on_epoch=not on_step, sync_dist=not on_step, batch_size=label.shape[0])
        return loss, torch.stack([label, prediction], dim=1)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor | None:
        return self.guard(self.step(batch, "train")[0])

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self.step(batch, "val")[0]

    def on_test_epoch_start(self) -> None:
        self._test_pairs = []

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss, pairs = self.step(batch, "test")
        self._test_pairs.append(pairs.cpu())
        return loss

    def on_test_epoch_end(self) -> None:
        if self._test_pairs:
            self.test_predictions = torch.cat(self._test_pairs)
