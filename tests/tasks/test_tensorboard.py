"""``logger=[csv,tensorboard]``: scalars, and at each validation audio with
spectrograms (generators, vocoders) or the confusion matrix (classifiers), read
back from the event file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)

QUICK = ["trainer.max_steps=4", "trainer.log_every_n_steps=1", "trainer.limit_val_batches=1",
         "test=false", "trainer.enable_progress_bar=false", "logger=[csv,tensorboard]"]


def _train(run_dir: Path, *overrides: str) -> EventAccumulator:
    done = subprocess.run([sys.executable, "train.py", f"hydra.run.dir={run_dir}", *QUICK,
                           *overrides], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "metrics.csv").is_file()  # the CSV logger still writes
    events = list(run_dir.glob("events.out.tfevents.*"))
    assert len(events) == 1
    board = EventAccumulator(str(events[0]), size_guidance={"audio": 0, "images": 0})
    board.Reload()
    return board


def test_a_generator_logs_its_samples_as_audio_and_spectrograms(tmp_path):
    board = _train(tmp_path / "run", "data.source.num_train=8", "data.batch_size=4",
                   "data.crop_length=512", "model.dilations=[1,2,4]",
                   "callbacks.tensorboard_media.seconds=0.1")
    tags = board.Tags()
    assert {"train/loss", "val/loss"} <= set(tags["scalars"])
    assert any(t.startswith("lr") for t in tags["scalars"])  # the learning rate
    assert {"val/sample_0", "val/sample_1"} <= set(tags["audio"])
    assert {"val/sample_0/spectrogram", "val/sample_1/spectrogram"} <= set(tags["images"])
    clip = board.Audio("val/sample_0")[0]
    assert clip.sample_rate == 8000 and clip.length_frames == 800
    assert board.Images("val/sample_0/spectrogram")[0].width > 100


@pytest.mark.parametrize("family", ["autoregressive", "parallel"])
def test_a_vocoder_logs_the_resynthesis_of_fixed_validation_clips(tmp_path, family):
    parallel = [] if family == "autoregressive" else [
        "model=parallel_vocoder", "task=parallel_vocoder", "trainer.gradient_clip_val=null",
        "task.discriminator_start=2"]
    board = _train(tmp_path / "run", "data.source.num_train=8", "data.batch_size=4",
                   "data.crop_length=512", "model.dilations=[1,2,4]",
                   "+data.local_features={n_mels: 20, hop_length: 64, n_fft: 256}",
                   "callbacks.tensorboard_media.seconds=0.05", *parallel)
    tags = board.Tags()
    assert {"val/resynthesis_0", "val/resynthesis_1"} <= set(tags["audio"])
    assert "val/resynthesis_0/spectrogram" in tags["images"]
    assert board.Audio("val/resynthesis_0")[0].length_frames == 400


def test_a_classifier_logs_its_validation_confusion_matrix(tmp_path):
    board = _train(tmp_path / "run", "experiment=synthetic_classifier", "model=classifier",
                   "trainer.limit_train_batches=2",
                   "model.dilations=[1,2,4]", "model.residual_channels=8",
                   "model.gate_channels=8", "model.skip_channels=8")
    assert "val/confusion" in board.Tags()["images"]
    assert board.Images("val/confusion")[0].height > 100


def test_the_logger_group_takes_one_logger_or_several(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from tests.test_config import compose_train
    from wavedil.cli.train import build_loggers
    from wavedil.tasks.loggers import CSVLogger

    one = build_loggers(compose_train([f"output_dir={tmp_path}"]).logger)
    assert [type(lg) for lg in one] == [CSVLogger]
    both = build_loggers(compose_train([f"output_dir={tmp_path}",
                                        "logger=[csv,tensorboard]"]).logger)
    assert [type(lg) for lg in both] == [CSVLogger, TensorBoardLogger]
    assert build_loggers(compose_train([f"output_dir={tmp_path}", "~logger"]).get("logger")) == []
