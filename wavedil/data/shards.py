"""Prepare a corpus once into WebDataset shards; read crops from them on demand.

Decoding and resampling a whole corpus at every start costs memory and time
that grow with the corpus (LJSpeech: 7.6 GB of float32 at 22.05 kHz).
:func:`prepare_shards` does that work once: it decodes every file of a source,
mixes it to mono, resamples, optionally trims, and writes the clips into
WebDataset tar shards as 16-bit PCM (``KEY.npy``, int16 ``(T,)``), with their
log-mel frames for a vocoder (``KEY.mel.npy``, float32 ``(N, F)``, frames
major so that a run of frames is one read) and what their names say
(``KEY.json``: path, label, speaker, index, transcript). Any WebDataset
pipeline reads the shards as they are.

Training reads them through :class:`ShardSource`: an index of where each clip
lies in its tar (a few numbers per clip) is all that is held in memory; a crop
is one positioned read of its samples. Random access keeps everything the
in-memory path gives: a permutation of the whole corpus per epoch (no shuffle
buffer), each rank and each DataLoader worker its own items, and exact resume
mid-epoch (:class:`~wavedil.data.sampling.EpochSampler` drives both).

Layout of a prepared folder::

    DIR/prepared.json            settings, source, file count, completeness
    DIR/shards/shard-000000.tar  WebDataset shards
    DIR/index/shard-000000.json  per shard: each clip's offsets, length, sha256;
                                 unreadable files with their errors

A shard is done once its index exists (tar and index are each written beside
their final names and renamed into place), so a killed preparation resumes at
the first missing shard, and a finished one is not redone.

Shape legend: T samples, N frames, F mel bands.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from wavedil.data.records import AudioFile, ClipSplits
from wavedil.nn.checks import check_choice, check_positive_int

__all__ = [
    "PreparationError",
    "ShardAudio",
    "ShardFrames",
    "ShardSource",
    "prepare_shards",
    "read_prepared",
]

log = logging.getLogger(__name__)

FORMAT = "wavedil-shards"
VERSION = 1
MANIFEST = "prepared.json"
_SCALE = 32768.0


class PreparationError(ValueError):
    """A prepared folder that does not fit the run, or cannot be read."""


# -- preparation ---------------------------------------------------------------------------


def _settings(source: Any, mel: Mapping[str, Any] | None, clips_per_shard: int,
              files: Sequence[AudioFile]) -> dict[str, Any]:
    """What decides the shards' content: a second preparation with other settings
    would write other shards."""
    names = hashlib.sha256("\n".join(str(f.path) for f in files).encode()).hexdigest()
    return {
        "sample_rate": int(source.sample_rate),
        "trim_db": getattr(source, "trim_db", None),
        "mel": None if mel is None else dict(sorted(mel.items())),
        "clips_per_shard": clips_per_shard,
        "files": len(files),
        "files_sha256": names,
    }


def _atomic_json(path: Path, record: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def prepare_shards(source: Any, out: str | os.PathLike, mel: Mapping[str, Any] | None = None,
                   clips_per_shard: int = 500, workers: int = 1, on_error: str | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Write the files of ``source`` into WebDataset shards under ``out``.

    Args:
        source: a file source (:class:`~wavedil.data.AudioFolder`, FSDD or a corpus
            recipe): its ``scan()`` lists the files; its ``sample_rate`` and
            ``trim_db`` say how to decode them.
        out: the prepared folder (created).
        mel: mel settings (:func:`~wavedil.data.features.check_mel_settings`) whose
            frames are stored beside the audio, or ``None``.
        clips_per_shard: clips per tar (the unit of resuming and of parallel work).
        workers: processes writing shards at once (1: in this process).
        on_error: ``"raise"`` stops at the first unreadable file, ``"skip"`` reports
            it (in the shard's index and at the end) and goes on; ``None``: the
            source's own ``on_error``.
        progress: show a progress bar.

    Returns:
        The manifest (``prepared.json``), with ``"skipped"`` (unreadable files) and
        ``"written"`` (shards written by this call; 0 when all were already done).

    Raises:
        PreparationError: ``out`` holds a preparation with other settings, or other
            files; no file could be read.
    """
    from wavedil.data.features import check_mel_settings

    clips_per_shard = check_positive_int("clips_per_shard", clips_per_shard)
    workers = check_positive_int("workers", workers)
    on_error = check_choice("on_error", on_error or getattr(source, "on_error", "raise"),
                            ("raise", "skip"))
    mel = None if mel is None else check_mel_settings(mel)
    out = Path(out).expanduser()
    files = source.scan()
    settings = _settings(source, mel, clips_per_shard, files)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        old = _read_manifest(manifest_path)
        differ = sorted(k for k in settings if old["settings"].get(k) != settings[k])
        if differ:
            details = ", ".join(f"{k}: {old['settings'].get(k)!r} there, {settings[k]!r} now"
                                for k in differ)
            raise PreparationError(
                f"{manifest_path} was prepared with other settings ({details}); prepare "
                "into another folder, or delete that one first.")
    else:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise PreparationError(
                f"{out} exists and is not a folder prepared by wavedil-prepare: give a new or "
                "empty folder (nothing there is overwritten).")
        out.mkdir(parents=True, exist_ok=True)
        _atomic_json(manifest_path, {
            "format": FORMAT, "version": VERSION, "complete": False,
            "source": {"class": type(source).__name__,
                       "root": str(Path(getattr(source, "root", "")).resolve())},
            "settings": settings,
            "layout": {"audio": "KEY.npy int16 (T,)", "mel": "KEY.mel.npy float32 (N, F)",
                       "meta": "KEY.json"},
        })
    (out / "shards").mkdir(exist_ok=True)
    (out / "index").mkdir(exist_ok=True)
    groups = [files[i:i + clips_per_shard] for i in range(0, len(files), clips_per_shard)]
    todo = [k for k in range(len(groups)) if not _index_path(out, k).exists()]
    if not todo:
        log.info("%s is already prepared (%d shards, same settings): nothing to do.",
                 out, len(groups))
    jobs = [(str(out), k, groups[k], settings, on_error) for k in todo]
    done = len(files) - sum(len(groups[k]) for k in todo)  # clips of shards already written
    bar = tqdm(total=len(files), initial=done, desc=f"preparing {out.name}", unit="file",
               disable=not progress or not todo)
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                bar.update(_write_shard(*job))
        else:
            # spawned, not forked: a fork of a process whose thread pools (OpenMP, torch)
            # hold locks can hang in its first torch call
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=spawn) as pool:
                for future in as_completed([pool.submit(_write_shard, *job) for job in jobs]):
                    bar.update(future.result())
    finally:
        bar.close()
    skipped = []
    for k in range(len(groups)):
        skipped += json.loads(_index_path(out, k).read_text())["errors"]
    manifest = _read_manifest(manifest_path)
    manifest.update(complete=True, shards=len(groups), clips=len(files) - len(skipped),
                    skipped=len(skipped))
    _atomic_json(manifest_path, manifest)
    if skipped:
        log.warning("Skipped %d unreadable files:\n  %s", len(skipped),
                    "\n  ".join(f"{e['path']}: {e['error']}" for e in skipped))
    if manifest["clips"] == 0:
        raise PreparationError(f"None of the {len(files)} files of {out} could be read.")
    return {**manifest, "skipped": skipped, "written": len(todo)}


