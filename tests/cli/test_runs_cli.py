"""Sweeps: ``python train.py -m`` runs each job into its own folder and summarises
them in one table (``runs.md``, ``runs.csv``); ``wavedil-runs`` writes the same table
for any folder of runs, never over existing files without ``--overwrite``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from wavedil.cli.runs import main as runs_main

TINY = ["data.source.num_train=8", "data.batch_size=4", "data.crop_length=256",
        "model.dilations=[1,2]", "model.gate_channels=8", "model.skip_channels=8",
        "trainer.max_steps=3", "trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep") / "multirun"
    done = subprocess.run(
        [sys.executable, "train.py", "-m", f"hydra.sweep.dir={root}", *TINY,
         "model.residual_channels=4,8"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_a_sweep_writes_one_folder_per_job_and_a_table_of_them(sweep):
    for job in ("0", "1"):
        record = json.loads((sweep / job / "final_metrics.json").read_text())
        assert record["steps"] == 3 and "test/bits_per_sample" in record["metrics"]
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
    with open(sweep / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["run"], r["model.residual_channels"], r["status"], r["steps"]) for r in rows] == [
        ("0", "4", "finished", "3"), ("1", "8", "finished", "3")]
    for row, job in zip(rows, ("0", "1")):  # the table holds each job's own figures
        record = json.loads((sweep / job / "final_metrics.json").read_text())
        assert float(row["test/bits_per_sample"]) == pytest.approx(
            record["metrics"]["test/bits_per_sample"], rel=1e-3)
    assert rows[0]["test/bits_per_sample"] != rows[1]["test/bits_per_sample"]
    markdown = (sweep / "runs.md").read_text()
    # overrides every job shares are said once, not as columns
    assert "`trainer.max_steps=3`" in markdown and "| run | model.residual_channels |" in markdown
    assert "trainer.max_steps" not in rows[0]


def test_wavedil_runs_refuses_to_overwrite_and_lists_unfinished_runs(sweep, tmp_path, capsys):
    out = tmp_path / "summary"
    assert runs_main([str(sweep), "--out", str(out)]) == 0
    before = (out / "runs.csv").read_text()
    assert before == (sweep / "runs.csv").read_text()
    assert runs_main([str(sweep), "--out", str(out)]) == 2
    assert "already exist(s); pass --overwrite" in capsys.readouterr().err
    assert (out / "runs.csv").read_text() == before  # untouched
    # a job that died: its Hydra folder without the final record
    dead = sweep / "2" / ".hydra"
    dead.mkdir(parents=True)
    (dead / "overrides.yaml").write_text("- model.residual_channels=16\n")
    try:
        assert runs_main([str(sweep), "--out", str(out), "--overwrite"]) == 0
    finally:
        (dead / "overrides.yaml").unlink()
        dead.rmdir()
        dead.parent.rmdir()
    with open(out / "runs.csv", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert (last["run"], last["model.residual_channels"], last["status"]) == (
        "2", "16", "unfinished")


def test_wavedil_runs_names_a_folder_without_runs(tmp_path, capsys):
    assert runs_main([str(tmp_path)]) == 2
    assert f"No training runs under {tmp_path}" in capsys.readouterr().err
    assert not (tmp_path / "runs.md").exists()
    assert runs_main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
