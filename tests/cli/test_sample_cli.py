"""``wavedil-sample`` end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import REPO, save_checkpoint, tone, write_wav
from wavedil.checkpoint import load_model
from wavedil.cli.sample import main
from wavedil.data.sources import DataInfo
from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.inference import generate
from wavedil.models import WaveNet, WaveNetClassifier

MEL = {"n_mels": 8, "hop_length": 32, "n_fft": 128}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    plain = WaveNet(8, 8, 8, dilations=[1, 2, 4, 8])
    speakers = WaveNet(8, 8, 8, dilations=[1, 2, 4], global_classes=2)
    mel = WaveNet(8, 8, 8, dilations=[1, 2, 4], local_channels=8, local_hop_length=32)
    mixture = WaveNet(8, 8, 8, dilations=[1, 2, 4], input_encoding="continuous",
                      output=DiscretizedLogisticMixture(3))
    classifier = WaveNetClassifier(2, residual_channels=4, gate_channels=4, skip_channels=4,
                                   dilations=[1])
    return {
        "plain": save_checkpoint(plain, DataInfo(8000), root / "plain.ckpt"),
        "speakers": save_checkpoint(
            speakers, DataInfo(8000, speaker_names=["ann", "bob"], global_label="speaker"),
            root / "speakers.ckpt"),
        "mel": save_checkpoint(mel, DataInfo(8000, local_features=MEL), root / "mel.ckpt"),
        "mixture": save_checkpoint(mixture, DataInfo(8000), root / "mixture.ckpt"),
        "classifier": save_checkpoint(classifier, DataInfo(8000, class_names=["a", "b"]),
                                      root / "classifier.ckpt", task="classification"),
    }


def run(*args: str) -> int:
    return main([*map(str, args), "--quiet"])


def test_writes_wav_and_png_per_clip_at_the_model_rate(checkpoints, tmp_path):
    assert run("--checkpoint", checkpoints["plain"], "--samples", 300, "--batch", 2,
               "--seed", 1, "--out", tmp_path) == 0
    for i in range(2):
        audio, rate = sf.read(tmp_path / f"sample_{i:03d}.wav")
        assert rate == 8000 and audio.shape == (300,)
        assert (tmp_path / f"sample_{i:03d}.png").stat().st_size > 1000
    meta = json.loads((tmp_path / "sample.json").read_text())
    assert meta["seed"] == 1 and meta["batch"] == 2
    assert meta["method"] == "compiled"  # the default, auto, for a small model at batch 2


def test_same_seed_same_audio(checkpoints, tmp_path):
    for name, method in (("a", "fast"), ("b", "compiled")):  # the same samples either way
        assert run("--checkpoint", checkpoints["plain"], "--seconds", 0.05, "--seed", 3,
                   "--method", method, "--out", tmp_path / name, "--no-plots") == 0
    a, _ = sf.read(tmp_path / "a" / "sample_000.wav")
    b, _ = sf.read(tmp_path / "b" / "sample_000.wav")
    assert len(a) == 400 and np.array_equal(a, b)


def test_a_logistic_mixture_checkpoint_writes_its_16_bit_values_exactly(checkpoints, tmp_path):
    assert run("--checkpoint", checkpoints["mixture"], "--samples", 400, "--seed", 5,
               "--out", tmp_path) == 0
    written, rate = sf.read(tmp_path / "sample_000.wav", dtype="float32")
    expected = generate(load_model(checkpoints["mixture"]).model, 400, seed=5).values[0]
    assert rate == 8000 and torch.equal(torch.from_numpy(written), expected)
    assert len(np.unique(written)) > 100


def test_speaker_names_and_unknown_speakers(checkpoints, tmp_path, capsys):
    assert run("--checkpoint", checkpoints["speakers"], "--samples", 50, "--speaker", "ann",
               "bob", "--out", tmp_path, "--no-plots") == 0
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["sample_000.wav", "sample_001.wav"]
    assert run("--checkpoint", checkpoints["speakers"], "--samples", 50, "--speaker", "zed",
               "--out", tmp_path) == 2
    assert "Unknown speaker 'zed'; expected one of: ann, bob" in capsys.readouterr().err
    assert run("--checkpoint", checkpoints["speakers"], "--samples", 50, "--out", tmp_path) == 2
    assert "conditioned on a speaker" in capsys.readouterr().err


def test_mel_conditioning_from_a_wav_or_an_array(checkpoints, tmp_path, capsys):
    wav = write_wav(tmp_path / "in.wav", tone(0.1, 16000), rate=16000)  # resampled to 8 kHz
    assert run("--checkpoint", checkpoints["mel"], "--wav", wav, "--out", tmp_path / "w",
               "--no-plots") == 0
    audio, _ = sf.read(tmp_path / "w" / "sample_000.wav")
    assert len(audio) == (800 // 32 + 1) * 32  # every mel frame's hop
    np.save(tmp_path / "mel.npy", np.zeros((8, 10), dtype=np.float32))
    assert run("--checkpoint", checkpoints["mel"], "--mel", tmp_path / "mel.npy",
               "--out", tmp_path / "m", "--no-plots") == 0
    assert len(sf.read(tmp_path / "m" / "sample_000.wav")[0]) == 320
    np.save(tmp_path / "bad.npy", np.zeros((5, 10), dtype=np.float32))
    assert run("--checkpoint", checkpoints["mel"], "--mel", tmp_path / "bad.npy",
               "--out", tmp_path) == 2
    assert "shape (8, frames)" in capsys.readouterr().err
    assert run("--checkpoint", checkpoints["mel"], "--out", tmp_path) == 2
    assert "pass --wav" in capsys.readouterr().err


def test_missing_wrong_kind_and_corrupt_checkpoints(checkpoints, tmp_path, capsys):
    assert run("--checkpoint", tmp_path / "none.ckpt", "--out", tmp_path) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
    assert run("--checkpoint", checkpoints["classifier"], "--out", tmp_path) == 2
    assert "holds a classifier, but a generator checkpoint is needed" in capsys.readouterr().err
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    assert run("--checkpoint", tmp_path / "junk.ckpt", "--out", tmp_path) == 2
    assert "Cannot read checkpoint" in capsys.readouterr().err


def test_console_script_is_declared():
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("wavedil-sample") == "wavedil.cli.sample:main"


def test_train_then_sample_end_to_end(tmp_path, fsdd_root):
    """A generator trained by train.py on FSDD speakers samples with --speaker, no conf/ needed."""
    run_dir = tmp_path / "run"
    train = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "experiment=fsdd_generator",
             f"data.root={fsdd_root}", "trainer.max_steps=2", "trainer.limit_val_batches=1",
             "test=false", "data.crop_length=1024", "model.dilations=[1,2,4,8]"]
    done = subprocess.run(train, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    sample = [sys.executable, "-m", "wavedil.cli.sample", "--checkpoint", str(ckpt),
              "--speaker", "jackson", "lucas", "--seconds", "0.05", "--seed", "0",
              "--out", str(tmp_path / "out")]
    done = subprocess.run(sample, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "samples/s" in done.stderr  # the progress bar and summary report speed
    assert len(list((tmp_path / "out").glob("*.wav"))) == 2


def test_output_folder_is_checked_before_any_work_and_never_mixed(checkpoints, tmp_path,
                                                                  capsys):
    out = tmp_path / "out"
    assert run("--checkpoint", checkpoints["plain"], "--samples", 50, "--batch", 2,
               "--out", out, "--no-plots", "--seed", 1) == 0
    first = (out / "sample_001.wav").read_bytes()
    assert run("--checkpoint", checkpoints["plain"], "--samples", 50, "--out", out) == 2
    assert "already holds samples" in capsys.readouterr().err
    assert (out / "sample_001.wav").read_bytes() == first  # untouched
    assert run("--checkpoint", checkpoints["plain"], "--samples", 50, "--out", out,
               "--overwrite", "--no-plots") == 0
    assert sorted(p.name for p in out.iterdir()) == ["sample.json", "sample_000.wav"]  # no stale
    afile = tmp_path / "file.wav"
    afile.write_bytes(b"mine")
    assert run("--checkpoint", checkpoints["plain"], "--samples", 50, "--out", afile) == 2
    assert "is a file; expected a folder" in capsys.readouterr().err
    assert afile.read_bytes() == b"mine"


def test_bad_mel_arrays_and_lengths_beyond_the_conditioning(checkpoints, tmp_path, capsys):
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    nan = np.zeros((8, 10), dtype=np.float32)
    nan[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    torch.save({"not": "an array"}, tmp_path / "dict.pt")
    np.save(tmp_path / "ok.npy", np.zeros((8, 10), dtype=np.float32))
    cases = [("corrupt.npy", "Cannot read the mel array"), ("nan.npy", "holds NaN or Inf"),
             ("dict.pt", "Cannot read the mel array")]
    for name, message in cases:
        assert run("--checkpoint", checkpoints["mel"], "--mel", tmp_path / name,
                   "--out", tmp_path / "o") == 2
        assert message in capsys.readouterr().err
    assert run("--checkpoint", checkpoints["mel"], "--mel", tmp_path / "ok.npy",
               "--samples", 321, "--out", tmp_path / "o") == 2
    assert "covers 320 samples (10 frames)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before any work


def test_a_write_failure_after_generation_saves_the_clips_elsewhere(checkpoints, tmp_path,
                                                                    capsys, monkeypatch):
    import wavedil.cli.sample as sample_module

    real = sample_module.write_audio
    calls = []

    def full_disk(path, audio, rate):
        calls.append(path)
        if Path(path).parent == tmp_path / "out" and len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(path, audio, rate)

    monkeypatch.setattr(sample_module, "write_audio", full_disk)
    assert run("--checkpoint", checkpoints["plain"], "--samples", 40, "--batch", 3,
               "--out", tmp_path / "out", "--no-plots") == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "1 of 3 clips written there" in err
    rescued = Path(err.split("saved to ")[1].split(" instead")[0])
    assert sorted(p.name for p in rescued.glob("*.wav")) == [f"sample_{i:03d}.wav"
                                                            for i in range(3)]
