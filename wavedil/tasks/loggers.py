"""Loggers that never lose what an earlier run wrote.

Lightning's :class:`~lightning.pytorch.loggers.CSVLogger` deletes the
``metrics.csv`` it finds in its folder, so a run resumed with ``ckpt_path=last``
would lose the curves of everything before the interruption. :class:`CSVLogger`
here keeps them:

- a **resumed** run (:meth:`CSVLogger.resume_at`) keeps the rows logged before the
  checkpoint's step and appends after them; rows from after the checkpoint (work
  the interruption threw away, which the resumed run redoes) are dropped;
- a **fresh** run into a folder that already holds a ``metrics.csv`` moves it
  aside to ``metrics.<n>.csv`` instead of deleting it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger as LightningCSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

__all__ = ["CSVLogger", "keep_rows_before"]


def keep_rows_before(path: Path, step: int) -> int:
    """Rewrite the metrics file ``path`` (atomically) with only its rows logged
    before ``step``; returns how many rows were kept."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = [row for row in reader if _step(row) < step]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return len(rows)


def _step(row: dict[str, Any]) -> float:
    try:
        return float(row.get("step") or "nan")
    except ValueError:
        return float("nan")  # not a step: dropped (NaN < step is false)


class _AppendingWriter(ExperimentWriter):
    """Lightning's writer, appending to an existing ``metrics.csv`` under its header."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                header = next(csv.reader(f), [])
            self.metrics_keys = sorted(header)


class CSVLogger(LightningCSVLogger):
    """Lightning's CSV logger (``metrics.csv``, ``hparams.yaml``), except that an
    earlier ``metrics.csv`` in its folder is never deleted: continued by a resumed
    run, moved aside by a fresh one.

    Args: as :class:`lightning.pytorch.loggers.CSVLogger`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resume_step: int | None = None

    def resume_at(self, step: int) -> None:
        """Continue the ``metrics.csv`` of the run being resumed from ``step``
        (call before training starts)."""
        self._resume_step = step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is not None:
            return self._experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        metrics = Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE
        if metrics.is_file():
            if self._resume_step is not None:
                keep_rows_before(metrics, self._resume_step)
            else:
                n = 1
                while metrics.with_name(f"metrics.{n}.csv").exists():
                    n += 1
                metrics.rename(metrics.with_name(f"metrics.{n}.csv"))
        self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
