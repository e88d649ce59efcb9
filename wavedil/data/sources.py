"""Where clips come from: folders of audio files (and the FSDD preset of one).

A *source* is an object with ``load() -> ClipSplits``: decoded mono clips at one
sample rate, split into train/val/test, with the names of their labels and
speakers. Sources only describe *what* to load until ``load`` is called, so a
datamodule can build one in ``__init__`` and touch the disk in ``setup``.

Shape legend: T samples.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from torch import Tensor
from tqdm.auto import tqdm

from wavedil.nn.checks import check_choice, check_positive_int
from wavedil.spec import serializable

__all__ = [
    "FSDD",
    "AudioFile",
    "AudioFolder",
    "Clip",
    "ClipSource",
    "ClipSplits",
    "DataInfo",
    "parse_fsdd_name",
    "scan_folder",
    "split_by_index",
    "split_by_speaker",
    "split_random",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class Clip(NamedTuple):
    """One decoded clip.

    Attributes:
        audio: ``(T,)`` float32 mono.
        label: class index, or ``None`` for unlabelled audio.
        speaker: speaker index, or ``None``.
        path: where it came from (for error messages and reports).
        weight: how much the clip counts in a classifier's training loss (1: as
            much as any other; synthetic clips may count less).
    """

    audio: Tensor
    label: int | None = None
    speaker: int | None = None
    path: str = ""
    weight: float = 1.0


@dataclass
class DataInfo:
    """What a model needs to know about its data; stored in checkpoints.

    Attributes:
        sample_rate: Hz of every clip.
        class_names: label names, index = class id.
        speaker_names: speaker names, index = speaker id.
        global_label: what a generator's global class id means (``"label"`` or
            ``"speaker"``), or ``None``.
        local_features: :class:`~wavedil.nn.LogMelFrontend` arguments of a
            generator's local conditioning, or ``None``.
    """

    sample_rate: int
    class_names: list[str] = field(default_factory=list)
    speaker_names: list[str] = field(default_factory=list)
    global_label: str | None = None
    local_features: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def global_names(self) -> list[str]:
        """Names of the generator's global classes (labels or speakers)."""
        if self.global_label is None:
            return []
        return self.class_names if self.global_label == "label" else self.speaker_names

    @property
    def num_global(self) -> int:
        return len(self.global_names)

    @property
    def n_mels(self) -> int | None:
        return None if self.local_features is None else int(self.local_features["n_mels"])

    @property
    def hop_length(self) -> int | None:
        return None if self.local_features is None else int(self.local_features["hop_length"])

    @property
    def num_speakers(self) -> int:
        return len(self.speaker_names)


@dataclass
class ClipSplits:
    train: list[Clip]
    val: list[Clip]
    test: list[Clip]
    info: DataInfo


class ClipSource(Protocol):
    """Anything that loads :class:`ClipSplits`."""

    sample_rate: int

    def load(self) -> ClipSplits: ...


class AudioFile(NamedTuple):
    """A file found by :func:`scan_folder`, with what its name or folder says."""

    path: Path
    label: str | None = None
    speaker: str | None = None
    index: int | None = None


FSDD_PATTERN = r"(?P<label>\d+)_(?P<speaker>[A-Za-z]+)_(?P<index>\d+)"


def parse_fsdd_name(name: str) -> AudioFile:
    """Parse an FSDD file name ``{digit}_{speaker}_{index}.wav``.

    Example:
        >>> parse_fsdd_name("7_jackson_32.wav")[1:]
        ('7', 'jackson', 32)
    """
    return _parse_pattern(Path(name), re.compile(FSDD_PATTERN))


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


def speakers_of(files: Sequence[AudioFile]) -> list[str]:
    """The sorted names of the speakers that ``files`` name (files without one skipped)."""
    return sorted({f.speaker for f in files if f.speaker is not None})


