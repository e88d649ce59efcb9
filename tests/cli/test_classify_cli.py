"""``wavedil-classify``, ``wavedil-evaluate`` and ``wavedil-adapt`` end to end, on FSDD
files, with a checkpoint briefly trained by ``train.py``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, write_wav
from wavedil.cli.adapt import main as adapt_cli
from wavedil.cli.classify import main as classify
from wavedil.cli.evaluate import main as evaluate

FILES = ["0_george_0.wav", "3_jackson_1.wav", "7_lucas_2.wav", "9_yweweler_4.wav"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, fsdd_root) -> Path:
    """A classifier trained for a few steps (accuracy is not the point here)."""
    run_dir = tmp_path_factory.mktemp("cls")
    cmd = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "experiment=fsdd_classifier",
           f"data.root={fsdd_root}", "trainer.max_steps=3", "trainer.limit_val_batches=1",
           "trainer.limit_test_batches=1", "model.dilations=[1,2]"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "confusion_test.png").is_file()  # the test split's picture
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture
def mixed_folder(tmp_path, fsdd_root) -> Path:
    """Real FSDD files, one as 16 kHz stereo, plus an empty and a corrupt file."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in FILES[:3]:
        shutil.copy(fsdd_root / "recordings" / name, folder / name)
    import soundfile as sf
    mono, rate = sf.read(fsdd_root / "recordings" / FILES[3])
    stereo = np.repeat(np.interp(np.arange(0, len(mono), 0.5), np.arange(len(mono)), mono)
                       [:, None], 2, axis=1)
    write_wav(folder / FILES[3], stereo.astype(np.float32), rate=2 * rate)
    (folder / "5_george_9.wav").write_bytes(b"")
    (folder / "6_george_9.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    return folder


def test_classify_prints_one_line_per_file_and_reports_bad_files(trained, mixed_folder,
                                                                  capsys):
    status = classify(["--checkpoint", str(trained), str(mixed_folder)])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert status == 1  # some files failed, the others were classified
    assert len(lines) == 4
    for line in lines:
        path, label, probability = line.split("\t")
        assert Path(path).name in FILES and label in [str(d) for d in range(10)]
        assert 0.0 < float(probability) <= 1.0
    assert "5_george_9.wav: error" in err and "6_george_9.wav: error" in err
    assert "2 of 6 files could not be classified" in err


def test_classify_reports_a_named_folder_without_audio(trained, mixed_folder, tmp_path,
                                                        capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio")
    status = classify(["--checkpoint", str(trained), str(mixed_folder / FILES[0]), str(empty)])
    out, err = capsys.readouterr()
    assert status == 1 and len(out.strip().splitlines()) == 1  # the file is still classified
    assert f"{empty}: error: {empty} is a folder with no audio files (.wav, .flac, .ogg)" in err
    assert err.rstrip().endswith("wavedil-classify: 1 folder held no audio files")  # no file failed
    status = classify(["--checkpoint", str(trained), str(mixed_folder), str(empty)])
    err = capsys.readouterr().err
    assert status == 1
    assert "2 of 6 files could not be classified; 1 folder held no audio files" in err
    assert classify(["--checkpoint", str(trained), str(empty)]) == 2  # nothing to classify
    assert f"error: no audio files (.wav, .flac, .ogg) in {empty}" in capsys.readouterr().err


def test_classify_json_lines_with_top_k(trained, mixed_folder, capsys):
    files = [str(mixed_folder / FILES[0]), str(mixed_folder / "6_george_9.wav"),
             str(mixed_folder / FILES[3])]
    assert classify(["--checkpoint", str(trained), *files, "--json", "--top", "3"]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [Path(r["path"]).name for r in rows] == [FILES[0], "6_george_9.wav", FILES[3]]
    assert "error" in rows[1] and "Cannot decode" in rows[1]["error"]
    assert len(rows[0]["top"]) == 3 and rows[0]["top"][0][0] == rows[0]["label"]
    probs = [p for _, p in rows[2]["top"]]
    assert probs == sorted(probs, reverse=True)


def test_classify_with_test_time_speeds(trained, mixed_folder, capsys):
    files = [str(mixed_folder / name) for name in FILES]
    assert classify(["--checkpoint", str(trained), *files, "--json"]) == 0
    plain = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert classify(["--checkpoint", str(trained), *files, "--json",
                     "--speeds", "0.9", "1.0", "1.1"]) == 0
    averaged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in averaged] == [r["path"] for r in plain]
    assert [r["probability"] for r in averaged] != [r["probability"] for r in plain]
    with pytest.raises(SystemExit) as refused:  # argparse, before anything is read
        classify(["--checkpoint", str(trained), *files, "--speeds", "5"])
    assert refused.value.code == 2
    assert "argument --speeds: expected a speed between 0.5 and 2" in capsys.readouterr().err


def _perturbed(checkpoint: Path, out: Path) -> Path:
    """A second classifier: the checkpoint's weights plus noise."""
    state = torch.load(checkpoint, weights_only=True)
    generator = torch.Generator().manual_seed(0)
    for value in state["state_dict"].values():
        if value.is_floating_point() and value.numel() > 1:
            value.add_(0.3 * value.std() * torch.randn(value.shape, generator=generator))
    torch.save(state, out)
    return out


def test_classify_an_ensemble_is_the_geometric_mean_of_its_members(trained, mixed_folder,
                                                                     tmp_path, capsys):
    other = _perturbed(trained, tmp_path / "other.ckpt")
    files = [str(mixed_folder / name) for name in FILES]

    def probabilities(*checkpoints: Path) -> np.ndarray:
        flags = [arg for c in checkpoints for arg in ("--checkpoint", str(c))]
        assert classify([*flags, *files, "--json", "--top", "10"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        return np.array([[dict(r["top"])[str(d)] for d in range(10)] for r in rows])

    a, b, both = probabilities(trained), probabilities(other), probabilities(trained, other)
    assert not np.allclose(a, b, atol=1e-3)  # two different classifiers
    geometric = np.sqrt(a * b)
    np.testing.assert_allclose(both, geometric / geometric.sum(1, keepdims=True), atol=1e-5)


def test_classify_refuses_a_generator_checkpoint(tmp_path, capsys):
    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNet

    ckpt = save_checkpoint(WaveNet(4, 4, 4, dilations=[1]), DataInfo(8000), tmp_path / "g.ckpt")
    assert classify(["--checkpoint", str(ckpt), str(tmp_path)]) == 2
    assert "holds a generator, but a classifier" in capsys.readouterr().err


def test_adapt_writes_a_checkpoint_that_classifies(trained, fsdd_root, tmp_path, capsys):
    folder = tmp_path / "jackson"
    folder.mkdir()
    for digit in range(10):  # every class, unlabelled as far as adaptation goes
        for index in (0, 1):
            shutil.copy(fsdd_root / "recordings" / f"{digit}_jackson_{index}.wav", folder)
    (folder / "x_broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    original = trained.read_bytes()
    out = tmp_path / "adapted.ckpt"
    assert adapt_cli(["--checkpoint", str(trained), "--out", str(out), str(folder),
                      "--epochs", "2", "--batch-size", "8"]) == 1  # one file left out
    captured = capsys.readouterr()
    assert "x_broken.wav: error" in captured.err and "1 of 21 files" in captured.err
    assert "adapted on 20 recordings" in captured.out and trained.read_bytes() == original
    record = torch.load(out, weights_only=True)["wavedil"]["adaptation"]
    assert record["recordings"] == 20 and len(record["objective"]) == 2
    before = torch.load(trained, weights_only=True)["state_dict"]
    after = torch.load(out, weights_only=True)["state_dict"]
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert classify(["--checkpoint", str(out), str(folder / "3_jackson_0.wav"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in [str(d) for d in range(10)]


def test_adapt_reports_bad_input(trained, mixed_folder, tmp_path, capsys):
    out = str(tmp_path / "a.ckpt")
    assert adapt_cli(["--checkpoint", str(tmp_path / "none.ckpt"), "--out", out,
                      str(mixed_folder)]) == 2
    assert "Checkpoint not found" in capsys.readouterr().err
    assert adapt_cli(["--checkpoint", str(trained), "--out", out, str(mixed_folder)]) == 2
    assert "expected at least 10 readable recordings" in capsys.readouterr().err
    assert adapt_cli(["--checkpoint", str(trained), "--out", str(trained),
                      str(mixed_folder)]) == 2
    assert "Refusing to overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse, before anything is read
        adapt_cli(["--checkpoint", str(trained), "--out", out, str(mixed_folder), "--lr", "-1"])
    assert refused.value.code == 2
    assert "argument --lr: expected a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "a.ckpt").exists()


def test_evaluate_writes_confusion_matrix_and_tables(trained, fsdd_root, tmp_path, capsys):
    out = tmp_path / "eval"
    assert evaluate(["--checkpoint", str(trained), str(fsdd_root), "--speakers", "nicolas",
                     "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == 500 and list(report["per_speaker"]) == ["nicolas"]
    matrix = np.array(report["confusion"])
    assert matrix.sum() == 500 and (matrix.sum(axis=1) == 50).all()
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / 500, abs=1e-4)
    assert (out / "confusion.png").stat().st_size > 5000
    table = (out / "per_class.md").read_text()
    assert "| 7 | 50 |" in table and "| nicolas | 500 |" in capsys.readouterr().out


def test_evaluate_with_test_time_speeds(trained, fsdd_root, tmp_path):
    out = tmp_path / "eval"
    assert evaluate(["--checkpoint", str(trained), str(fsdd_root), "--speakers", "lucas",
                     "--out", str(out), "--speeds", "0.9", "1.1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["speeds"] == [0.9, 1.1] and report["files"] == 500
    assert report["accuracy"] == pytest.approx(np.trace(np.array(report["confusion"])) / 500,
                                               abs=1e-4)


def test_evaluate_scores_the_synthetic_voices_that_wavedil_voices_writes(trained, tmp_path):
    from wavedil.cli.voices import main as voices
    from wavedil.data import tts

    try:
        tts.Espeak.get()
    except ImportError as err:
        pytest.skip(str(err))
    assert voices(["--out", str(tmp_path / "voices"), "--voices", "2", "--plot-voices", "0"]) == 0
    assert evaluate(["--checkpoint", str(trained), str(tmp_path / "voices"),
                     "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["files"] == 20 and list(report["per_speaker"]) == ["espeak"]
    assert (np.array(report["confusion"]).sum(axis=1) == 2).all()  # each digit, each voice


def test_evaluate_an_ensemble_names_its_checkpoints(trained, fsdd_root, tmp_path, capsys):
    other = _perturbed(trained, tmp_path / "other.ckpt")
    out = tmp_path / "eval"
    assert evaluate(["--checkpoint", str(trained), "--checkpoint", str(other), str(fsdd_root),
                     "--speakers", "george", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["checkpoint"] == [str(trained), str(other)] and report["files"] == 500
    bad = _perturbed(trained, tmp_path / "bad.ckpt")
    state = torch.load(bad, weights_only=True)
    state["wavedil"]["data_info"]["sample_rate"] = 16000
    torch.save(state, bad)
    assert evaluate(["--checkpoint", str(trained), "--checkpoint", str(bad), str(fsdd_root),
                     "--out", str(tmp_path / "o")]) == 2
    assert "an ensemble needs one sample rate" in capsys.readouterr().err


def test_evaluate_reports_unknown_labels(trained, tmp_path, capsys):
    write_wav(tmp_path / "set" / "cat" / "a.wav", np.zeros(800, dtype=np.float32) + 0.1)
    assert evaluate(["--checkpoint", str(trained), str(tmp_path / "set"), "--labels", "folder",
                     "--out", str(tmp_path / "o")]) == 2
    assert "Labels ['cat']" in capsys.readouterr().err


def test_leave_one_speaker_out_rotates_and_summarises(tmp_path, fsdd_root):
    cmd = [sys.executable, "train.py", f"hydra.run.dir={tmp_path}", "experiment=fsdd_classifier",
           f"data.root={fsdd_root}", "loso=true", "loso_speakers=[george,lucas]",
           "trainer.max_steps=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=2",
           "model.dilations=[1]", "task.test_speeds=[0.9,1.0,1.1]"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "loso.json").read_text())
    # speed-averaged test accuracy, with the unaveraged one beside it
    assert all(0 <= f["test_accuracy_single"] <= 1 for f in summary["folds"].values())
    assert "without speed averaging" in (tmp_path / "loso.md").read_text()
    assert list(summary["folds"]) == ["george", "lucas"]
    accuracies = [f["test_accuracy"] for f in summary["folds"].values()]
    assert summary["worst_accuracy"] == min(accuracies)
    assert summary["mean_accuracy"] == pytest.approx(sum(accuracies) / 2)
    for speaker in ("george", "lucas"):  # each fold held its speaker out of training
        config = (tmp_path / speaker / "config.yaml").read_text()
        assert f"test_speakers:\n    - {speaker}" in config
        assert (tmp_path / speaker / "checkpoints" / "last.ckpt").is_file()
    assert "mean" in (tmp_path / "loso.md").read_text()


def test_leave_one_speaker_out_takes_any_subset_of_known_speakers(tmp_path, fsdd_root,
                                                                monkeypatch):
    import wavedil.cli.train as train_cli
    from tests.test_config import compose_train

    folds = []

    def fake_train_once(cfg):  # records each fold's split instead of training it
        folds.append((list(cfg.data.source.test_speakers), cfg.output_dir))
        return {"test/accuracy": 0.5 + 0.1 * len(folds)}

    monkeypatch.setattr(train_cli, "train_once", fake_train_once)
    base = [f"output_dir={tmp_path}", "experiment=fsdd_classifier", f"data.root={fsdd_root}",
            "loso=true"]
    summary = train_cli.train(compose_train([*base, "loso_speakers=[jackson]"]))
    assert folds == [(["jackson"], str(tmp_path / "jackson"))]  # one fold is a valid request
    assert summary["loso/worst_accuracy"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match=r"\['nobody'\], not among the speakers"):
        train_cli.train(compose_train([*base, "loso_speakers=[george,nobody]"]))
    with pytest.raises(ValueError, match=r"expected data.source.train_speakers=null"):
        train_cli.train(compose_train([*base, "data.source.train_speakers=[george,lucas]"]))
    assert len(folds) == 1  # refused before any training
    lone = tmp_path / "lone" / "recordings"
    lone.mkdir(parents=True)
    for digit in (0, 1):
        shutil.copy(fsdd_root / "recordings" / f"{digit}_george_0.wav", lone)
    with pytest.raises(ValueError, match="at least 2 speakers"):
        train_cli.train(compose_train([*base, f"data.root={lone.parent}"]))


def test_outputs_are_never_silently_replaced(trained, fsdd_root, tmp_path, capsys):
    existing = tmp_path / "adapted.ckpt"
    existing.write_bytes(b"someone's checkpoint")
    assert adapt_cli(["--checkpoint", str(trained), "--out", str(existing),
                      str(fsdd_root / "recordings")]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_bytes() == b"someone's checkpoint"
    out = tmp_path / "eval"
    out.mkdir()
    (out / "report.json").write_text("{}")
    assert evaluate(["--checkpoint", str(trained), str(fsdd_root), "--speakers", "nicolas",
                     "--out", str(out)]) == 2
    assert "report.json already exist" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "{}"


@pytest.mark.parametrize(("argv", "message"), [
    (["--pattern", "("], "argument --pattern: not a regular expression"),
    (["--speeds", "nan"], "argument --speeds: expected a speed between 0.5 and 2"),
    (["--speeds", "0.9", "recordings/"], "argument --speeds: expected a speed"),  # a file name
])
def test_bad_option_values_are_refused_by_argparse(trained, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as refused:
        evaluate(["--checkpoint", str(trained), str(tmp_path), "--out", str(tmp_path / "o"),
                  *argv])
    assert refused.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _causal_checkpoint(tmp_path: Path, **kwargs) -> Path:
    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo
    from wavedil.models import WaveNetClassifier
    from wavedil.nn import WaveformFrontend

    torch.manual_seed(0)
    model = WaveNetClassifier(3, WaveformFrontend(), 8, 8, 8, dilations=[1, 2, 4, 8],
                              **{"causal": True, **kwargs}).eval()
    return save_checkpoint(model, DataInfo(8000, class_names=["yes", "no", "up"]),
                           tmp_path / "causal.ckpt", task="classification")


def test_stream_prints_time_stamped_predictions_ending_at_the_offline_one(tmp_path, capsys):
    ckpt = _causal_checkpoint(tmp_path)
    rng = np.random.default_rng(0)
    wav = write_wav(tmp_path / "words.wav", (0.3 * rng.standard_normal(2800)).astype("float32"))
    assert classify(["--checkpoint", str(ckpt), str(wav), "--stream", "--hop", "0.1",
                     "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["time"] for r in rows] == [0.1, 0.2, 0.3, 0.35]  # 2,800 samples at 8 kHz
    assert classify(["--checkpoint", str(ckpt), str(wav), "--json"]) == 0
    offline = json.loads(capsys.readouterr().out)
    assert rows[-1]["label"] == offline["label"]
    assert rows[-1]["probability"] == pytest.approx(offline["probability"], abs=1e-4)
    assert classify(["--checkpoint", str(ckpt), str(wav), "--stream"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[1] == "0.10s"


def test_stream_refuses_what_cannot_stream(tmp_path, capsys):
    centred = _causal_checkpoint(tmp_path, causal=False)
    wav = write_wav(tmp_path / "a.wav", np.zeros(800, dtype="float32"))
    assert classify(["--checkpoint", str(centred), str(wav), "--stream"]) == 2
    assert "causal" in capsys.readouterr().err
    assert classify(["--checkpoint", str(centred), str(wav), "--stream", "--speeds", "1"]) == 2
    assert "does not stream" in capsys.readouterr().err


def test_spot_finds_each_digit_of_a_recording_read_in_a_row(trained, fsdd_root, tmp_path,
                                                            capsys):
    from wavedil.data.functional import join_clips
    from wavedil.data.io import load_audio

    clips = [load_audio(fsdd_root / "recordings" / f"{d}_jackson_{d + 5}.wav", 8000)
             for d in (4, 1, 8, 2, 6)]
    audio, spans = join_clips(clips, 8000, generator=torch.Generator().manual_seed(2))
    wav = write_wav(tmp_path / "digits.wav", audio.numpy())
    pictures = tmp_path / "pictures"
    assert classify(["--checkpoint", str(trained), str(wav), "--spot", "--json",
                     "--plot", str(pictures)]) == 0
    words = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (pictures / "digits_words.png").stat().st_size > 10_000
    assert classify(["--checkpoint", str(trained), str(wav), "--spot", "--plot",
                     str(pictures)]) == 2  # the picture is there: refused before any work
    out, err = capsys.readouterr()
    assert out == "" and "already exist" in err and "another --plot" in err
    assert len(words) == len(spans)
    for word, (start, end) in zip(words, spans, strict=True):  # each on its own digit
        assert word["start"] < end / 8000 and word["end"] > start / 8000
        assert word["label"] in [str(d) for d in range(10)] and 0 < word["probability"] <= 1
    # the text form, with a file that cannot be read among the inputs
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    assert classify(["--checkpoint", str(trained), str(wav), str(tmp_path / "broken.wav"),
                     "--spot"]) == 1
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(spans) and out.split("\t")[1].endswith("s")
    assert "broken.wav" in err
    silent = write_wav(tmp_path / "silent.wav", np.zeros(8000, dtype="float32"))
    assert classify(["--checkpoint", str(trained), str(silent), "--spot"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "silent.wav: no words found" in err and "--margin-db" in err
    assert classify(["--checkpoint", str(trained), str(wav), "--spot", "--stream"]) == 2
    assert "Streaming needs the waveform front end" in capsys.readouterr().err  # MFCC


def test_spot_with_stream_hears_each_word_as_it_arrives(fsdd_root, tmp_path, capsys):
    from wavedil.checkpoint import load_classifier
    from wavedil.data.functional import join_clips
    from wavedil.data.io import load_audio

    ckpt = _causal_checkpoint(tmp_path)
    clips = [load_audio(fsdd_root / "recordings" / f"{d}_lucas_{d}.wav", 8000) for d in (3, 9)]
    audio, spans = join_clips(clips, 8000, generator=torch.Generator().manual_seed(0))
    wav = write_wav(tmp_path / "two.wav", audio.numpy())
    assert classify(["--checkpoint", str(ckpt), str(wav), "--spot", "--stream", "--hop", "0.1",
                     "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    words = [r for r in rows if "start" in r]
    heard = [r for r in rows if "time" in r]
    assert len(words) == 2 and len(heard) >= 2 * 3  # a verdict every 0.1 s of each word
    for word, (start, end) in zip(words, spans, strict=True):
        assert word["start"] < end / 8000 and word["end"] > start / 8000
    model = load_classifier([ckpt], "cpu")[0].eval()
    for word in words:  # heard from the word's start on, until it closed
        during = [r for r in heard if r["word_start"] == word["start"]]
        assert during and all(word["start"] < r["time"] <= word["end"] + 0.3 for r in during)
        last = during[-1]  # = the offline verdict on the word's audio so far
        clip = audio[round(word["start"] * 8000):round(last["time"] * 8000)]
        with torch.no_grad():
            probs = model(clip[None]).softmax(-1)[0]
        assert float(probs.max()) == pytest.approx(last["probability"], abs=1e-4)
