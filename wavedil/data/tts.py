"""Synthetic voices: words spoken by a speech synthesiser, as extra training clips.

A speaker-independent classifier trained on a handful of speakers meets a new
voice whose vowels none of them span. Speech synthesisers offer many more
voices for free: :class:`SyntheticVoices` speaks each class's word in ``voices``
eSpeak NG voices (an English accent, a voice variant, a pitch and a speaking
rate drawn per voice; optionally the variant's formant frequencies scaled, which
eSpeak NG only reads from voice files, so :class:`~wavedil.data.espeak.Espeak` starts on a private,
linked copy of its voice data with one writable variant) and hands the clips to
:class:`~wavedil.data.ClassificationDataModule` as extra *training* clips only:
validation and test keep the real speakers.

eSpeak NG comes from the ``espeakng-loader`` wheel (``pip install
"wavedil[tts]"``: the library and its voice data, no download at run time) or
from a system ``libespeak-ng``. The voices are a pure function of ``seed``.
eSpeak NG carries some state from one utterance to the next (a word spoken
twice in one process can differ by a few samples), but a fresh process that
draws the same voices with the same engine gets the same clips (the noise of
its breathy voices is seeded before every utterance); and
:meth:`SyntheticVoices.clips` synthesises once per process and settings, so a
training run, every fold of a leave-one-speaker-out run included, is reproducible.

Shape legend: T samples.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torchaudio.transforms import Resample
from tqdm.auto import tqdm

from wavedil.data.espeak import ACCENTS, N_FORMANTS, VARIANTS, Espeak, Voice
from wavedil.data.functional import add_noise, brown, trim_silence
from wavedil.data.io import write_audio
from wavedil.data.sources import Clip
from wavedil.nn.checks import check_positive_int, check_range
from wavedil.spec import serializable, to_spec

__all__ = ["SyntheticVoices"]

#: (settings, sample rate) -> what :meth:`SyntheticVoices.clips` synthesised.
_SPOKEN: dict[tuple[str, int], list[tuple[Voice, str, Tensor]]] = {}


@serializable
class SyntheticVoices:
    """Each class's word spoken in ``voices`` synthetic voices.

    Args:
        words: class name -> the text to speak, e.g. ``{"0": "zero", "1": "one"}``.
        voices: how many voices (each speaks every word once).
        seed: which voices (accent, variant, pitch, rate are drawn from it).
        accents: eSpeak NG accents to draw from.
        variants: voice variants to draw from.
        pitch: ``[low, high]`` eSpeak pitch (0-99; 50 is the voice's own).
        rate: ``[low, high]`` speaking rate in words per minute (175 is eSpeak's own).
        trim_db: leading and trailing silence quieter than this below the peak is
            cut (recorded datasets such as FSDD are trimmed too); ``None`` keeps it.
        peak: peak amplitude of every clip.
        noise_snr_db: ``[low, high]``: every clip gets white or brown noise at a
            signal-to-noise ratio drawn from this range (a synthesiser's silences are
            exact zeros, a microphone's never are); ``None`` leaves the clips clean.
            Drawn per voice and word from ``seed``.
        formant_scale: ``[low, high]``: each voice's formant frequencies (1-8) are
            its variant's times one factor drawn from this range, as a shorter (> 1)
            or longer (< 1) vocal tract would have them; ``None`` keeps the variants'.
        formant_jitter: with ``formant_scale``, each of formants 1-3 is further
            scaled by its own factor within ``1 +- formant_jitter``: vowel spaces
            no uniform scaling reaches.
        word_formant_jitter: each word's formants 1-3 are further scaled by factors
            of their own within ``1 +- word_formant_jitter``, drawn per voice and word
            from ``seed``: vowels that a voice says its own way, as accents do (0: none).
        weight: how much each synthetic clip counts in the training loss beside a
            real one (1: the same; 0.25: a quarter).
    """

    def __init__(
        self,
        words: Mapping[str, str],
        voices: int = 400,
        seed: int = 0,
        accents: Sequence[str] = ACCENTS,
        variants: Sequence[str] = VARIANTS,
        pitch: Sequence[int] = (20, 80),
        rate: Sequence[int] = (120, 200),
        trim_db: float | None = 40.0,
        peak: float = 0.5,
        noise_snr_db: Sequence[float] | None = None,
        formant_scale: Sequence[float] | None = None,
        formant_jitter: float = 0.0,
        word_formant_jitter: float = 0.0,
        weight: float = 1.0,
    ) -> None:
        if not words:
            raise ValueError("Expected words: a mapping of class name to the text to speak.")
        self.words = {str(k): str(v) for k, v in words.items()}
        empty = [k for k, v in self.words.items() if not v.strip()]
        if empty:
            raise ValueError(f"Expected text to speak for every class; empty for {empty}.")
        self.voices = check_positive_int("voices", voices)
        self.seed = seed
        if not accents or not variants:
            raise ValueError("Expected at least one accent and one variant.")
        self.accents, self.variants = list(accents), list(variants)
        self.pitch = _int_range("pitch", pitch, 0, 99)
        self.rate = _int_range("rate", rate, 80, 450)
        self.trim_db = trim_db
        if not 0 < peak <= 1:
            raise ValueError(f"Expected peak in (0, 1], got {peak}.")
        self.peak = peak
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"Expected data.tts.weight > 0 (1: as much as a real clip), "
                             f"got {weight}.")
        self.weight = float(weight)
        self.noise_snr_db = (None if noise_snr_db is None
                             else check_range("noise_snr_db", noise_snr_db))
        self.formant_scale = (None if formant_scale is None
                              else check_range("formant_scale", formant_scale, 0.5, 2.0))
        if not 0 <= formant_jitter < 0.5:
            raise ValueError(f"Expected formant_jitter in [0, 0.5), got {formant_jitter}.")
        if formant_jitter and self.formant_scale is None:
            raise ValueError("formant_jitter needs formant_scale (e.g. [1, 1]).")
        self.formant_jitter = formant_jitter
        if not 0 <= word_formant_jitter < 0.5:
            raise ValueError(f"Expected word_formant_jitter in [0, 0.5), got "
                             f"{word_formant_jitter}.")
        self.word_formant_jitter = word_formant_jitter

    def draw(self) -> list[Voice]:
        """The voices, a pure function of ``seed``."""
        rng = random.Random(self.seed)
        return [Voice(rng.choice(self.accents), rng.choice(self.variants),
                      rng.randint(*self.pitch), rng.randint(*self.rate), self._formants(rng))
                for _ in range(self.voices)]

    def _formants(self, rng: random.Random) -> tuple[float, ...]:
        if self.formant_scale is None:
            return ()  # draws nothing: the voices of a seed stay those without formants
        scale, jitter = rng.uniform(*self.formant_scale), self.formant_jitter
        return (1.0, *(scale * (rng.uniform(1 - jitter, 1 + jitter) if k <= 3 else 1.0)
                       for k in range(1, N_FORMANTS)))

    def _word_formants(self, voice: Voice, number: int, name: str) -> Voice:
        """``voice`` as it says class ``name``'s word: its formants 1-3 jittered."""
        jitter = self.word_formant_jitter
        if not jitter:
            return voice
        rng = random.Random(f"{self.seed}/{number}/{name}/formants")  # this voice's word
        formants = voice.formants or (1.0,) * N_FORMANTS
        return dataclasses.replace(voice, formants=tuple(
            f * rng.uniform(1 - jitter, 1 + jitter) if 1 <= k <= 3 else f
            for k, f in enumerate(formants)))

    def clips(self, class_names: Sequence[str], sample_rate: int) -> list[Clip]:
        """Every word in every voice at ``sample_rate``, labelled by ``class_names`` index.

        The clips are synthesised once per process and settings and kept: every
        fold of a leave-one-speaker-out run trains on the clips that a fresh
        process makes (eSpeak NG would speak them slightly differently again).

        Raises:
            ValueError: a word's class is not among ``class_names``, or an accent or
                variant is not installed.
        """
        class_id = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(self.words) - set(class_id))
        if unknown:
            raise ValueError(f"data.tts.words names classes {unknown} that the data do not "
                             f"have; expected some of {list(class_names)}.")
        spec = {k: v for k, v in to_spec(self).items() if k != "weight"}  # same clips
        key = (json.dumps(spec, sort_keys=True), sample_rate)
        if key not in _SPOKEN:  # eSpeak NG differs slightly when it speaks a word again
            _SPOKEN[key] = [(voice, name, audio)
                            for _, voice, name, audio in self.speak(sample_rate)]
        return [Clip(audio, label=class_id[name], path=f"tts:{voice.name}:{self.words[name]}",
                     weight=self.weight)
                for voice, name, audio in _SPOKEN[key]]

    def speak(self, sample_rate: int) -> Iterator[tuple[int, Voice, str, Tensor]]:
        """``(voice number, voice, class name, (T,) audio)`` for every word in every voice,
        resampled to ``sample_rate``, trimmed and peak-normalised; voice by voice.

        Raises:
            ValueError: an accent or variant is not installed.
        """
        check_positive_int("sample_rate", sample_rate)
        engine = Espeak.get()
        installed = engine.variants()
        missing = sorted({v for v in self.variants if v.lower() not in installed})
        if installed and missing:
            raise ValueError(f"eSpeak NG at {engine.data_path} has no voice variants {missing}.")
        to_rate = (Resample(engine.sample_rate, sample_rate)
                   if engine.sample_rate != sample_rate else torch.nn.Identity())
        voices = tqdm(self.draw(), desc="synthetic voices", unit="voice", leave=False)
        for number, voice in enumerate(voices):
            for name, text in self.words.items():
                spoken = self._word_formants(voice, number, name)
                audio = self._tidy(to_rate(engine.speak(text, spoken)), spoken, text)
                yield number, voice, name, self._add_noise(audio, number, name)

    def save(self, folder: str | os.PathLike, sample_rate: int) -> list[Path]:
        """Write every clip as ``folder/<class>/<class>_espeak_<voice number>.wav``.

        The names follow FSDD's ``{label}_{speaker}_{index}`` pattern and the folders
        name the classes, so ``wavedil-evaluate`` reads the labels either way;
        ``folder/voices.json`` lists each voice number's accent, variant, pitch and rate.
        Returns the WAV paths.
        """
        folder = Path(folder)
        paths, voices = [], {}
        for number, voice, name, audio in self.speak(sample_rate):
            voices[number] = voice
            paths.append(write_audio(folder / name / f"{name}_espeak_{number}.wav", audio,
                                     sample_rate))
        listing = {"sample_rate": sample_rate, "words": self.words,
                   "voices": [{"number": n, **dataclasses.asdict(v), "name": v.name}
                              for n, v in voices.items()]}
        (folder / "voices.json").write_text(json.dumps(listing, indent=1) + "\n")
        return paths

    def _tidy(self, audio: Tensor, voice: Voice, text: str) -> Tensor:
        if self.trim_db is not None and audio.numel():
            audio = trim_silence(audio, self.trim_db, frame_length=2048, hop_length=512)
        top = float(audio.abs().max()) if audio.numel() else 0.0
        if top == 0.0:
            raise RuntimeError(f"eSpeak NG returned silence for {text!r} in voice {voice}.")
        return audio * (self.peak / top)

    def _add_noise(self, audio: Tensor, number: int, name: str) -> Tensor:
        if self.noise_snr_db is None:
            return audio
        rng = random.Random(f"{self.seed}/{number}/{name}")  # this voice's word
        noise = torch.randn(audio.shape, dtype=audio.dtype,
                            generator=torch.Generator().manual_seed(rng.getrandbits(63)))
        if rng.random() < 0.5:
            noise = brown(noise)
        noisy = add_noise(audio, noise, rng.uniform(*self.noise_snr_db))
        return noisy * (self.peak / float(noisy.abs().max()))

def _int_range(name: str, value: Sequence[int], low: int, high: int) -> tuple[int, int]:
    lo, hi = check_range(name, value, low, high)
    return int(lo), int(hi)