def split_by_speaker(
    files: Sequence[AudioFile],
    test_speakers: Sequence[str],
    val_speakers: Sequence[str] | None = None,
    train_speakers: Sequence[str] | None = None,
) -> dict[str, list[AudioFile]]:
    """Hold out whole speakers: a speaker in ``test_speakers`` (or ``val_speakers``) is
    never in train. ``val_speakers=None`` validates on the test speakers;
    ``train_speakers=None`` trains on every other speaker, a list on those only (to
    measure how accuracy grows with the number of training voices, say)."""
    known = speakers_of(files)
    if not known:
        raise ValueError("Expected speakers in the file names for split='speaker', but found none.")
    val_speakers = list(test_speakers) if val_speakers is None else list(val_speakers)
    named = [("test_speakers", test_speakers), ("val_speakers", val_speakers)]
    if train_speakers is not None:
        named.append(("train_speakers", train_speakers))
    for name, chosen in named:
        unknown = [s for s in chosen if s not in known]
        if unknown or not chosen:
            raise ValueError(f"Expected {name} from {known}, but found {list(chosen)}.")
    test, val = set(test_speakers), set(val_speakers)
    held_out = test | val
    train = (set(train_speakers) if train_speakers is not None
             else {f.speaker for f in files} - held_out)  # files naming no speaker included
    both = sorted(held_out & train)
    if both:
        raise ValueError(f"Expected train_speakers apart from the held-out {sorted(held_out)}, "
                         f"but found {both} in both.")
    splits = {
        "train": [f for f in files if f.speaker in train],
        "val": [f for f in files if f.speaker in val],
        "test": [f for f in files if f.speaker in test],
    }
    if not splits["train"]:
        raise ValueError(f"No speakers left for training after holding out {sorted(held_out)}.")
    return splits


def split_by_index(
    files: Sequence[AudioFile],
    test_indices: Sequence[int],
    val_indices: Sequence[int],
) -> dict[str, list[AudioFile]]:
    """Split by the recording index in the file name (FSDD: 0-4 test, 5-49 train)."""
    if any(f.index is None for f in files):
        raise ValueError("Expected an (?P<index>...) group in the pattern for split='index'.")
    overlap = set(test_indices) & set(val_indices)
    if overlap:
        raise ValueError(
            f"Expected disjoint test_indices and val_indices, but both hold {sorted(overlap)}."
        )
    test, val = set(test_indices), set(val_indices)
    return {
        "train": [f for f in files if f.index not in test | val],
        "val": [f for f in files if f.index in val],
        "test": [f for f in files if f.index in test],
    }


def split_random(
    files: Sequence[AudioFile], val_fraction: float, test_fraction: float, seed: int = 0
) -> dict[str, list[AudioFile]]:
    """Shuffle with ``seed`` and cut off validation and test fractions."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Expected {name} in [0, 1), but found {value}.")
    if val_fraction + test_fraction >= 1.0:
        total = val_fraction + test_fraction
        raise ValueError(f"Expected val_fraction + test_fraction < 1, but found {total}.")
    order = list(files)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    n_test = round(len(order) * test_fraction)
    return {"val": order[:n_val], "test": order[n_val:n_val + n_test],
            "train": order[n_val + n_test:]}


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
    ) -> None:
        self.root = Path(root)
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
        from wavedil.data.io import AudioError, load_audio  # io imports functional only

        files = self.scan()
        class_names = sorted({f.label for f in files if f.label is not None}, key=_natural)
        speaker_names = speakers_of(files)
        class_id = {name: i for i, name in enumerate(class_names)}
        speaker_id = {name: i for i, name in enumerate(speaker_names)}

        decoded: dict[Path, Tensor] = {}
        failures = []
        for f in tqdm(files, desc=f"decoding {self.root.name}", unit="file", leave=False):
            try:
                decoded[f.path] = load_audio(f.path, self.sample_rate)
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

        def clips(entries: list[AudioFile]) -> list[Clip]:
            return [
                Clip(decoded[f.path],
                     label=class_id[f.label] if f.label is not None else None,
                     speaker=speaker_id[f.speaker] if f.speaker is not None else None,
                     path=str(f.path))
                for f in entries if f.path in decoded
            ]

        parts = self.split_files([f for f in files if f.path in decoded])
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
    ) -> None:
        check_choice("split", split, ("speaker", "index"))
        super().__init__(
            root, sample_rate, labels="pattern", pattern=FSDD_PATTERN, split=split,
            test_speakers=test_speakers, val_speakers=val_speakers,
            train_speakers=train_speakers, test_indices=test_indices, val_indices=val_indices,
            extensions=(".wav",), on_error=on_error,
        )

