"""``wavedil-resynth`` and ``wavedil-evaluate-vocoder`` end to end, on a tiny vocoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import save_checkpoint, write_wav
from tests.inference.vocoding.test_vocoder import MEL, RATE, train_vocoder, vowel
from wavedil.cli.evaluate_vocoder import main as evaluate_main
from wavedil.cli.resynth import main as resynth_main
from wavedil.data.sources import DataInfo
from wavedil.models import WaveNet, WaveNetClassifier


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vocoder")
    clip = vowel()
    vocoder = train_vocoder(clip, steps=150)
    classifier = WaveNetClassifier(2, residual_channels=4, gate_channels=4, skip_channels=4,
                                   dilations=[1])
    audio = root / "audio"
    write_wav(audio / "1_ann_0.wav", clip.numpy())
    write_wav(audio / "0_ann_1.wav", vowel(1500, (200.0, 150.0), seed=1).numpy())
    write_wav(audio / "1_bob_0.wav", vowel(900, seed=2).numpy())
    return {
        "vocoder": save_checkpoint(vocoder, DataInfo(RATE, local_features=MEL),
                                   root / "vocoder.ckpt"),
        "plain": save_checkpoint(WaveNet(8, 8, 8, dilations=[1, 2]), DataInfo(RATE),
                                 root / "plain.ckpt"),
        "classifier": save_checkpoint(classifier, DataInfo(RATE, class_names=["0", "1"]),
                                      root / "classifier.ckpt", task="classification"),
        "audio": audio,
    }


def resynth(*args) -> int:
    return resynth_main([*map(str, args), "--quiet"])


def test_resynth_writes_a_wav_and_a_picture_per_input_and_refuses_to_overwrite(setup, tmp_path,
                                                                               capsys):
    out = tmp_path / "out"
    assert resynth("--checkpoint", setup["vocoder"], setup["audio"], "--out", out,
                   "--batch", 2, "--temperature", 0) == 0
    for name, length in (("1_ann_0", 2048), ("0_ann_1", 1500), ("1_bob_0", 900)):
        audio, rate = sf.read(out / f"{name}.wav")
        assert rate == RATE and audio.shape == (length,)
        assert (out / f"{name}.png").stat().st_size > 5000
    summary = json.loads((out / "resynth.json").read_text())
    assert summary["files"] == 3 and summary["real_time_factor"] > 0
    assert summary["mel"] == MEL
    assert "x real time at batch 2" in capsys.readouterr().err

    before = (out / "1_ann_0.wav").read_bytes()
    assert resynth("--checkpoint", setup["vocoder"], setup["audio"], "--out", out) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err
    assert (out / "1_ann_0.wav").read_bytes() == before  # untouched
    assert resynth("--checkpoint", setup["vocoder"], setup["audio"] / "1_ann_0.wav",
                   "--out", out, "--overwrite", "--no-plots", "--seed", 3) == 0


def test_resynth_reports_a_bad_input_by_name_and_does_the_others(setup, tmp_path, capsys):
    bad = tmp_path / "in"
    write_wav(bad / "silent.wav", np.zeros(800, dtype=np.float32))
    write_wav(bad / "fast.wav", vowel(800).numpy(), rate=16000)
    (bad / "broken.wav").write_bytes(b"RIFF not really")
    good = setup["audio"] / "1_bob_0.wav"
    out = tmp_path / "out"
    assert resynth("--checkpoint", setup["vocoder"], bad, good, "--out", out,
                   "--no-plots") == 1
    err = capsys.readouterr().err
    assert "silent.wav is silent" in err
    assert "fast.wav is at 16000 Hz; this vocoder expects 8000 Hz" in err
    assert "broken.wav" in err and "Cannot decode" in err
    assert "3 of 4 files could not be resynthesised" in err
    assert sf.read(out / "1_bob_0.wav")[0].shape == (900,)
    assert resynth("--checkpoint", setup["vocoder"], bad / "fast.wav", "--out", tmp_path / "r",
                   "--resample", "--no-plots") == 0
    assert sf.read(tmp_path / "r" / "fast.wav")[0].shape == (400,)


def test_resynth_refuses_what_it_cannot_do_before_any_work(setup, tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    cases = [
        (["--checkpoint", setup["plain"], setup["audio"], "--out", tmp_path / "o1"],
         "has none (it was trained with data.local_features=null)"),
        (["--checkpoint", tmp_path / "missing.ckpt", setup["audio"], "--out", tmp_path / "o2"],
         "Checkpoint not found"),
        (["--checkpoint", setup["vocoder"], setup["audio"], "--out", afile],
         "is a file; expected a folder"),
        (["--checkpoint", setup["vocoder"], tmp_path / "nothing.wav", "--out", tmp_path / "o3"],
         "None of the inputs could be used"),
    ]
    for args, message in cases:
        assert resynth(*args) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o1").exists()


def test_evaluate_vocoder_scores_against_griffin_lim_and_the_classifier(setup, tmp_path,
                                                                        capsys):
    out = tmp_path / "eval"
    status = evaluate_main([
        "--checkpoint", str(setup["vocoder"]), "--classifier", str(setup["classifier"]),
        str(setup["audio"]), "--speakers", "ann", "--out", str(out), "--temperature", "0",
        "--griffin-lim-iters", "8", "--save-audio", "--quiet"])
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = lines[-1]["summary"]
    assert summary["files"] == 2 and summary["labelled_files"] == 2  # bob left out
    assert set(summary["accuracy"]) == {"original", "vocoder", "griffin_lim"}
    saved = json.loads((out / "vocoder_eval.json").read_text())
    assert {Path(row["file"]).name for row in saved["files"]} == {"1_ann_0.wav", "0_ann_1.wav"}
    assert all(row["label"] in ("0", "1") for row in saved["files"])
    table = (out / "vocoder_eval.md").read_text()
    assert "| vocoder |" in table and "| griffin-lim |" in table and "| original |" in table
    assert (out / "examples.png").stat().st_size > 5000
    assert sf.read(out / "griffin_lim" / "1_ann_0.wav")[0].shape == (2048,)
    # the one clip the vocoder learnt: it is closer to the original than Griffin-Lim
    row = next(r for r in saved["files"] if r["file"].endswith("1_ann_0.wav"))
    assert row["vocoder"]["log_mel_distance_db"] < row["griffin_lim"]["log_mel_distance_db"]

    assert evaluate_main(["--checkpoint", str(setup["vocoder"]), str(setup["audio"]),
                          "--out", str(out), "--quiet"]) == 2
    assert "already exist" in capsys.readouterr().err
    assert evaluate_main(["--checkpoint", str(setup["vocoder"]), str(setup["audio"]),
                          "--speakers", "zed", "--out", str(tmp_path / "e2"), "--quiet"]) == 2
    assert "No input files of speakers ['zed']" in capsys.readouterr().err


def test_generated_clips_are_finite_and_in_range(setup, tmp_path):
    out = tmp_path / "o"
    assert resynth("--checkpoint", setup["vocoder"], setup["audio"] / "0_ann_1.wav", "--out",
                   out, "--no-plots") == 0
    audio = torch.from_numpy(sf.read(out / "0_ann_1.wav")[0])
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0


def test_resynth_keeps_dotted_names_records_what_ran_and_replaces_an_earlier_run(setup, tmp_path,
                                                                                capsys):
    takes = tmp_path / "takes"
    write_wav(takes / "take.1.wav", vowel(900, seed=3).numpy())
    write_wav(takes / "take.2.wav", vowel(900, seed=4).numpy())
    out = tmp_path / "out"
    assert resynth("--checkpoint", setup["vocoder"], takes / "take.1.wav", takes / "take.2.wav",
                   "--out", out, "--batch", 2) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "resynth.json", "take.1.png", "take.1.wav", "take.2.png", "take.2.wav"]
    summary = json.loads((out / "resynth.json").read_text())
    assert summary["method"] == "compiled" and summary["method_requested"] == "auto"
    assert sorted(summary["outputs"]) == ["take.1.png", "take.1.wav", "take.2.png", "take.2.wav"]

    # --overwrite replaces the earlier run: what it wrote and this one does not goes,
    # other files in the folder stay
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert resynth("--checkpoint", setup["vocoder"], takes / "take.2.wav", "--out", out,
                   "--no-plots", "--overwrite", "--method", "fast") == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "resynth.json", "take.2.wav"]
    assert "removed 3 output(s) of the earlier run" in capsys.readouterr().err
    assert json.loads((out / "resynth.json").read_text())["method"] == "fast"


def test_resynth_checks_its_outputs_before_reading_the_checkpoint(setup, tmp_path, capsys):
    out = tmp_path / "out"
    write_wav(out / "1_bob_0.wav", vowel(100).numpy())
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    assert resynth("--checkpoint", garbage, setup["audio"] / "1_bob_0.wav", "--out", out) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "Cannot read checkpoint" not in err
