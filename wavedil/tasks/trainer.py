""":class:`Trainer`: Lightning's trainer, with ``precision="auto"`` as its default
(:mod:`wavedil.tasks.precision`)."""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl

from wavedil.tasks.precision import AUTO, PrecisionChoice, resolve_precision

__all__ = ["Trainer"]

log = logging.getLogger("wavedil.train")


class Trainer(pl.Trainer):
    """``lightning.pytorch.Trainer`` whose ``precision`` may be ``"auto"``: bf16 mixed
    precision where the accelerator computes bf16 natively, float32 elsewhere.

    The choice and its reason are logged and kept as :attr:`precision_choice`; the
    tasks write them into every checkpoint. Every other argument is Lightning's.

    Example:
        >>> trainer = Trainer(precision="32-true", accelerator="cpu", logger=False,
        ...                   enable_progress_bar=False, enable_model_summary=False)
        >>> trainer.precision_choice.precision, trainer.precision
        ('32-true', '32-true')
    """

    def __init__(self, *args: Any, precision: Any = AUTO, **kwargs: Any) -> None:
        choice = resolve_precision(precision, kwargs.get("accelerator", AUTO))
        if choice.requested == AUTO:
            log.info("trainer.precision=auto: %s on %s, because %s.", choice.precision,
                     choice.device, choice.reason)
        super().__init__(*args, precision=choice.precision, **kwargs)
        self.precision_choice: PrecisionChoice = choice
