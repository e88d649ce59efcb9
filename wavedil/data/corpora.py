"""The standard speech corpora, read from a local copy of their published layout
(nothing downloads): speakers and transcripts come from the corpora's own files.

- :class:`LJSpeech` (LJSpeech-1.1): ``metadata.csv`` (``id|text|normalised text``)
  and ``wavs/{id}.wav``; one speaker, 22.05 kHz.
- :class:`VCTK` (0.92 or the older release): ``wav48_silence_trimmed/{spk}/{utt}_{mic}.flac``
  (or ``wav48/{spk}/{utt}.wav``) and ``txt/{spk}/{utt}.txt``; 110 speakers, 48 kHz.
- :class:`LibriTTS`: ``{subset}/{spk}/{chapter}/{spk}_{chapter}_{utt}.wav`` with the
  ``.normalized.txt`` beside each; 24 kHz.

Each is an :class:`~wavedil.data.AudioFolder` (decoded to mono at ``sample_rate``,
split at random or by speaker), so every generator and vocoder preset takes it as
``data.source``: ``python train.py experiment=folder_vocoder data=ljspeech
data.root=/data/LJSpeech-1.1``. A file the metadata names but the copy lacks, and a
copy without the metadata, are errors that name the file and the layout expected.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from wavedil.data.records import AudioFile
from wavedil.data.sources import AudioFolder
from wavedil.spec import serializable

__all__ = ["VCTK", "LJSpeech", "LibriTTS"]


def _base(root: Path, marker: str, names: Sequence[str], corpus: str) -> Path:
    """``root`` or the first of its sub-folders ``names`` that holds ``marker``."""
    for base in (root, *(root / n for n in names)):
        if (base / marker).exists():
            return base
    if not root.is_dir():
        raise FileNotFoundError(f"{corpus} folder not found: {root} (set data.root to a local "
                                f"copy of {corpus}).")
    raise FileNotFoundError(f"{root} does not look like {corpus}: expected {marker} in it "
                            f"(or in {', '.join(names)}/ under it).")


def _fraction_args(split: str, val_fraction: float, test_fraction: float,
                   test_speakers: Sequence[str], val_speakers: Sequence[str] | None,
                   seed: int) -> dict:
    return {"split": split, "val_fraction": val_fraction, "test_fraction": test_fraction,
            "test_speakers": test_speakers, "val_speakers": val_speakers, "seed": seed}


@serializable
class LJSpeech(AudioFolder):
    """LJSpeech-1.1 from a local copy (``root``: the folder with ``metadata.csv``, or
    its parent). Every clip's speaker is ``"LJ"``, its transcript the normalised text.

    Args:
        root: the corpus folder.
        sample_rate: rate every clip is resampled to (the corpus is 22.05 kHz).
        val_fraction, test_fraction, seed: the random split.
        on_error: ``"raise"`` or ``"skip"`` unreadable files.
        trim_db: trim leading and trailing silence (``None``: keep clips whole).
    """

    def __init__(self, root: str, sample_rate: int = 22050, val_fraction: float = 0.01,
                 test_fraction: float = 0.01, seed: int = 0, on_error: str = "raise",
                 trim_db: float | None = None) -> None:
        super().__init__(root, sample_rate, labels=None, split="random",
                         val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                         on_error=on_error, trim_db=trim_db)

    def scan(self) -> list[AudioFile]:
        base = _base(self.root, "metadata.csv", ["LJSpeech-1.1"], "LJSpeech")
        metadata = base / "metadata.csv"
        files = []
        with open(metadata, newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), 1):
                if len(row) < 2:
                    raise ValueError(f"{metadata}, line {n}: expected 'id|text|normalised "
                                     f"text', but found {'|'.join(row)!r}.")
                path = base / "wavs" / f"{row[0]}.wav"
                if not path.is_file():
                    raise FileNotFoundError(f"{metadata}, line {n} names {row[0]}, but "
                                            f"{path} is missing.")
                files.append(AudioFile(path, None, "LJ", n - 1, row[-1]))
        if not files:
            raise ValueError(f"{metadata} lists no clips.")
        return files


@serializable
class VCTK(AudioFolder):
    """VCTK (0.92's ``wav48_silence_trimmed`` FLACs of one microphone, or the older
    release's ``wav48`` WAVs) from a local copy; speakers from the folders, transcripts
    from ``txt/`` (``None`` where the corpus has none, as for p315).

    Args:
        root: the corpus folder (or its parent).
        sample_rate: rate every clip is resampled to (the corpus is 48 kHz).
        mic: ``"mic1"`` or ``"mic2"`` (0.92 only).
        split: ``"random"`` or ``"speaker"`` (hold out ``test_speakers``).
        val_fraction, test_fraction, seed: the random split.
        test_speakers, val_speakers: the speaker split.
        speakers: only these speakers (``None``: all).
        on_error, trim_db: as :class:`~wavedil.data.AudioFolder`.
    """

    def __init__(self, root: str, sample_rate: int = 24000, mic: str = "mic1",
                 split: str = "random", val_fraction: float = 0.02,
                 test_fraction: float = 0.02, test_speakers: Sequence[str] = (),
                 val_speakers: Sequence[str] | None = None,
                 speakers: Sequence[str] | None = None, seed: int = 0,
                 on_error: str = "raise", trim_db: float | None = None) -> None:
        if mic not in ("mic1", "mic2"):
            raise ValueError(f"Expected mic 'mic1' or 'mic2', but found {mic!r}.")
        super().__init__(root, sample_rate, labels=None, on_error=on_error, trim_db=trim_db,
                         **_fraction_args(split, val_fraction, test_fraction, test_speakers,
                                          val_speakers, seed))
        self.mic = mic
        self.speakers = None if speakers is None else list(speakers)

    def scan(self) -> list[AudioFile]:
        names = ["VCTK-Corpus-0.92", "VCTK-Corpus"]
        try:
            base, audio, pattern = _base(self.root, "wav48_silence_trimmed", names, "VCTK"), \
                "wav48_silence_trimmed", f"*_{self.mic}.flac"
        except FileNotFoundError:
            base, audio, pattern = _base(self.root, "wav48", names, "VCTK"), "wav48", "*.wav"
        files = []
        for folder in sorted(p for p in (base / audio).iterdir() if p.is_dir()):
            if self.speakers is not None and folder.name not in self.speakers:
                continue
            for path in sorted(folder.glob(pattern)):
                utterance = path.stem.removesuffix(f"_{self.mic}")
                text_file = base / "txt" / folder.name / f"{utterance}.txt"
                text = text_file.read_text(encoding="utf-8").strip() if text_file.is_file() \
                    else None
                number = utterance.rpartition("_")[2]
                files.append(AudioFile(path, None, folder.name,
                                       int(number) if number.isdigit() else None, text))
        if not files:
            raise ValueError(f"No {pattern} files under {base / audio}"
                             + (f" for speakers {self.speakers}" if self.speakers else "") + ".")
        return files


@serializable
class LibriTTS(AudioFolder):
    """LibriTTS from a local copy: ``root`` holds the subsets (``train-clean-100``, ...),
    or is ``LibriTTS``'s parent; speakers from the folders, transcripts from each
    utterance's ``.normalized.txt``.

    Args:
        root: the corpus folder (or its parent).
        subsets: the subsets to read (``None``: every one present).
        sample_rate: rate every clip is resampled to (the corpus is 24 kHz).
        split, val_fraction, test_fraction, test_speakers, val_speakers, seed: as
            :class:`VCTK`.
        on_error, trim_db: as :class:`~wavedil.data.AudioFolder`.
    """

    SUBSETS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100",
               "train-clean-360", "train-other-500")

    def __init__(self, root: str, subsets: Sequence[str] | None = None,
                 sample_rate: int = 24000, split: str = "random", val_fraction: float = 0.01,
                 test_fraction: float = 0.01, test_speakers: Sequence[str] = (),
                 val_speakers: Sequence[str] | None = None, seed: int = 0,
                 on_error: str = "raise", trim_db: float | None = None) -> None:
        unknown = sorted(set(subsets or ()) - set(self.SUBSETS))
        if unknown:
            raise ValueError(f"Unknown LibriTTS subsets {unknown}; expected some of "
                             f"{list(self.SUBSETS)}.")
        super().__init__(root, sample_rate, labels=None, on_error=on_error, trim_db=trim_db,
                         **_fraction_args(split, val_fraction, test_fraction, test_speakers,
                                          val_speakers, seed))
        self.subsets = None if subsets is None else list(subsets)

    def scan(self) -> list[AudioFile]:
        base = self.root / "LibriTTS" if (self.root / "LibriTTS").is_dir() else self.root
        if not base.is_dir():
            raise FileNotFoundError(f"LibriTTS folder not found: {self.root} (set data.root "
                                    "to a local copy of LibriTTS).")
        present = [s for s in self.SUBSETS if (base / s).is_dir()]
        wanted = self.subsets if self.subsets is not None else present
        missing = [s for s in wanted if s not in present]
        if missing or not wanted:
            raise FileNotFoundError(f"{base} lacks the LibriTTS subsets {missing or 'all'}; "
                                    f"expected folders such as {base / 'train-clean-100'}.")
        files = []
        for subset in wanted:
            for path in sorted((base / subset).glob("*/*/*.wav")):
                text_file = path.with_suffix(".normalized.txt")
                text = text_file.read_text(encoding="utf-8").strip() if text_file.is_file() \
                    else None
                files.append(AudioFile(path, None, path.parent.parent.name, None, text))
        if not files:
            raise ValueError(f"No utterances (SPEAKER/CHAPTER/*.wav) under {base} in "
                             f"{wanted}.")
        return files
