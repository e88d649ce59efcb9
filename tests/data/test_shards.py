"""Prepared shards (wavedil.data.shards, wavedil-prepare): every file once, resumable,
idempotent; crops read from them equal crops of the decoded audio; ranks and workers
read disjoint items; bad folders named in the error."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.conftest import REPO, write_wav
from wavedil.data import FSDD, ClassificationDataModule, GenerationDataModule
from wavedil.data.datasets import CropDataset
from wavedil.data.functional import crop_or_pad
from wavedil.data.io import AudioError, load_audio
from wavedil.data.sampling import EpochSampler
from wavedil.data.shards import (
    PreparationError,
    ShardSource,
    prepare_shards,
    quantize,
    read_prepared,
)

MEL = {"n_mels": 8, "n_fft": 128, "hop_length": 32}


def _corpus(root: Path, speakers=("anna", "bert", "carl"), per_speaker: int = 8) -> Path:
    """FSDD-named tones of different pitch and length (16-bit, 8 kHz)."""
    rng = np.random.default_rng(0)
    for s, speaker in enumerate(speakers):
        for n in range(per_speaker):
            length = int(rng.integers(1500, 4000))
            t = np.arange(length) / 8000
            audio = (0.4 * np.sin(2 * np.pi * (150 + 40 * n + 7 * s) * t)
                     + 0.01 * rng.standard_normal(length))
            write_wav(root / "recordings" / f"{n % 10}_{speaker}_{n // 10}.wav", audio)
    return root


def _hashes_of_sources(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(quantize(load_audio(p, 8000)).tobytes()).hexdigest()
            for p in sorted((root / "recordings").glob("*.wav"))}


def _hashes_in(prepared: Path) -> list[tuple[str, str]]:
    _, records = read_prepared(prepared)
    return [(r["path"], r["sha256"]) for r in records]


def test_every_file_is_prepared_once_and_a_second_run_does_nothing(tmp_path):
    root = _corpus(tmp_path / "fsdd")
    source = FSDD(str(root))
    out = tmp_path / "prepared"
    manifest = prepare_shards(source, out, mel=MEL, clips_per_shard=5, workers=2,
                              progress=False)
    assert manifest["shards"] == 5 and manifest["clips"] == 24 and manifest["written"] == 5
    assert sorted(_hashes_in(out)) == sorted(_hashes_of_sources(root).items())
    stamps = {p: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    again = prepare_shards(source, out, mel=MEL, clips_per_shard=5, progress=False)
    assert again["written"] == 0 and again["clips"] == 24
    assert {p: p.stat().st_mtime_ns for p in (out / "shards").iterdir()} == stamps
    with pytest.raises(PreparationError, match=r"prepared.json was prepared with other "
                                               r"settings \(clips_per_shard: 5 there, 6 now"):
        prepare_shards(source, out, mel=MEL, clips_per_shard=6, progress=False)
    with pytest.raises(PreparationError, match="mel: .* there, None now"):
        prepare_shards(source, out, clips_per_shard=5, progress=False)
    foreign = tmp_path / "foreign"
    (foreign / "mine.txt").parent.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    with pytest.raises(PreparationError, match="foreign exists and is not a folder prepared"):
        prepare_shards(source, foreign, progress=False)
    assert (foreign / "mine.txt").read_text() == "keep me"


def test_webdataset_reads_the_shards_as_written(tmp_path):
    import webdataset as wds

    root = _corpus(tmp_path / "fsdd", per_speaker=2)
    out = tmp_path / "prepared"
    prepare_shards(FSDD(str(root)), out, mel=MEL, progress=False)
    samples = list(wds.WebDataset(str(out / "shards" / "shard-000000.tar"),
                                  shardshuffle=False).decode())
    assert len(samples) == 6
    for sample in samples:
        decoded = load_audio(sample["json"]["path"], 8000)
        assert np.array_equal(sample["npy"], quantize(decoded))
        assert sample["mel.npy"].shape == (len(decoded) // 32 + 1, 8)


def test_a_preparation_killed_mid_shard_resumes_without_duplicates_or_losses(tmp_path):
    """SIGKILL while the third shard is half written (the process kills itself at the
    12th clip, as an outside kill would), then prepare again: every source file is in
    the shards exactly once, by content hash, and no partial file is left."""
    root = _corpus(tmp_path / "fsdd")
    out = tmp_path / "prepared"
    script = textwrap.dedent(f"""
        import os, signal
        import wavedil.data.shards as shards
        from wavedil.data import FSDD
        real, seen = shards.quantize, [0]
        def quantize(audio):
            seen[0] += 1
            if seen[0] == 12:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(audio)
        shards.quantize = quantize
        shards.prepare_shards(FSDD({str(root)!r}), {str(out)!r}, clips_per_shard=5,
                              progress=False)
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    assert sorted(p.name for p in (out / "index").iterdir()) == [
        "shard-000000.json", "shard-000001.json"]
    assert (out / "shards" / ".shard-000002.tar.tmp").exists()  # half written
    with pytest.raises(PreparationError, match="did not finish"):
        read_prepared(out)

    manifest = prepare_shards(FSDD(str(root)), out, clips_per_shard=5, progress=False)
    assert manifest["written"] == 3 and manifest["clips"] == 24
    found = _hashes_in(out)
    assert len(found) == len(set(found)) == 24
    assert sorted(found) == sorted(_hashes_of_sources(root).items())
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_unreadable_files_are_skipped_and_named_or_stop_the_run(tmp_path):
    root = _corpus(tmp_path / "fsdd", per_speaker=3)
    bad = root / "recordings" / "1_bert_9.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    manifest = prepare_shards(FSDD(str(root), on_error="skip"), tmp_path / "a", progress=False)
    assert manifest["clips"] == 9 and [e["path"] for e in manifest["skipped"]] == [str(bad)]
    with pytest.raises(AudioError, match="1_bert_9.wav"):
        prepare_shards(FSDD(str(root)), tmp_path / "b", progress=False)