def _index_path(out: Path, shard: int) -> Path:
    return out / "index" / f"shard-{shard:06d}.json"


def _tar_name(shard: int) -> str:
    return f"shards/shard-{shard:06d}.tar"


def _write_shard(out: str, shard: int, files: list[AudioFile], settings: dict[str, Any],
                 on_error: str) -> int:
    """Decode ``files`` and write them as shard ``shard``, then its index. Returns the
    number of files handled (read or reported)."""
    import webdataset as wds

    from wavedil.data.features import mel_extractor
    from wavedil.data.functional import trim_silence
    from wavedil.data.io import AudioError, load_audio

    root = Path(out)
    rate, trim_db = settings["sample_rate"], settings["trim_db"]
    extractor = None if settings["mel"] is None else mel_extractor(rate, settings["mel"])
    tar_path = root / _tar_name(shard)
    tmp = tar_path.with_name(f".{tar_path.name}.tmp")
    records, errors = [], []
    with open(tmp, "wb") as stream:
        writer = wds.TarWriter(stream)
        try:
            for position, entry in enumerate(files):
                try:
                    audio = load_audio(entry.path, rate)
                    if trim_db is not None:
                        audio = trim_silence(audio, trim_db)
                except (AudioError, OSError) as err:
                    if on_error == "raise":
                        raise
                    errors.append({"path": str(entry.path), "error": str(err)})
                    continue
                pcm = quantize(audio)  # (T,) int16
                key = f"c{shard:06d}_{position:05d}"
                sample = {"__key__": key, "npy": pcm,
                          "json": {"path": str(entry.path), "label": entry.label,
                                   "speaker": entry.speaker, "index": entry.index,
                                   "text": entry.text}}
                if extractor is not None:
                    with torch.no_grad():
                        frames = extractor(dequantize(pcm).unsqueeze(0)).features[0]  # (F, N)
                    sample["mel.npy"] = np.ascontiguousarray(frames.numpy().T, dtype=np.float32)
                writer.write(sample)
                records.append({"key": key, **sample["json"], "samples": int(pcm.shape[0]),
                                "sha256": hashlib.sha256(pcm.tobytes()).hexdigest()})
        finally:
            writer.close()
        stream.flush()
        os.fsync(stream.fileno())
    offsets = _data_offsets(tmp)
    for record in records:
        record["audio_offset"] = offsets[f"{record['key']}.npy"][0]
        if extractor is not None:
            start, shape = offsets[f"{record['key']}.mel.npy"]
            record["mel_offset"], record["frames"] = start, int(shape[0])
    os.replace(tmp, tar_path)
    _atomic_json(_index_path(root, shard), {"tar": _tar_name(shard), "clips": records,
                                            "errors": errors})
    return len(files)


