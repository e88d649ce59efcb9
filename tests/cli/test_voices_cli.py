"""``wavedil-voices``: the synthetic voices written as labelled WAV files."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf
import yaml

from tests.conftest import REPO
from wavedil.cli.voices import DIGIT_WORDS, main
from wavedil.data import SyntheticVoices
from wavedil.data import tts as tts_module
from wavedil.data.sources import FSDD_PATTERN, scan_folder


@pytest.fixture
def espeak():
    try:
        return tts_module.Espeak.get()
    except ImportError as err:
        pytest.skip(str(err))


def test_writes_labelled_clips_a_listing_and_a_picture(espeak, tmp_path, capsys):
    out = tmp_path / "voices"
    assert main(["--out", str(out), "--voices", "3", "--seed", "5", "--sample-rate", "16000",
                 "--words", "6=six", "9=nine", "--plot-voices", "2"]) == 0
    assert "wrote 6 clips of 3 voices" in capsys.readouterr().out
    for labels, pattern in (("folder", None), ("pattern", FSDD_PATTERN)):
        files = scan_folder(out, labels=labels, pattern=pattern)
        assert sorted((f.label, f.path.stem) for f in files) == [
            (w, f"{w}_espeak_{n}") for w in ("6", "9") for n in range(3)]
    for path in out.rglob("*.wav"):
        info = sf.info(path)
        assert info.samplerate == 16000 and info.channels == 1
        assert 0.15 < info.duration < 1.5, path
    listing = json.loads((out / "voices.json").read_text())
    drawn = SyntheticVoices({"6": "six", "9": "nine"}, voices=3, seed=5).draw()
    assert [(v["accent"], v["variant"], v["pitch"], v["rate"]) for v in listing["voices"]] == [
        (v.accent, v.variant, v.pitch, v.rate) for v in drawn]
    assert listing["words"] == {"6": "six", "9": "nine"} and listing["sample_rate"] == 16000
    assert (out / "voices.png").read_bytes()[:4] == b"\x89PNG"


def test_the_default_words_are_those_training_uses():
    config = yaml.safe_load((REPO / "conf" / "data" / "tts" / "digits.yaml").read_text())
    assert {str(k): v for k, v in config["words"].items()} == DIGIT_WORDS


@pytest.mark.parametrize("words", ["six", "=six", "6=", "../6=six"])
def test_bad_words_are_refused_before_anything_is_written(words, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--out", str(tmp_path / "o"), "--words", words])
    assert exit_.value.code == 2
    assert "--words" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--accents", "xx-nowhere"], "no voice 'xx-nowhere'"),
    (["--pitch", "50", "120"], r"pitch as \[min, max\]"),
    (["--formant-jitter", "0.1"], "formant_jitter needs formant_scale"),
])
def test_bad_settings_are_errors_not_tracebacks(espeak, args, message, tmp_path, capsys):
    assert main(["--out", str(tmp_path / "o"), "--voices", "1", *args]) == 2
    err = capsys.readouterr().err
    assert "wavedil-voices: error:" in err
    assert re.search(message, err), err
    assert not list(tmp_path.rglob("*.wav"))


def test_voices_with_their_own_formants_are_listed_with_their_factors(espeak, tmp_path):
    out = tmp_path / "voices"
    assert main(["--out", str(out), "--voices", "2", "--words", "9=nine", "--plot-voices", "1",
                 "--formant-scale", "0.9", "1.2", "--formant-jitter", "0.05"]) == 0
    listing = json.loads((out / "voices.json").read_text())
    drawn = SyntheticVoices({"9": "nine"}, voices=2, formant_scale=(0.9, 1.2),
                            formant_jitter=0.05).draw()
    assert [tuple(v["formants"]) for v in listing["voices"]] == [v.formants for v in drawn]
    assert all(len(v["formants"]) == tts_module.N_FORMANTS for v in listing["voices"])
    assert (out / "voices.png").exists() and len(list(out.rglob("*.wav"))) == 2


def test_an_earlier_run_is_never_overwritten_without_overwrite(espeak, tmp_path, capsys):
    out = tmp_path / "voices"
    base = ["--out", str(out), "--words", "9=nine", "--plot-voices", "0"]
    assert main([*base, "--voices", "3"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*.wav")}
    # a second, smaller run: refused, for it would overwrite and leave stale clips behind
    assert main([*base, "--voices", "2", "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "holds clips of an earlier run" in err and "--overwrite" in err
    assert {p: p.read_bytes() for p in out.rglob("*.wav")} == before
    assert main([*base, "--voices", "2", "--seed", "7", "--overwrite"]) == 0
    assert sorted(p.name for p in out.rglob("*.wav")) == ["9_espeak_0.wav", "9_espeak_1.wav"]
    assert (out / "9" / "9_espeak_0.wav").read_bytes() != before[out / "9" / "9_espeak_0.wav"]
    assert main([*base, "--voices", "2", "--seed", "7"]) == 2  # the same files exist
    assert "already exist" in capsys.readouterr().err
