"""A callback for ``bench/data.py``: wall-clock times of the training batches of a
``train.py`` run, written as JSON lines (``{"start": t}`` before the first batch,
then ``{"step": s, "t": t}`` after each), so the benchmark can tell the time to the
first step from the start of the process and the samples per second after it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning.pytorch as pl


class StepClock(pl.Callback):
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.started = False

    def _write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.started:
            self.started = True
            self._write({"start": time.time()})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._write({"step": trainer.global_step, "t": time.time()})