def quantize(audio: Tensor) -> np.ndarray:
    """``(T,)`` float audio -> int16 PCM (clipped to the 16-bit range)."""
    scaled = np.round(audio.detach().cpu().numpy().astype(np.float64) * _SCALE)
    return np.clip(scaled, -_SCALE, _SCALE - 1).astype(np.int16)


def dequantize(pcm: np.ndarray) -> Tensor:
    """int16 PCM -> float32 in [-1, 1), as soundfile decodes a 16-bit file."""
    return torch.from_numpy(pcm.astype(np.float32) / np.float32(_SCALE))


def _data_offsets(tar_path: Path) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Each ``.npy`` member's first data byte in the tar, and its array's shape."""
    found = {}
    with tarfile.open(tar_path) as tar, open(tar_path, "rb") as raw:
        for member in tar:
            if not member.name.endswith(".npy"):
                continue
            raw.seek(member.offset_data)
            version = np.lib.format.read_magic(raw)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, _ = read_header(raw)
            if fortran:
                raise PreparationError(f"{tar_path}: {member.name} is not C-ordered.")
            found[member.name] = (raw.tell(), tuple(shape))
    return found


# -- reading -------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PreparationError(f"Cannot read {path}: {err}") from err
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise PreparationError(
            f"{path} is not a wavedil-prepared folder of version {VERSION} (found format "
            f"{manifest.get('format')!r}, version {manifest.get('version')!r}).")
    return manifest


def read_prepared(root: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and every clip's index record of a prepared folder (the tar of
    each given as a full path under ``"tar"``).

    Raises:
        PreparationError: no manifest, an unfinished preparation, a missing or
            unreadable index, a missing or truncated shard.
    """
    root = Path(root).expanduser()
    path = root / MANIFEST
    if not path.exists():
        raise PreparationError(
            f"No {MANIFEST} in {root}: expected a folder written by wavedil-prepare "
            "(data.format=shards reads prepared corpora).")
    manifest = _read_manifest(path)
    if not manifest.get("complete"):
        raise PreparationError(
            f"The preparation of {root} did not finish ({path} says complete: false); run "
            "wavedil-prepare again with the same settings to finish it.")
    records = []
    for shard in range(manifest["shards"]):
        index = _index_path(root, shard)
        try:
            entry = json.loads(index.read_text())
        except FileNotFoundError:
            raise PreparationError(f"Shard index missing: {index} (prepare again).") from None
        except ValueError as err:
            raise PreparationError(f"Shard index unreadable: {index} ({err}).") from err
        tar = root / entry["tar"]
        size = tar.stat().st_size if tar.exists() else None
        if size is None:
            raise PreparationError(f"Shard missing: {tar} (listed by {index}).")
        for record in entry["clips"]:
            end = record["audio_offset"] + 2 * record["samples"]
            if "frames" in record:
                mels = manifest["settings"]["mel"]["n_mels"]
                end = max(end, record["mel_offset"] + 4 * record["frames"] * mels)
            if end > size:
                raise PreparationError(
                    f"Shard truncated: {tar} is {size} bytes, but {record['key']} ends at "
                    f"byte {end} (prepare again into an empty folder).")
            records.append({**record, "tar": str(tar)})
    if not records:
        raise PreparationError(f"{root} holds no clips.")
    return manifest, records


