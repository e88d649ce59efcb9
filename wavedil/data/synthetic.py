"""Embedded synthetic audio: data that needs no files or downloads.

* :class:`SyntheticTones` - sequences of harmonic notes with pitch glides, for the
  generator (``python train.py`` trains on it by default).
* :class:`SyntheticClasses` - one class per timbre (sine, square, sawtooth, ...)
  under random pitch, glide and loudness, for the classifier.

Every clip is a pure function of ``(seed, split, index)``, so the data are the
same on every machine and in every DataLoader worker.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from wavedil.data.sources import Clip, ClipSplits, DataInfo
from wavedil.nn.checks import check_positive_int
from wavedil.spec import serializable

__all__ = ["TIMBRES", "SyntheticClasses", "SyntheticTones", "harmonic_glide"]

#: Harmonic amplitude laws, ``k`` = harmonic number (1 = fundamental).
TIMBRES = {
    "sine": lambda k: 1.0 if k == 1 else 0.0,
    "square": lambda k: 1.0 / k if k % 2 == 1 else 0.0,
    "sawtooth": lambda k: 1.0 / k,
    "hollow": lambda k: 1.0 / k if k % 3 != 0 else 0.0,
}

_SPLIT_SALT = {"train": 0, "val": 1, "test": 2}


def harmonic_glide(
    length: int,
    sample_rate: int,
    f0_start: float,
    f0_end: float,
    harmonics: Tensor,
    fade: int = 40,
) -> Tensor:
    """A note whose pitch glides exponentially from ``f0_start`` to ``f0_end`` Hz.

    Harmonic ``k`` (amplitude ``harmonics[k - 1]``) is silenced wherever
    ``k * f0`` reaches Nyquist, so nothing aliases. Linear fades of ``fade``
    samples at both ends avoid clicks. The peak is normalised to 1.

    Shape:
        ``-> (length,)``
    """
    check_positive_int("length", length)
    t = torch.arange(length, dtype=torch.float64) / sample_rate
    duration = max(length / sample_rate, 1e-9)
    f0 = f0_start * (f0_end / f0_start) ** (t / duration)  # (T,)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate  # (T,)
    k = torch.arange(1, len(harmonics) + 1, dtype=torch.float64).unsqueeze(1)  # (H, 1)
    below_nyquist = (k * f0) < 0.45 * sample_rate  # (H, T)
    wave = (harmonics.double().unsqueeze(1) * torch.sin(k * phase) * below_nyquist).sum(0)
    ramp = torch.ones(length, dtype=torch.float64)
    n = min(fade, length // 2)
    if n:
        ramp[:n] = torch.linspace(0, 1, n, dtype=torch.float64)
        ramp[-n:] = torch.linspace(1, 0, n, dtype=torch.float64)
    wave = wave * ramp
    return (wave / wave.abs().max().clamp(min=1e-9)).float()


def _uniform(g: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=g))


def _log_uniform(g: torch.Generator, low: float, high: float) -> float:
    return math.exp(_uniform(g, math.log(low), math.log(high)))


def _clip_generator(seed: int, split: str, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + _SPLIT_SALT[split] * 100_003 + index)


@serializable
class SyntheticTones:
    """Clips of consecutive harmonic notes with pitch glides.

    Args:
        sample_rate: Hz.
        clip_length: samples per clip.
        num_train: clips in the training split (val and test get a quarter each, at least 4).
        notes: (min, max) notes per clip.
        seed: data seed (independent of the training seed).
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        clip_length: int = 8000,
        num_train: int = 128,
        notes: tuple[int, int] = (2, 4),
        seed: int = 0,
    ) -> None:
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.clip_length = check_positive_int("clip_length", clip_length)
        self.num_train = check_positive_int("num_train", num_train)
        if self.clip_length < 2 * notes[1]:
            raise ValueError(
                f"Expected clip_length >= 2 samples per note ({2 * notes[1]}), "
                f"but found {clip_length}."
            )
        self.notes = (check_positive_int("notes[0]", notes[0]),
                      check_positive_int("notes[1]", notes[1]))
        if self.notes[0] > self.notes[1]:
            raise ValueError(f"Expected notes as (min, max) with min <= max, but found {notes}.")
        self.seed = seed

    def clip(self, split: str, index: int) -> Tensor:
        """The ``index``-th clip of ``split`` (``(clip_length,)``)."""
        g = _clip_generator(self.seed, split, index)
        count = int(torch.randint(self.notes[0], self.notes[1] + 1, (1,), generator=g))
        # Note lengths in proportion to weights in [0.5, 1.5): no note is shorter than a
        # third of the average, so none is empty.
        weights = 0.5 + torch.rand(count, generator=g)
        ends = (torch.cumsum(weights, 0) / weights.sum() * self.clip_length).long().tolist()
        bounds = [0, *ends[:-1], self.clip_length]
        pieces = []
        for start, end in zip(bounds[:-1], bounds[1:]):
            f0 = _log_uniform(g, 110.0, 440.0)
            glide = _log_uniform(g, 0.7, 1.4)
            timbre = list(TIMBRES.values())[int(torch.randint(0, len(TIMBRES), (1,), generator=g))]
            harmonics = torch.tensor([timbre(k) for k in range(1, 9)])
            note = harmonic_glide(end - start, self.sample_rate, f0, f0 * glide, harmonics)
            pieces.append(note * _uniform(g, 0.3, 0.8))
        return torch.cat(pieces)

    def load(self) -> ClipSplits:
        sizes = {"train": self.num_train, "val": max(4, self.num_train // 4),
                 "test": max(4, self.num_train // 4)}
        splits = {
            split: [Clip(self.clip(split, i), path=f"tones/{split}/{i}") for i in range(n)]
            for split, n in sizes.items()
        }
        return ClipSplits(**splits, info=DataInfo(sample_rate=self.sample_rate))


@serializable
class SyntheticClasses:
    """One class per timbre, under random pitch, glide, loudness and background noise.

    Telling the classes apart needs the waveform's shape within a period (its
    harmonic content), not its pitch or level.

    Args:
        sample_rate: Hz.
        clip_length: samples per clip.
        timbres: class names, a subset of :data:`TIMBRES` (at least 2).
        clips_per_class: training clips per class (val and test get a quarter).
        noise: standard deviation of added white noise.
        seed: data seed.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        clip_length: int = 2000,
        timbres: tuple[str, ...] = ("sine", "square", "sawtooth"),
        clips_per_class: int = 64,
        noise: float = 0.01,
        seed: int = 0,
    ) -> None:
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.clip_length = check_positive_int("clip_length", clip_length)
        unknown = [t for t in timbres if t not in TIMBRES]
        if unknown or len(timbres) < 2:
            raise ValueError(
                f"Expected at least 2 timbres from {sorted(TIMBRES)}, but found {list(timbres)}."
            )
        self.timbres = tuple(timbres)
        self.clips_per_class = check_positive_int("clips_per_class", clips_per_class)
        self.noise = noise
        self.seed = seed

    def clip(self, split: str, index: int) -> Clip:
        g = _clip_generator(self.seed, split, index)
        label = index % len(self.timbres)
        law = TIMBRES[self.timbres[label]]
        f0 = _log_uniform(g, 100.0, 500.0)
        harmonics = torch.tensor([law(k) for k in range(1, 13)])
        audio = harmonic_glide(self.clip_length, self.sample_rate, f0,
                               f0 * _log_uniform(g, 0.8, 1.25), harmonics)
        audio = audio * _uniform(g, 0.2, 0.9)
        audio = audio + self.noise * torch.randn(self.clip_length, generator=g)
        return Clip(audio.clamp(-1, 1), label=label, path=f"classes/{split}/{index}")

    def load(self) -> ClipSplits:
        n = self.clips_per_class * len(self.timbres)
        sizes = {"train": n, "val": max(len(self.timbres), n // 4),
                 "test": max(len(self.timbres), n // 4)}
        splits = {split: [self.clip(split, i) for i in range(k)] for split, k in sizes.items()}
        info = DataInfo(sample_rate=self.sample_rate, class_names=list(self.timbres))
        return ClipSplits(**splits, info=info)