def _module(kind, root: Path, fmt: str, **kwargs):
    source = functools.partial(FSDD, test_speakers=["carl"])
    module = kind(source, root=str(root), format=fmt, seed=3, **kwargs)
    module.setup("fit")
    return module


def test_crops_and_frames_from_shards_equal_those_cut_from_the_decoded_audio(tmp_path):
    root = _corpus(tmp_path / "fsdd")
    out = tmp_path / "prepared"
    prepare_shards(FSDD(str(root)), out, mel=MEL, clips_per_shard=7, progress=False)
    args = {"crop_length": 1024, "local_features": MEL, "global_label": "speaker",
            "batch_size": 4}
    files = _module(GenerationDataModule, root, "files", **args)
    shards = _module(GenerationDataModule, out, "shards", **args)
    assert files.info == shards.info
    for split in ("train", "val"):
        a, b = files.datasets[split], shards.datasets[split]
        assert len(a) == len(b)
        for item in [(i, 1000 + i) for i in range(len(a))]:
            x, y = a[item], b[item]
            assert x.keys() == y.keys()
            for key in x:
                torch.testing.assert_close(y[key], x[key], atol=0, rtol=0)
    # whole clips for a classifier (cropped at max_length)
    files = _module(ClassificationDataModule, root, "files", max_length=2500)
    shards = _module(ClassificationDataModule, out, "shards", max_length=2500)
    for i in range(len(files.datasets["train"])):
        x, y = files.datasets["train"][(i, 7 + i)], shards.datasets["train"][(i, 7 + i)]
        torch.testing.assert_close(y["audio"], x["audio"], atol=0, rtol=0)
        assert y["label"] == x["label"]


def test_ranks_and_workers_read_disjoint_items_that_cover_the_split(tmp_path):
    """Two ranks, each with two DataLoader workers (forked: each opens the shards
    itself): every training clip is read exactly once in the epoch."""
    root = _corpus(tmp_path / "fsdd", per_speaker=8)
    out = tmp_path / "prepared"
    prepare_shards(FSDD(str(root)), out, clips_per_shard=5, progress=False)
    train = ShardSource(out, like=FSDD(str(out), test_speakers=["carl"])).load().train
    assert len(train) == 16  # anna's and bert's
    whole = CropDataset(train, crop_length=4000, train=True)  # each clip whole, padded

    def digest(audio: torch.Tensor) -> str:
        return hashlib.sha256(audio.numpy().tobytes()).hexdigest()

    path_of = {digest(crop_or_pad(c.audio[...], 0, 4000)): c.path for c in train}
    assert len(path_of) == 16
    seen = []
    for rank in (0, 1):
        loader = DataLoader(whole, batch_size=2, num_workers=2,
                            sampler=EpochSampler(len(whole), True, 0, rank, 2))
        seen.append([path_of[digest(audio)] for batch in loader for audio in batch["audio"]])
    assert len(seen[0]) == len(seen[1]) == 8
    assert not set(seen[0]) & set(seen[1])
    assert set(seen[0]) | set(seen[1]) == {c.path for c in train}


