"""Where clips come from: folders of audio files (and the FSDD preset of one).

The records they produce are in :mod:`wavedil.data.records`, the split functions
in :mod:`wavedil.data.splits` (both re-exported here).

A *source* is an object with ``load() -> ClipSplits``: decoded mono clips at one
sample rate, split into train/val/test, with the names of their labels and
speakers. Sources only describe *what* to load until ``load`` is called, so a
datamodule can build one in ``__init__`` and touch the disk in ``setup``.

Shape legend: T samples.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor
from tqdm.auto import tqdm

from wavedil.data.records import AudioFile, Clip, ClipSource, ClipSplits, DataInfo
from wavedil.data.splits import speakers_of, split_by_index, split_by_speaker, split_random
from wavedil.nn.checks import check_choice, check_positive_int
from wavedil.spec import serializable

__all__ = [
    "FSDD",
    "FSDD_PATTERN",
    "AudioFile",
    "AudioFolder",
    "Clip",
    "ClipSource",
    "ClipSplits",
    "DataInfo",
    "fsdd_recordings",
    "parse_fsdd_name",
    "scan_folder",
    "split_by_index",
    "split_by_speaker",
    "split_random",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


FSDD_PATTERN = r"(?P<label>\d+)_(?P<speaker>[A-Za-z]+)_(?P<index>\d+)"


def parse_fsdd_name(name: str) -> AudioFile:
    """Parse an FSDD file name ``{digit}_{speaker}_{index}.wav``.

    Example:
        >>> f = parse_fsdd_name("7_jackson_32.wav")
        >>> f.label, f.speaker, f.index
        ('7', 'jackson', 32)
    """
    return _parse_pattern(Path(name), re.compile(FSDD_PATTERN))


def fsdd_recordings(root: str | os.PathLike, speakers: Sequence[str] | None = None
                    ) -> list[AudioFile]:
    """FSDD's recordings under ``root`` (sorted), each with its digit, speaker and index,
    only those of ``speakers`` if given.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no recordings (of those speakers), or a name that is not FSDD's.
    """
    files = scan_folder(root, labels="pattern", pattern=FSDD_PATTERN, extensions=(".wav",))
    if speakers is not None:
        files = [f for f in files if f.speaker in set(speakers)]
        if not files:
            raise ValueError(f"No recordings of {list(speakers)} under {root}.")
    return files


def _parse_pattern(path: Path, pattern: re.Pattern[str]) -> AudioFile:
    match = pattern.fullmatch(path.stem)
    if match is None:
        raise ValueError(
            f"File name {path.name!r} does not match the label pattern {pattern.pattern!r} "
            f"(expected the whole name before the extension to match, e.g. '7_jackson_32')."
        )
    groups = match.groupdict()
    index = groups.get("index")
    return AudioFile(path, groups.get("label"), groups.get("speaker"),
                     int(index) if index is not None else None)


def scan_folder(
    root: str | os.PathLike,
    labels: str | None = None,
    pattern: str | None = None,
    extensions: Sequence[str] = (".wav", ".flac", ".ogg"),
) -> list[AudioFile]:
    """Find audio files under ``root`` (recursively, sorted) and read their labels.

    Args:
        root: folder to scan.
        labels: ``"folder"`` (label = the sub-folder of ``root`` holding the file),
            ``"pattern"`` (named groups ``label``, ``speaker``, ``index`` of
            ``pattern`` matched against the file name without extension) or ``None``.
        pattern: regular expression, required with ``labels="pattern"``; may also be
            given with other modes to read speakers and indices.
        extensions: file endings to include (case-insensitive).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no audio files, or a name that the pattern does not match.
    """
    if labels is not None:
        check_choice("labels", labels, ("folder", "pattern"))
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"Data folder not found: {root} (set data.root to a folder of audio files)."
        )
    wanted = tuple(e.lower() for e in extensions)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not paths:
        raise ValueError(f"No audio files ({', '.join(wanted)}) found under {root}.")
    if labels == "pattern" and pattern is None:
        raise ValueError("Expected a pattern with labels='pattern', but found None.")
    regex = re.compile(pattern) if pattern is not None else None
    if labels == "pattern" and "label" not in regex.groupindex:  # type: ignore[union-attr]
        raise ValueError(f"Expected a named group (?P<label>...) in the pattern {pattern!r}.")

    files = []
    for path in paths:
        entry = _parse_pattern(path, regex) if regex is not None else AudioFile(path)
        if labels == "folder":
            parts = path.relative_to(root).parts
            if len(parts) < 2:
                raise ValueError(
                    f"{path} lies directly in {root}; with labels='folder' every file must be "
                    "in a sub-folder named after its class."
                )
            entry = entry._replace(label=parts[0])
        elif labels is None:
            entry = entry._replace(label=None)
        files.append(entry)
    return files


@serializable
class AudioFolder:
    """A folder of audio files, decoded to mono at ``sample_rate``.

    Args:
        root: the folder (searched recursively).
        sample_rate: rate every clip is resampled to.
        labels: ``"folder"``, ``"pattern"`` or ``None`` (see :func:`scan_folder`).
        pattern: file-name regular expression with named groups.
        split: ``"random"``, ``"speaker"`` or ``"index"``.
        val_fraction: with ``split="random"``.
        test_fraction: with ``split="random"``.
        test_speakers: with ``split="speaker"``.
        val_speakers: with ``split="speaker"`` (``None``: the test speakers).
        train_speakers: with ``split="speaker"`` (``None``: every speaker not held out).
        test_indices: with ``split="index"``.
        val_indices: with ``split="index"``.
        extensions: file endings to read.
        on_error: ``"raise"`` stops at the first unreadable file; ``"skip"`` logs it
            and goes on.
        seed: shuffling seed of ``split="random"``.
        trim_db: trim each clip's leading and trailing silence, the frames this many
            dB below its peak (:func:`~wavedil.data.functional.trim_silence`, with
            librosa); ``None`` keeps clips whole.
    """

    def __init__(
        self,
        root: str,
        sample_rate: int = 16000,
        labels: str | None = "folder",
        pattern: str | None = None,
        split: str = "random",
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        test_speakers: Sequence[str] = (),
        val_speakers: Sequence[str] | None = None,
        train_speakers: Sequence[str] | None = None,
        test_indices: Sequence[int] = (0, 1, 2, 3, 4),
        val_indices: Sequence[int] = (5, 6, 7, 8, 9),
        extensions: Sequence[str] = (".wav", ".flac", ".ogg"),
        on_error: str = "raise",
        seed: int = 0,
        trim_db: float | None = None,
    ) -> None:
        self.root = Path(root)
        if trim_db is not None and not trim_db > 0:
            raise ValueError(f"Expected data.source.trim_db > 0 (dB below each clip's peak) or "
                             f"null, but found {trim_db}.")
        self.trim_db = trim_db
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.labels = labels
        self.pattern = pattern
        self.split = check_choice("split", split, ("random", "speaker", "index"))
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.test_speakers, self.val_speakers = list(test_speakers), val_speakers
        self.train_speakers = None if train_speakers is None else list(train_speakers)
        self.test_indices, self.val_indices = list(test_indices), list(val_indices)
        self.extensions = tuple(extensions)
        self.on_error = check_choice("on_error", on_error, ("raise", "skip"))
        self.seed = seed

    def scan(self) -> list[AudioFile]:
        return scan_folder(self.root, self.labels, self.pattern, self.extensions)

    def split_files(self, files: Sequence[AudioFile]) -> dict[str, list[AudioFile]]:
        if self.split == "speaker":
            return split_by_speaker(files, self.test_speakers, self.val_speakers,
                                    self.train_speakers)
        if self.split == "index":
            return split_by_index(files, self.test_indices, self.val_indices)
        return split_random(files, self.val_fraction, self.test_fraction, self.seed)

    def load(self) -> ClipSplits:
        from wavedil.data.functional import trim_silence
        from wavedil.data.io import AudioError, load_audio  # io imports functional only

        files = self.scan()
        decoded: dict[Path, Tensor] = {}
        failures = []
        for f in tqdm(files, desc=f"decoding {self.root.name}", unit="file", leave=False):
            try:
                audio = load_audio(f.path, self.sample_rate)
                decoded[f.path] = (audio if self.trim_db is None
                                   else trim_silence(audio, self.trim_db))
            except (AudioError, OSError) as err:
                if self.on_error == "raise":
                    raise
                failures.append(f"{f.path}: {err}")
        if failures:
            log.warning("Skipped %d unreadable files:\n  %s", len(failures), "\n  ".join(failures))
        if not decoded:
            raise ValueError(
                f"None of the {len(files)} audio files under {self.root} could be read."
            )
        return self.make_splits([f for f in files if f.path in decoded], decoded)

    def make_splits(self, files: Sequence[AudioFile], audio: Mapping[Path, Any],
                    frames: Mapping[Path, Any] | None = None) -> ClipSplits:
        """Split ``files`` and pair each with its ``audio`` (a tensor, or anything that
        slices like one, e.g. PCM in a shard) and, where given, its mel ``frames``;
        label and speaker ids follow the sorted names of all ``files``."""
        class_names = sorted({f.label for f in files if f.label is not None}, key=_natural)
        speaker_names = speakers_of(files)
        class_id = {name: i for i, name in enumerate(class_names)}
        speaker_id = {name: i for i, name in enumerate(speaker_names)}

        def clips(entries: list[AudioFile]) -> list[Clip]:
            return [
                Clip(audio[f.path],
                     label=class_id[f.label] if f.label is not None else None,
                     speaker=speaker_id[f.speaker] if f.speaker is not None else None,
                     path=str(f.path),
                     frames=None if frames is None else frames[f.path])
                for f in entries
            ]

        parts = self.split_files(files)
        info = DataInfo(self.sample_rate, class_names, speaker_names)
        return ClipSplits(**{s: clips(parts[s]) for s in SPLITS}, info=info)


def _natural(name: str) -> tuple[int, str]:
    """Sort key putting '2' before '10'."""
    return (int(name), "") if name.isdigit() else (1 << 30, name)


@serializable
class FSDD(AudioFolder):
    """The Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav`` at 8 kHz.

    Args:
        root: the dataset folder (its ``recordings/`` is found recursively).
        split: ``"speaker"`` (hold out ``test_speakers``; speaker-independent
            score) or ``"index"`` (the dataset's convention: indices 0-4 test).
        test_speakers: held-out speakers with ``split="speaker"``.
        val_speakers: validation speakers (``None``: the test speakers).
        train_speakers: training speakers (``None``: all the others).
        test_indices: with ``split="index"``.
        val_indices: with ``split="index"``.
        sample_rate: target rate (FSDD is recorded at 8 kHz).
        on_error: ``"raise"`` or ``"skip"`` unreadable files.
        trim_db: trim leading and trailing silence below this many dB under each
            clip's peak (``None``: keep clips whole).
    """

    def __init__(
        self,
        root: str,
        split: str = "speaker",
        test_speakers: Sequence[str] = ("george",),
        val_speakers: Sequence[str] | None = None,
        train_speakers: Sequence[str] | None = None,
        test_indices: Sequence[int] = (0, 1, 2, 3, 4),
        val_indices: Sequence[int] = (5, 6, 7, 8, 9),
        sample_rate: int = 8000,
        on_error: str = "raise",
        trim_db: float | None = None,
    ) -> None:
        check_choice("split", split, ("speaker", "index"))
        super().__init__(
            root, sample_rate, labels="pattern", pattern=FSDD_PATTERN, split=split,
            test_speakers=test_speakers, val_speakers=val_speakers,
            train_speakers=train_speakers, test_indices=test_indices, val_indices=val_indices,
            extensions=(".wav",), on_error=on_error, trim_db=trim_db,
        )

