"""The shipped pretrained models: each loads by name and does its job, names resolve
in every tool (a file of the same name wins), files are checked by SHA-256, and
the wheel carries them with their cards."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import soundfile as sf
import torch

from tests.conftest import FSDD_ROOT, REPO
from wavedil import pretrained
from wavedil.checkpoint import load_model
from wavedil.cli.pretrained import main as pretrained_main
from wavedil.cli.sample import main as sample_main
from wavedil.pretrained import PretrainedError

SHIPPED = ["fsdd-digits", "fsdd-vocoder", "tones"]


def test_the_registry_lists_each_shipped_model_with_its_file_card_and_checksum():
    models = pretrained.available()
    assert [m.name for m in models] == SHIPPED
    assert sum(m.bytes for m in models) <= 10 * 2**20  # 10 MB in all at most
    for model in models:
        assert model.path.stat().st_size == model.bytes
        assert hashlib.sha256(model.path.read_bytes()).hexdigest() == model.sha256
        card = pretrained.card(model.name)
        assert card.startswith(f"# {model.name}") and "## Data and licence" in card
        assert "python train.py" in card and "## What it is not for" in card
        assert model.licence and model.figures and model.summary
        assert load_model(pretrained.resolve(model.name)).kind == model.kind
    assert all("CC BY-SA 4.0" in pretrained.find(n).licence for n in ("fsdd-digits",
                                                                     "fsdd-vocoder"))


def test_tones_samples_finite_audio_of_the_right_length():
    from wavedil.inference import generate

    loaded = pretrained.load("tones")
    assert loaded.kind == "generator" and loaded.info.sample_rate == 8000
    out = generate(loaded.model, 400, batch_size=2, seed=0)
    assert out.audio.shape == (2, 400) and torch.isfinite(out.audio).all()
    assert out.audio.abs().max() <= 1.0 and out.audio.std() > 1e-3  # not silence


def test_fsdd_vocoder_resynthesises_an_unheard_speaker_within_a_stated_bound():
    if FSDD_ROOT is None:
        pytest.skip("FSDD not found (set WAVEDIL_FSDD or place it at ../shared/data/fsdd)")
    from wavedil.inference.vocoding import (
        VocoderClip,
        decode_for_vocoder,
        evaluate_vocoder,
        load_vocoder,
    )

    model, info, settings = load_vocoder("fsdd-vocoder")
    audio = decode_for_vocoder(FSDD_ROOT / "recordings" / "0_george_0.wav", info.sample_rate,
                               False)
    result = evaluate_vocoder(model, settings, info.sample_rate, [VocoderClip("0", audio)],
                              batch_size=1, seed=0, griffin_lim_iters=8)
    # measured 8.61 dB on this clip (7.36 dB on average over george's 500)
    assert result["files"][0]["vocoder"]["log_mel_distance_db"] < 10.0


def test_fsdd_digits_labels_fsdd_recordings_well_above_chance():
    if FSDD_ROOT is None:
        pytest.skip("FSDD not found (set WAVEDIL_FSDD or place it at ../shared/data/fsdd)")
    from wavedil.inference.classification import predict_files

    loaded = pretrained.load("fsdd-digits")
    assert loaded.kind == "classifier" and loaded.info.class_names == list("0123456789")
    # FSDD's own test split (recordings 0-4 of each digit and speaker): never trained on
    paths = sorted((FSDD_ROOT / "recordings").glob("*_[0-4].wav"))[::5]
    assert len(paths) == 50
    right = [p.label == p.path.name.split("_")[0]
             for p in predict_files(loaded.model, loaded.info.class_names,
                                    loaded.info.sample_rate, paths)]
    assert len(right) == 50 and sum(right) / 50 >= 0.8  # chance: 0.1


def test_every_tool_takes_a_name_and_a_file_of_that_name_wins(tmp_path, monkeypatch, capsys):
    out = tmp_path / "samples"
    assert sample_main(["--checkpoint", "tones", "--seconds", "0.02", "--out", str(out),
                        "--quiet"]) == 0
    audio, rate = sf.read(out / "sample_000.wav")
    assert rate == 8000 and len(audio) == 160
    # a file called "tones" in the working folder is what --checkpoint tones means there
    other = tmp_path / "here"
    other.mkdir()
    shutil.copy(pretrained.resolve("fsdd-vocoder"), other / "tones")
    monkeypatch.chdir(other)
    assert pretrained.resolve("tones").resolve() == (other / "tones").resolve()
    assert load_model("tones").info.local_features is not None  # the vocoder, not tones


def test_a_name_that_is_neither_a_file_nor_shipped_lists_the_shipped_names(tmp_path, capsys):
    with pytest.raises(PretrainedError, match="neither a file nor a shipped model.*"
                                              "fsdd-digits, fsdd-vocoder, tones"):
        pretrained.load("fsdd-digitz")
    with pytest.raises(FileNotFoundError, match="shipped models: fsdd-digits, fsdd-vocoder, tones"):
        load_model(tmp_path / "missing.ckpt")
    assert sample_main(["--checkpoint", "tonez", "--out", str(tmp_path / "s"), "--quiet"]) == 2
    assert "shipped models: fsdd-digits, fsdd-vocoder, tones" in capsys.readouterr().err


def test_a_tampered_file_fails_its_checksum_and_is_not_loaded(tmp_path, monkeypatch):
    copy = tmp_path / "pretrained"
    shutil.copytree(pretrained.HERE, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data = bytearray((copy / "tones.ckpt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "tones.ckpt").write_bytes(bytes(data))
    monkeypatch.setattr(pretrained, "HERE", copy)
    monkeypatch.setattr(pretrained, "REGISTRY", copy / "models.json")
    with pytest.raises(PretrainedError, match="tones .* fails its SHA-256 check"):
        pretrained.load("tones")
    assert pretrained.load("fsdd-vocoder").kind == "generator"  # the others still load


def test_wavedil_pretrained_lists_shows_and_verifies(capsys):
    assert pretrained_main(["list"]) == 0
    listing = capsys.readouterr().out
    for model in pretrained.available():
        assert model.name in listing and model.sha256[:16] in listing
        assert model.licence in listing
    assert pretrained_main(["show", "fsdd-vocoder"]) == 0
    assert capsys.readouterr().out == pretrained.card("fsdd-vocoder")
    assert pretrained_main(["path", "tones"]) == 0
    assert capsys.readouterr().out.strip() == str(pretrained.find("tones").path)
    assert pretrained_main(["show", "nope"]) == 2
    assert "shipped models: fsdd-digits, fsdd-vocoder, tones" in capsys.readouterr().err


def test_the_wheel_carries_the_models_their_cards_and_the_registry(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = next(tmp_path.glob("wavedil-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    registry = json.loads(zipfile.ZipFile(wheel).read("wavedil/pretrained/models.json"))
    for model in registry["models"]:
        assert f"wavedil/pretrained/{model['file']}" in names
        assert f"wavedil/pretrained/{model['name']}.md" in names
    assert [m["name"] for m in registry["models"]] == SHIPPED
