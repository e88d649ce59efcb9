import numpy as np
import pytest

from tests.conftest import tone, write_wav
from wavedil.data import (
    FSDD,
    AudioFolder,
    parse_fsdd_name,
    scan_folder,
    split_by_index,
    split_by_speaker,
    split_random,
)
from wavedil.data.sources import AudioFile


def test_fsdd_file_names_parse():
    parsed = parse_fsdd_name("7_jackson_32.wav")
    assert (parsed.label, parsed.speaker, parsed.index, parsed.text) == ("7", "jackson", 32, None)
    assert parse_fsdd_name("0_yweweler_0.wav")[1:4] == ("0", "yweweler", 0)
    with pytest.raises(ValueError, match="does not match the label pattern"):
        parse_fsdd_name("seven_jackson.wav")


def _files():
    return [AudioFile(f"{d}_{s}_{i}.wav", str(d), s, i)  # type: ignore[arg-type]
            for d in range(3) for s in ("ann", "bob", "cat") for i in range(10)]


def test_speaker_split_never_shares_a_speaker_between_train_and_held_out():
    parts = split_by_speaker(_files(), test_speakers=["cat"], val_speakers=["bob"])
    speakers = {k: {f.speaker for f in v} for k, v in parts.items()}
    assert speakers == {"train": {"ann"}, "val": {"bob"}, "test": {"cat"}}
    same = split_by_speaker(_files(), test_speakers=["cat"])
    assert {f.speaker for f in same["val"]} == {"cat"}
    assert not {f.speaker for f in same["train"]} & {"cat"}
    with pytest.raises(ValueError, match=r"Expected test_speakers from \['ann', 'bob', 'cat'\]"):
        split_by_speaker(_files(), test_speakers=["dan"])


def test_speaker_split_can_train_on_a_subset_of_the_other_speakers():
    files = _files() + [AudioFile(f"1_dan_{i}.wav", "1", "dan", i)  # type: ignore[arg-type]
                        for i in range(10)]
    parts = split_by_speaker(files, test_speakers=["cat"], train_speakers=["ann", "dan"])
    assert {k: {f.speaker for f in v} for k, v in parts.items()} == {
        "train": {"ann", "dan"}, "val": {"cat"}, "test": {"cat"}}
    assert len(parts["train"]) == 40  # bob's files are in no split
    with pytest.raises(ValueError, match=r"train_speakers apart from the held-out \['cat'\]"):
        split_by_speaker(files, test_speakers=["cat"], train_speakers=["ann", "cat"])
    with pytest.raises(ValueError, match=r"Expected train_speakers from .* but found \[\]"):
        split_by_speaker(files, test_speakers=["cat"], train_speakers=[])
    with pytest.raises(ValueError, match=r"Expected train_speakers from .* found \['eve'\]"):
        split_by_speaker(files, test_speakers=["cat"], train_speakers=["eve"])


def test_index_split_follows_the_fsdd_convention():
    parts = split_by_index(_files(), test_indices=range(5), val_indices=[5, 6])
    assert {f.index for f in parts["test"]} == set(range(5))
    assert {f.index for f in parts["val"]} == {5, 6}
    assert {f.index for f in parts["train"]} == {7, 8, 9}


def test_random_split_is_seeded_and_complete():
    a = split_random(_files(), 0.2, 0.1, seed=3)
    b = split_random(_files(), 0.2, 0.1, seed=3)
    assert a == b
    assert sum(len(v) for v in a.values()) == 90 and len(a["val"]) == 18
    with pytest.raises(ValueError, match="val_fraction"):
        split_random(_files(), 1.5, 0.0)


def test_folder_labels_and_missing_pattern_labels(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(3):
            write_wav(tmp_path / "f" / cls / f"{i}.wav", tone(0.1))
    files = scan_folder(tmp_path / "f", labels="folder")
    assert sorted({f.label for f in files}) == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"'0.wav' does not match the label pattern"):
        scan_folder(tmp_path / "f", labels="pattern", pattern=r"(?P<label>[a-z]+)_\d+")


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="No audio files"):
        scan_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="data.root"):
        scan_folder(tmp_path / "missing")


def test_audio_folder_loads_resamples_and_skips_bad_files(tmp_path):
    root = tmp_path / "set"
    for cls in ("a", "b"):
        for i in range(5):
            write_wav(root / cls / f"{i}.wav", tone(0.25, 16000), rate=16000)
    (root / "a" / "broken.wav").write_bytes(b"garbage")
    with pytest.raises(Exception, match="broken.wav"):
        AudioFolder(str(root), sample_rate=8000).load()
    splits = AudioFolder(str(root), sample_rate=8000, on_error="skip", val_fraction=0.2,
                         test_fraction=0.2).load()
    assert splits.info.class_names == ["a", "b"]
    clips = splits.train + splits.val + splits.test
    assert len(clips) == 10
    assert all(c.audio.shape == (2000,) for c in clips)


def test_fsdd_loads_with_speaker_split(fsdd_root):
    splits = FSDD(str(fsdd_root), split="speaker", test_speakers=["lucas"]).load()
    assert splits.info.class_names == [str(d) for d in range(10)]
    assert splits.info.speaker_names == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    lucas = splits.info.speaker_names.index("lucas")
    assert len(splits.test) == 500 and {c.speaker for c in splits.test} == {lucas}
    assert lucas not in {c.speaker for c in splits.train} and len(splits.train) == 2000
    two = FSDD(str(fsdd_root), test_speakers=["lucas"], train_speakers=["george", "jackson"])
    loaded = two.load()
    names = loaded.info.speaker_names
    assert {names[c.speaker] for c in loaded.train} == {"george", "jackson"}
    assert len(loaded.train) == 1000 and len(loaded.test) == 500


def test_trim_db_cuts_leading_and_trailing_silence_of_each_clip(tmp_path):
    root = tmp_path / "set"
    silence = np.zeros(4000, dtype=np.float32)
    for cls in ("a", "b"):
        for i in range(3):
            write_wav(root / cls / f"{i}.wav", np.concatenate([silence, tone(0.25), silence]))
    whole = AudioFolder(str(root), sample_rate=8000, val_fraction=0.0, test_fraction=0.0).load()
    trimmed = AudioFolder(str(root), sample_rate=8000, val_fraction=0.0, test_fraction=0.0,
                          trim_db=40).load()
    assert all(len(c.audio) == 10000 for c in whole.train)
    for clip in trimmed.train:
        assert 2000 <= len(clip.audio) < 2000 + 2 * 512  # the tone, to whole frames
        assert clip.audio.abs().max() > 0.1
    with pytest.raises(ValueError, match="trim_db > 0"):
        AudioFolder(str(root), trim_db=0)
