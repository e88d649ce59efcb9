"""Training the parallel vocoder under manual optimisation: both losses fall on one
clip, the update count survives a checkpoint, and the checkpoint is a vocoder every
tool can load."""

from __future__ import annotations

import functools

import pytest
import torch
from lightning.pytorch import Callback, Trainer

from tests.inference.vocoding.test_vocoder import MEL, RATE, vowel
from wavedil.checkpoint import AtomicCheckpointIO, load_model
from wavedil.data import GenerationDataModule
from wavedil.data.records import Clip, ClipSplits, DataInfo
from wavedil.inference.vocoding import load_vocoder, mel_frames, resynthesize
from wavedil.models import ParallelWaveNet, WaveDiscriminator
from wavedil.tasks import ParallelVocoderTask


class OneClip:
    """A clip source of one vowel-like clip, for every split."""

    def __init__(self, seed: int = 0) -> None:
        self.clip = Clip(vowel(2048), label=0)

    def load(self) -> ClipSplits:
        info = DataInfo(RATE)
        return ClipSplits([self.clip] * 8, [self.clip], [self.clip], info)


class Losses(Callback):
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.rows.append({k: float(v) for k, v in trainer.callback_metrics.items()
                          if k.startswith("train/")})


def tiny_task(start: int) -> ParallelVocoderTask:
    torch.manual_seed(0)
    model = ParallelWaveNet(MEL["n_mels"], MEL["hop_length"], 16, 32, 16,
                            dilations=[1, 2, 4, 8, 16, 1, 2, 4])
    return ParallelVocoderTask(model, functools.partial(torch.optim.Adam, lr=3e-3),
                               discriminator=WaveDiscriminator(16, dilations=[1, 2, 4, 8]),
                               discriminator_optimizer=functools.partial(torch.optim.Adam,
                                                                         lr=1e-3),
                               discriminator_start=start, data_info=DataInfo(
                                   RATE, local_features=MEL))


def fit(task: ParallelVocoderTask, tmp_path, epochs: int, **more) -> tuple[Trainer, Losses]:
    dm = GenerationDataModule(OneClip, batch_size=4, crop_length=1024, local_features=MEL,
                              feature_cache=None)
    losses = Losses()
    trainer = Trainer(max_epochs=epochs, accelerator="cpu", logger=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=1, num_sanity_val_steps=0, gradient_clip_val=None,
                      default_root_dir=tmp_path, callbacks=[losses],
                      plugins=[AtomicCheckpointIO()], **more)
    trainer.fit(task, datamodule=dm)
    return trainer, losses


def test_a_few_steps_lower_both_losses_on_one_clip(tmp_path):
    task = tiny_task(start=10)
    trainer, losses = fit(task, tmp_path, epochs=15)  # 2 batches an epoch: 30 updates
    stft = [r["train/stft"] for r in losses.rows]
    d = [r["train/discriminator"] for r in losses.rows if "train/discriminator" in r]
    assert task.generator_updates == 30
    assert sum(stft[-3:]) / 3 < 0.8 * sum(stft[:3]) / 3
    assert len(d) == 20 and sum(d[-3:]) / 3 < sum(d[:3]) / 3
    # Lightning's step counts both networks' updates: 30 + 20
    assert trainer.global_step == 50


def test_the_checkpoint_keeps_the_update_count_and_is_a_vocoder_for_the_tools(tmp_path):
    task = tiny_task(start=2)
    trainer, _ = fit(task, tmp_path, epochs=2)
    path = tmp_path / "p.ckpt"
    trainer.save_checkpoint(path)
    record = torch.load(path, weights_only=True)
    assert record["parallel_vocoder"] == {"generator_updates": 4}
    fresh = tiny_task(start=2)
    fresh.on_load_checkpoint(record)
    assert fresh.generator_updates == 4 and fresh.adversarial
    loaded = load_model(path, kind="generator")
    assert isinstance(loaded.model, ParallelWaveNet)  # the generator alone
    model, _, settings = load_vocoder(path)
    clip = vowel(1000)
    frames = [mel_frames(clip, RATE, settings), mel_frames(clip[:500], RATE, settings)]
    one = resynthesize(model, frames, [1000, 500], batch_size=2, seed=3)
    again = resynthesize(model, frames, [1000, 500], batch_size=2, seed=3)
    assert [len(a) for a in one.audio] == [1000, 500] and one.methods == ("parallel",)
    assert all(torch.equal(a, b) for a, b in zip(one.audio, again.audio, strict=True))


def test_bad_settings_are_named():
    model = ParallelWaveNet(20, 64, 8, 8, 8, dilations=[1])
    adam = functools.partial(torch.optim.Adam)
    with pytest.raises(ValueError, match="adversarial_weight"):
        ParallelVocoderTask(model, adam, adversarial_weight=-1.0)
    with pytest.raises(ValueError, match="discriminator_start"):
        ParallelVocoderTask(model, adam, discriminator_start=1.5)
    with pytest.raises(ValueError, match="gradient_clip"):
        ParallelVocoderTask(model, adam, gradient_clip=0.0)
