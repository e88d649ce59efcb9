"""``python train.py`` end to end, in subprocesses as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from wavedil.checkpoint import load_model

REPO = Path(__file__).resolve().parents[1]


def run_train(tmp_path: Path, *overrides: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "train.py", f"hydra.run.dir={tmp_path}", *overrides]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                            env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize("experiment",
                         [None, "synthetic_classifier", "model/output=logistic_mixture"])
def test_fast_dev_run_on_embedded_data(tmp_path, experiment):
    extra = [] if experiment is None else [
        experiment if "=" in experiment else f"experiment={experiment}"]
    result = run_train(tmp_path, "trainer.fast_dev_run=true", *extra)
    metric = "test/accuracy" if experiment == "synthetic_classifier" else "test/bits_per_sample"
    assert metric in result.stdout + result.stderr
    assert (tmp_path / "config.yaml").is_file()


@pytest.mark.parametrize("experiment", ["fsdd_classifier", "fsdd_generator"])
def test_fast_dev_run_on_fsdd(tmp_path, experiment, fsdd_root):
    run_train(tmp_path, f"experiment={experiment}", f"data.root={fsdd_root}",
              "trainer.fast_dev_run=true")


def test_short_run_writes_checkpoints_config_metrics_and_curves(tmp_path):
    run_train(tmp_path, "trainer.max_epochs=2", "data.source.num_train=8", "data.batch_size=4",
              "data.crop_length=512", "data.crops_per_clip=1", "model.dilations=[1,2,4,8]",
              "callbacks.last_checkpoint.every_n_train_steps=3")
    # 2 steps per epoch, 4 in all: last.ckpt is written at step 3 and again at the end
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert (tmp_path / "metrics.csv").is_file() and (tmp_path / "curves.png").is_file()
    config = OmegaConf.load(tmp_path / "config.yaml")  # resolved: plain values only
    assert list(config.model.dilations) == [1, 2, 4, 8]
    assert config.model.global_classes is None and config.data.source.num_train == 8
    loaded = load_model(tmp_path / "checkpoints" / "last.ckpt", kind="generator")
    assert loaded.model.stack.dilations == [1, 2, 4, 8]
    assert loaded.model(torch.randint(0, 256, (1, 64))).shape == (1, 256, 64)


def test_missing_data_root_is_reported(tmp_path):
    cmd = [sys.executable, "train.py", f"hydra.run.dir={tmp_path}", "experiment=fsdd_classifier"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "data.root" in result.stderr + result.stdout
