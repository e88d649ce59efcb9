"""Mel settings and the on-disk cache of mel frames (:mod:`wavedil.data.features`)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import torch

from tests.conftest import tone, write_wav
from wavedil.data import GenerationDataModule
from wavedil.data.datasets import CropDataset
from wavedil.data.features import (
    LOG_MEL_FLOOR,
    FeatureCache,
    check_mel_settings,
    mel_extractor,
    pad_frames,
)
from wavedil.data.io import load_audio
from wavedil.data.sources import AudioFolder, Clip

MEL = {"n_mels": 16, "hop_length": 64, "n_fft": 256}


@pytest.mark.parametrize(("settings", "message"), [
    ({"n_mels": 16, "hop_length": 64}, r"\['n_fft'\] missing"),
    ({**MEL, "n_mfcc": 3}, r"Unknown mel setting\(s\) \['n_mfcc'\]"),
    ({**MEL, "n_mels": 0}, "n_mels to be an integer >= 1, but found 0"),
    ({**MEL, "hop_length": 2.5}, "hop_length to be an integer >= 1"),
    ({**MEL, "n_fft": 32}, "n_fft >= hop_length"),
])
def test_bad_mel_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        check_mel_settings(settings)


def test_pad_frames_pads_with_silence_and_cuts():
    frames = torch.zeros(3, 4)
    padded = pad_frames(frames, 6)
    assert padded.shape == (3, 6) and (padded[:, 4:] == LOG_MEL_FLOOR).all()
    assert pad_frames(frames, 2).shape == (3, 2)


def _folder(tmp_path, n: int = 3):
    root = tmp_path / "audio"
    for i in range(n):
        write_wav(root / f"clip{i}.wav", tone(0.3, freq=200.0 + 50 * i))
    return root


def test_cache_reuses_frames_and_recomputes_when_the_file_changes(tmp_path, caplog):
    path = _folder(tmp_path, 1) / "clip0.wav"
    audio = load_audio(path)
    first = FeatureCache(tmp_path / "cache", 8000, MEL)
    frames = first.get(path, audio)
    expected = mel_extractor(8000, MEL)(audio.unsqueeze(0)).features[0]
    torch.testing.assert_close(frames, expected)
    assert (first.hits, first.misses) == (0, 1)

    again = FeatureCache(tmp_path / "cache", 8000, MEL)  # a later run
    calls = []
    torch.testing.assert_close(again.get(path, lambda: calls.append(1) or audio), frames)
    assert (again.hits, again.misses, calls) == (1, 0, [])  # not even decoded

    write_wav(path, tone(0.4, freq=500.0))  # the file is edited
    os.utime(path, ns=(1, 1))  # whatever its clock says
    edited = load_audio(path)
    changed = again.get(path, edited)
    assert again.misses == 1 and changed.shape[-1] != frames.shape[-1]
    torch.testing.assert_close(changed, mel_extractor(8000, MEL)(edited.unsqueeze(0)).features[0])

    other = FeatureCache(tmp_path / "cache", 8000, {**MEL, "n_mels": 8})  # other settings
    assert other.get(path, edited).shape[0] == 8 and other.misses == 1
    assert other.entry(path) != again.entry(path)

    again.entry(path).write_bytes(b"torn")  # a damaged entry is recomputed, not trusted
    with caplog.at_level(logging.WARNING):
        torch.testing.assert_close(again.get(path, edited), changed)
    assert "Ignoring unreadable feature cache entry" in caplog.text and again.misses == 2


def test_cache_in_an_unwritable_place_costs_speed_not_the_run(tmp_path, caplog):
    path = _folder(tmp_path, 1) / "clip0.wav"
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    cache = FeatureCache(blocker / "cache", 8000, MEL)
    with caplog.at_level(logging.WARNING):
        assert cache.get(path, load_audio(path)).shape[0] == 16
    assert "Cannot write the feature cache" in caplog.text


def test_crops_from_the_cache_equal_crops_computed_afresh(tmp_path):
    path = _folder(tmp_path, 1) / "clip0.wav"
    clips = [Clip(load_audio(path), path=str(path)), Clip(torch.randn(3000) * 0.1)]  # no file
    cache = FeatureCache(tmp_path / "cache", 8000, MEL)
    cached = CropDataset(clips, 1024, train=False, mel=cache)
    fresh = CropDataset(clips, 1024, train=False, mel=mel_extractor(8000, MEL))
    for i in range(2):
        torch.testing.assert_close(cached[i]["local_cond"], fresh[i]["local_cond"])
    assert cache.misses == 1  # only the clip with a file is cached


def test_datamodule_reads_frames_from_the_cache_on_the_next_run(tmp_path):
    root = _folder(tmp_path, 4)

    def build() -> GenerationDataModule:
        dm = GenerationDataModule(
            lambda root: AudioFolder(root, 8000, labels=None, val_fraction=0.25,
                                     test_fraction=0.25),
            root=str(root), batch_size=2, crop_length=512, local_features=MEL,
            feature_cache=str(tmp_path / "cache"))
        dm.setup("fit")
        return dm

    first = build()
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 4
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.pt")}
    second = build()
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # read, not rewritten
    for split in ("train", "val", "test"):
        for a, b in zip(first.datasets[split].features, second.datasets[split].features,
                        strict=True):
            assert np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="Unknown mel setting"):
        GenerationDataModule(lambda root: AudioFolder(root), root=str(root),
                             local_features={**MEL, "power": 1})