class _Files(threading.local):
    """Open shard files of this process and thread (re-opened after a fork)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: OrderedDict[str, int] = OrderedDict()


_files = _Files()
_MAX_OPEN = 64


def _pread(path: str, nbytes: int, offset: int) -> bytes:
    if _files.pid != os.getpid():  # a forked DataLoader worker: its own descriptors
        _files.pid, _files.open = os.getpid(), OrderedDict()
    fd = _files.open.get(path)
    if fd is None:
        fd = os.open(path, os.O_RDONLY)
        _files.open[path] = fd
        if len(_files.open) > _MAX_OPEN:
            os.close(_files.open.popitem(last=False)[1])
    else:
        _files.open.move_to_end(path)
    data = os.pread(fd, nbytes, offset)
    if len(data) != nbytes:
        raise PreparationError(f"Shard truncated: {path} ended before byte {offset + nbytes}.")
    return data


def _span(key: Any, length: int) -> tuple[int, int]:
    """``start, stop`` of ``[...,] a:b`` (step 1) within ``length``."""
    if isinstance(key, tuple):
        if len(key) == 2 and key[0] is Ellipsis:
            key = key[1]
        elif len(key) == 1:
            key = key[0]
    if key is Ellipsis:
        return 0, length
    if not isinstance(key, slice) or key.step not in (None, 1):
        raise TypeError(f"Shard audio takes [a:b] or [..., a:b], not {key!r}.")
    start, stop, _ = key.indices(length)
    return start, max(start, stop)


class ShardAudio:
    """``(T,)`` audio of one clip in a shard, read when sliced: ``audio[a:b]`` and
    ``audio[..., a:b]`` return float32 tensors (``audio[...]`` the whole clip);
    ``shape`` is known without reading."""

    __slots__ = ("length", "offset", "path")

    def __init__(self, path: str, offset: int, length: int) -> None:
        self.path, self.offset, self.length = path, offset, length

    @property
    def shape(self) -> torch.Size:
        return torch.Size([self.length])

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: Any) -> Tensor:
        start, stop = _span(key, self.length)
        data = _pread(self.path, 2 * (stop - start), self.offset + 2 * start)
        return dequantize(np.frombuffer(data, dtype="<i2"))

    def __repr__(self) -> str:
        return f"ShardAudio({self.path!r}, samples={self.length})"


class ShardFrames:
    """``(F, N)`` log-mel frames of one clip in a shard, read when sliced:
    ``frames[:, a:b]`` returns a float32 ``(F, b - a)`` tensor."""

    __slots__ = ("bands", "length", "offset", "path")

    def __init__(self, path: str, offset: int, bands: int, length: int) -> None:
        self.path, self.offset, self.bands, self.length = path, offset, bands, length

    @property
    def shape(self) -> torch.Size:
        return torch.Size([self.bands, self.length])

    def __getitem__(self, key: Any) -> Tensor:
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise TypeError(f"Shard frames take [:, a:b], not {key!r}.")
        start, stop = _span(key[1], self.length)
        data = _pread(self.path, 4 * self.bands * (stop - start),
                      self.offset + 4 * self.bands * start)
        rows = np.frombuffer(data, dtype="<f4").reshape(stop - start, self.bands)
        return torch.from_numpy(rows.T.copy())


class ShardSource:
    """The clips of a prepared folder, split as ``like`` splits its files.

    Args:
        root: the prepared folder.
        like: the file source the run was configured with (FSDD, a folder, a
            corpus): its split settings apply, and its ``sample_rate`` and
            ``trim_db`` must be those the folder was prepared with.
        mel: the run's mel settings, which must equal the prepared frames' (their
            frames are then read from the shards); ``None``: frames not needed.

    Raises (from :meth:`load`):
        PreparationError: another rate, trim or mel settings; frames needed but not
            prepared; the errors of :func:`read_prepared`.
    """

    def __init__(self, root: str | os.PathLike, like: Any,
                 mel: Mapping[str, Any] | None = None) -> None:
        self.root = Path(root).expanduser()
        self.like = like
        self.mel = mel
        self.sample_rate = like.sample_rate

    def load(self) -> ClipSplits:
        manifest, records = read_prepared(self.root)
        settings, where = manifest["settings"], self.root / MANIFEST
        wanted = {"sample_rate": int(self.like.sample_rate),
                  "trim_db": getattr(self.like, "trim_db", None)}
        for name, value in wanted.items():
            if settings[name] != value:
                raise PreparationError(
                    f"{where} was prepared with {name}={settings[name]!r}, but this run asks "
                    f"for {value!r}: prepare the corpus again with the run's data settings.")
        if self.mel is not None:
            prepared = settings["mel"]
            if prepared is None:
                raise PreparationError(
                    f"{where} holds no mel frames, but this run conditions on them ({self.mel}):"
                    " prepare with the run's data config (e.g. data=fsdd_vocoder).")
            if dict(sorted(self.mel.items())) != prepared:
                raise PreparationError(
                    f"{where} holds mel frames of other settings ({prepared}) than this run's "
                    f"({dict(sorted(self.mel.items()))}): prepare again into another folder.")
        files, audio, frames = [], {}, {} if self.mel is not None else None
        for record in records:
            entry = AudioFile(Path(record["path"]), record["label"], record["speaker"],
                              record["index"], record["text"])
            files.append(entry)
            audio[entry.path] = ShardAudio(record["tar"], record["audio_offset"],
                                           record["samples"])
            if frames is not None:
                frames[entry.path] = ShardFrames(record["tar"], record["mel_offset"],
                                                 int(self.mel["n_mels"]), record["frames"])
        log.info("Reading %d prepared clips of %s.", len(files), self.root)
        return self.like.make_splits(files, audio, frames)
