"""The CSV logger keeps what an earlier run logged (:mod:`wavedil.tasks.loggers`)."""

from __future__ import annotations

import csv

from wavedil.tasks.loggers import CSVLogger


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if v} for row in csv.DictReader(f)]


def _log(logger, step, **metrics):
    logger.log_metrics(metrics, step=step)
    logger.save()


def test_a_fresh_run_moves_an_earlier_metrics_file_aside(tmp_path):
    first = CSVLogger(tmp_path, name="", version="")
    _log(first, 4, loss=1.0)
    second = CSVLogger(tmp_path, name="", version="")
    _log(second, 4, loss=2.0)
    third = CSVLogger(tmp_path, name="", version="")
    _log(third, 4, loss=3.0)
    assert _rows(tmp_path / "metrics.1.csv") == [{"loss": "1.0", "step": "4"}]
    assert _rows(tmp_path / "metrics.2.csv") == [{"loss": "2.0", "step": "4"}]
    assert _rows(tmp_path / "metrics.csv") == [{"loss": "3.0", "step": "4"}]


def test_a_resumed_run_continues_the_file_from_its_checkpoint_step(tmp_path):
    first = CSVLogger(tmp_path, name="", version="")
    for step in (4, 9, 14):
        _log(first, step, loss=float(step))
    resumed = CSVLogger(tmp_path, name="", version="")
    resumed.resume_at(10)  # the checkpoint was written at step 10: step 14 is redone
    _log(resumed, 14, loss=-14.0)
    _log(resumed, 19, loss=-19.0, val=0.5)  # a new column rewrites the header, rows kept
    assert _rows(tmp_path / "metrics.csv") == [
        {"loss": "4.0", "step": "4"}, {"loss": "9.0", "step": "9"},
        {"loss": "-14.0", "step": "14"}, {"loss": "-19.0", "step": "19", "val": "0.5"}]
    assert not list(tmp_path.glob("metrics.*.csv"))
