"""The corpus recipes read tiny fabricated copies of LJSpeech, VCTK and LibriTTS
layouts: the right files, speakers and transcripts, decoded at the configured rate,
and clear errors for a copy that is not what its metadata says."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import tone, write_wav
from wavedil.data import VCTK, LibriTTS, LJSpeech
from wavedil.data.datamodules import GenerationDataModule


def _ljspeech(root: Path, n: int = 5) -> Path:
    base = root / "LJSpeech-1.1"
    lines = []
    for i in range(n):
        name = f"LJ001-{i + 1:04d}"
        write_wav(base / "wavs" / f"{name}.wav", tone(0.2 + 0.05 * i, 22050), 22050)
        lines.append(f'{name}|Printing, "in the {i}st" sense|Printing, in the {i} sense')
    (base / "metadata.csv").write_text("\n".join(lines) + "\n")
    return base


def test_ljspeech_reads_metadata_transcripts_and_decodes_at_the_configured_rate(tmp_path):
    base = _ljspeech(tmp_path)
    for root in (tmp_path, base):  # the corpus folder or its parent
        files = LJSpeech(str(root)).scan()
        assert [f.path.name for f in files] == [f"LJ001-{i:04d}.wav" for i in range(1, 6)]
        assert {f.speaker for f in files} == {"LJ"}
        assert files[2].text == "Printing, in the 2 sense"  # the normalised column
    splits = LJSpeech(str(base), sample_rate=8000, val_fraction=0.2, test_fraction=0.2).load()
    clips = splits.train + splits.val + splits.test
    assert len(clips) == 5 and len(splits.val) == len(splits.test) == 1
    assert splits.info.sample_rate == 8000
    assert sorted(len(c.audio) for c in clips) == [1600, 2000, 2400, 2800, 3200]


def test_ljspeech_names_a_missing_wav_and_a_folder_that_is_not_ljspeech(tmp_path):
    base = _ljspeech(tmp_path)
    (base / "wavs" / "LJ001-0003.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"metadata.csv, line 3 names LJ001-0003.*"
                                                r"LJ001-0003.wav is missing"):
        LJSpeech(str(base)).scan()
    with pytest.raises(FileNotFoundError, match="does not look like LJSpeech: expected "
                                                "metadata.csv"):
        LJSpeech(str(base / "wavs")).scan()
    with pytest.raises(FileNotFoundError, match="LJSpeech folder not found"):
        LJSpeech(str(tmp_path / "nowhere")).scan()


def _vctk(root: Path, old: bool = False) -> Path:
    base = root / ("VCTK-Corpus" if old else "VCTK-Corpus-0.92")
    for speaker, count in (("p225", 3), ("p226", 2), ("p315", 1)):
        for i in range(1, count + 1):
            utterance = f"{speaker}_{i:03d}"
            if old:
                write_wav(base / "wav48" / speaker / f"{utterance}.wav", tone(0.1, 48000), 48000)
            else:
                for mic in ("mic1", "mic2"):
                    path = base / "wav48_silence_trimmed" / speaker / f"{utterance}_{mic}.flac"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, tone(0.1, 48000), 48000, format="FLAC")
            if speaker != "p315":  # the corpus has no transcripts for p315
                text = base / "txt" / speaker / f"{utterance}.txt"
                text.parent.mkdir(parents=True, exist_ok=True)
                text.write_text(f"Please call Stella {i}.\n")
    return base


@pytest.mark.parametrize("old", [False, True])
def test_vctk_reads_speakers_transcripts_and_one_microphone(tmp_path, old):
    _vctk(tmp_path, old)
    files = VCTK(str(tmp_path)).scan()
    assert [f.speaker for f in files] == ["p225"] * 3 + ["p226"] * 2 + ["p315"]
    assert files[1].text == "Please call Stella 2." and files[1].index == 2
    assert files[-1].text is None
    if not old:
        assert all(f.path.name.endswith("_mic1.flac") for f in files)
        second = VCTK(str(tmp_path), mic="mic2").scan()
        assert len(second) == 6 and second[0].path.name == "p225_001_mic2.flac"
    chosen = VCTK(str(tmp_path), speakers=["p226"]).scan()
    assert [f.path.stem.split("_mic")[0] for f in chosen] == ["p226_001", "p226_002"]
    splits = VCTK(str(tmp_path), sample_rate=16000, split="speaker",
                  test_speakers=["p226"]).load()
    assert len(splits.test) == 2 and len(splits.train) == 4
    assert {len(c.audio) for c in splits.test} == {1600}
    assert splits.info.speaker_names == ["p225", "p226", "p315"]


def test_vctk_refuses_an_unknown_microphone_and_an_empty_copy(tmp_path):
    with pytest.raises(ValueError, match="mic 'mic1' or 'mic2'"):
        VCTK(str(tmp_path), mic="mic3")
    (tmp_path / "wav48").mkdir()
    with pytest.raises(ValueError, match=r"No \*.wav files under"):
        VCTK(str(tmp_path)).scan()


def _libritts(root: Path) -> Path:
    base = root / "LibriTTS"
    for subset, speakers in (("train-clean-100", ("19", "26")), ("dev-clean", ("84",))):
        for speaker in speakers:
            for utt in range(2):
                stem = f"{speaker}_198_000{utt}_000000"
                path = write_wav(base / subset / speaker / "198" / f"{stem}.wav",
                                 tone(0.1, 24000), 24000)
                path.with_suffix(".normalized.txt").write_text(f"Chapter {utt} of {speaker}.")
                path.with_suffix(".original.txt").write_text("ORIGINAL")
    return base


def test_libritts_reads_subsets_speakers_and_normalised_transcripts(tmp_path):
    _libritts(tmp_path)
    every = LibriTTS(str(tmp_path)).scan()
    assert sorted({f.speaker for f in every}) == ["19", "26", "84"] and len(every) == 6
    train = LibriTTS(str(tmp_path), subsets=["train-clean-100"]).scan()
    assert sorted({f.speaker for f in train}) == ["19", "26"] and len(train) == 4
    assert train[0].text == "Chapter 0 of 19."
    with pytest.raises(ValueError, match="Unknown LibriTTS subsets"):
        LibriTTS(str(tmp_path), subsets=["train-clean-101"])
    with pytest.raises(FileNotFoundError, match=r"lacks the LibriTTS subsets \['test-clean'\]"):
        LibriTTS(str(tmp_path), subsets=["test-clean"]).scan()


def test_a_corpus_feeds_the_vocoder_datamodule(tmp_path):
    base = _ljspeech(tmp_path, n=6)
    source = LJSpeech(str(base), sample_rate=8000, val_fraction=0.2, test_fraction=0.2)
    dm = GenerationDataModule(source, batch_size=2, crop_length=1024,
                              local_features={"n_mels": 16, "n_fft": 256, "hop_length": 64})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["audio"].shape == (2, 1024)
    assert dm.info.sample_rate == 8000 and dm.info.speaker_names == ["LJ"]


@pytest.mark.parametrize("corpus,make", [("ljspeech", _ljspeech), ("vctk", _vctk),
                                         ("libritts", _libritts)])
def test_each_corpus_preset_builds_a_vocoder_on_its_layout(corpus, make, tmp_path):
    from tests.test_config import compose_train
    from wavedil.config import build

    make(tmp_path / "copy")
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=folder_vocoder",
                         f"data={corpus}", f"data.root={tmp_path / 'copy'}",
                         "data.feature_cache=null", "data.crop_length=1024",
                         "data.source.val_fraction=0.2", "data.source.test_fraction=0.2"])
    datamodule, model = build(cfg, "fit")
    assert type(datamodule.source).__name__ == {"ljspeech": "LJSpeech", "vctk": "VCTK",
                                                "libritts": "LibriTTS"}[corpus]
    assert model.local_channels == 80
    assert datamodule.info.sample_rate == cfg.data.source.sample_rate
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["audio"].shape[-1] == 1024 and batch["local_cond"].shape[1:] == (80, 4)