def test_folders_that_do_not_fit_the_run_are_named_in_the_error(tmp_path):
    root = _corpus(tmp_path / "fsdd", per_speaker=2)
    out = tmp_path / "prepared"
    prepare_shards(FSDD(str(root)), out, mel=MEL, clips_per_shard=4, progress=False)
    with pytest.raises(PreparationError, match=r"prepared.json was prepared with "
                                               r"sample_rate=8000, but this run asks for 16000"):
        ShardSource(out, like=FSDD(str(out), sample_rate=16000)).load()
    with pytest.raises(PreparationError, match="trim_db=None, but this run asks for 30"):
        ShardSource(out, like=FSDD(str(out), trim_db=30)).load()
    with pytest.raises(PreparationError, match="holds mel frames of other settings"):
        ShardSource(out, like=FSDD(str(out)), mel={**MEL, "n_mels": 16}).load()
    plain = tmp_path / "plain"
    prepare_shards(FSDD(str(root)), plain, progress=False)
    with pytest.raises(PreparationError, match="holds no mel frames, but this run conditions"):
        ShardSource(plain, like=FSDD(str(plain)), mel=MEL).load()
    with pytest.raises(PreparationError, match="No prepared.json in .*fsdd"):
        ShardSource(root, like=FSDD(str(root))).load()

    tar = out / "shards" / "shard-000001.tar"
    tar.write_bytes(tar.read_bytes()[:3000])
    with pytest.raises(PreparationError, match=r"Shard truncated: .*shard-000001.tar"):
        read_prepared(out)
    tar.write_bytes(b"")  # empty
    with pytest.raises(PreparationError, match=r"Shard truncated: .*shard-000001.tar is 0 b"):
        read_prepared(out)
    tar.unlink()
    with pytest.raises(PreparationError, match=r"Shard missing: .*shard-000001.tar"):
        read_prepared(out)
    (out / "index" / "shard-000000.json").unlink()
    with pytest.raises(PreparationError, match=r"Shard index missing: .*shard-000000.json"):
        read_prepared(out)
    manifest = json.loads((plain / "prepared.json").read_text())
    (plain / "prepared.json").write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(PreparationError, match="not a wavedil-prepared folder of version 1"):
        read_prepared(plain)

    from wavedil.data import SyntheticTones
    module = GenerationDataModule(SyntheticTones, format="shards")
    with pytest.raises(ValueError, match="SyntheticTones source makes its own clips"):
        module.setup("fit")
    with pytest.raises(ValueError, match="data.format"):
        GenerationDataModule(SyntheticTones, format="tar")


def test_wavedil_prepare_end_to_end(tmp_path, capsys):
    from wavedil.cli.prepare import main

    root = _corpus(tmp_path / "fsdd", per_speaker=2)
    out = tmp_path / "prepared"
    args = ["data=fsdd_vocoder", f"data.root={root}", "data.local_features.n_mels=8",
            "data.local_features.n_fft=128", "data.local_features.hop_length=32",
            "--out", str(out), "--clips-per-shard", "4"]
    assert main(args) == 0
    assert "6 clips in 2 shards (2 shards written)" in capsys.readouterr().out
    assert main(args) == 0
    assert "already prepared: nothing to do" in capsys.readouterr().out
    manifest, _ = read_prepared(out)
    assert manifest["settings"]["mel"] == {"hop_length": 32, "n_fft": 128, "n_mels": 8}
    assert main([*args[:-2], "--clips-per-shard", "3"]) == 2
    assert "other settings (clips_per_shard: 4 there, 3 now)" in capsys.readouterr().err
    assert main(["data=tones", "--out", str(tmp_path / "t")]) == 2
    assert "makes its clips itself" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
