"""Synthetic voices: words spoken by a speech synthesiser, as extra training clips.

A speaker-independent classifier trained on a handful of speakers meets a new
voice whose vowels none of them span. Speech synthesisers offer many more
voices for free: :class:`SyntheticVoices` speaks each class's word in ``voices``
eSpeak NG voices (an English accent, a voice variant, a pitch and a speaking
rate drawn per voice; optionally the variant's formant frequencies scaled, which
eSpeak NG only reads from voice files, so :class:`Espeak` starts on a private,
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

import atexit
import ctypes
import ctypes.util
import dataclasses
import json
import math
import os
import random
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch
from torch import Tensor
from torchaudio.transforms import Resample
from tqdm.auto import tqdm

from wavedil.data.functional import add_noise, brown
from wavedil.data.io import write_audio
from wavedil.data.sources import Clip
from wavedil.nn.checks import check_positive_int, check_range
from wavedil.spec import serializable, to_spec

__all__ = ["ACCENTS", "N_FORMANTS", "VARIANTS", "Espeak", "SyntheticVoices", "Voice"]

#: eSpeak NG's English accents (language names).
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
           "en-gb-x-gbclan", "en-gb-x-gbcwmd")

#: eSpeak NG voice variants that sound like people (its robots, whispers, croaks
#: and effects are left out).
VARIANTS = (
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Diogo", "Gene", "Gene2",
    "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen",
    "Storm", "adam", "anika", "antonio", "aunty", "belinda", "benjamin", "boris",
    "caleb", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5",
    "grandma", "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1", "m2",
    "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel", "miguel", "norbert",
    "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph",
    "steph2", "steph3", "travis", "victor", "zac",
)

_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesis returns when the callback has had it all
_POS_CHARACTER = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


#: The formants eSpeak NG's voice files describe (0 is a low glottal resonance).
N_FORMANTS = 9


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: ``accent+variant`` at a pitch (0-99) and a rate (words/min).

    ``formants``, if given, scales the variant's formant frequencies: one factor per
    eSpeak formant 0-8 (1 keeps it), i.e. a longer or shorter vocal tract and a
    different vowel space than any installed variant has.
    """

    accent: str
    variant: str
    pitch: int
    rate: int
    formants: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        name = f"{self.accent}+{self.variant}/p{self.pitch}/r{self.rate}"
        if self.formants:
            name += "/f" + ",".join(f"{f:.3f}" for f in self.formants[1:4])
        return name


class Espeak:
    """The eSpeak NG library, loaded once per process (it keeps global state).

    Use :meth:`get`; synthesis is serialised by a lock.
    """

    _instance: Espeak | None = None
    _lock = threading.Lock()

    #: the variant file that voices with their own formants are written to
    SLOT = "wavedil-formants"

    def __init__(self) -> None:
        lib, data = _find_espeak()
        self._lib = lib
        lib.espeak_Info.restype = ctypes.c_char_p
        if data is None and hasattr(lib, "espeak_ng_InitializePath"):
            lib.espeak_ng_InitializePath(None)  # the system's voice data: where is it?
            data = self._info_path()
        #: the library's own voice data (the variants are read from here)
        self.data_path = Path(data.decode()) if data else None
        self._overlay = _overlay(self.data_path) if self.data_path else None
        start = str(self._overlay).encode() if self._overlay else data
        self.sample_rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, start, 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG could not start (voice data {start!r}).")
        if self.data_path is None:
            info = self._info_path()
            self.data_path = Path(info.decode()) if info else None
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive as long as the library
        lib.espeak_SetSynthCallback(self._callback)
        # eSpeak NG seeds its noise generator from the clock; older libraries lack the setter.
        self._set_seed = getattr(lib, "espeak_ng_SetRandSeed", None)

    def _info_path(self) -> bytes | None:
        path = ctypes.c_char_p()
        self._lib.espeak_Info(ctypes.byref(path))
        return path.value

    @classmethod
    def get(cls) -> Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def variants(self) -> set[str]:
        """The voice variants installed with this library's voice data (lower case)."""
        folder = self.data_path / "voices" / "!v" if self.data_path else None
        return {p.name.lower() for p in folder.iterdir()} if folder and folder.is_dir() else set()

    def _collect(self, wav: ctypes.Array, n: int, events: int) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        return 0  # 0: go on

    def speak(self, text: str, voice: Voice) -> Tensor:
        """``text`` in ``voice``: ``(T,)`` float32 at :attr:`sample_rate`."""
        with self._lock:
            lib = self._lib
            if self._set_seed is not None:  # breathy voices draw noise from it
                self._set_seed(0)
            variant = self._write_formants(voice) if voice.formants else voice.variant
            if lib.espeak_SetVoiceByName(f"{voice.accent}+{variant}".encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice {voice.accent!r}; expected a "
                                 f"language it knows, such as the English {list(ACCENTS)}.")
            lib.espeak_SetParameter(_RATE, voice.rate, 0)
            lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
            self._chunks = []
            data = text.encode() + b"\0"
            lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, 0, None, None)
            lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return torch.zeros(0)
        return torch.from_numpy(np.concatenate(chunks).astype(np.float32) / 32768.0)

    def _write_formants(self, voice: Voice) -> str:
        """Write ``voice``'s variant with its formants scaled to the slot; its name."""
        if self._overlay is None or self.data_path is None:
            raise RuntimeError("Voices with their own formants need eSpeak NG's voice data "
                               "folder, which this library did not report; install "
                               "'wavedil[tts]' (espeakng-loader) or leave formants unset.")
        if len(voice.formants) != N_FORMANTS:
            raise ValueError(f"Expected {N_FORMANTS} formant factors, got {voice.formants}.")
        source = self.data_path / "voices" / "!v" / voice.variant
        if not source.is_file():
            raise ValueError(f"eSpeak NG at {self.data_path} has no voice variant "
                             f"{voice.variant!r}.")
        text = _scale_formants(source.read_text(errors="replace"), voice.formants, self.SLOT)
        (self._overlay / "voices" / "!v" / self.SLOT).write_text(text)
        return self.SLOT  # eSpeak NG reads a variant's file each time it is selected


def _scale_formants(variant: str, factors: Sequence[float], name: str) -> str:
    """eSpeak NG variant text with formant ``k``'s frequency times ``factors[k]``.

    A formant the variant leaves out is the default (100% frequency, height, width).
    """
    formants = {k: ["100", "100", "100"] for k in range(N_FORMANTS)}
    lines = [f"name {name}"]
    for line in variant.splitlines():
        found = re.match(r"\s*formant\s+(\d+)\s+(.*)", line)
        if found and int(found.group(1)) < N_FORMANTS:
            formants[int(found.group(1))] = found.group(2).split()
        elif not re.match(r"\s*name\s", line):
            lines.append(line)
    for k, (frequency, *rest) in formants.items():
        scaled = max(1, round(float(frequency) * factors[k]))
        lines.append(" ".join(["formant", str(k), str(scaled), *rest]))
    return "\n".join(lines) + "\n"


def _overlay(data: Path) -> Path | None:
    """A private copy of eSpeak NG's voice data folder, made of links, with a writable
    variants folder (``voices/!v``) for voices with their own formants; removed at exit.
    ``None`` where links cannot be made."""
    root = Path(tempfile.mkdtemp(prefix="wavedil-espeak-"))
    try:
        for source, target in ((data, root), (data / "voices", root / "voices"),
                               (data / "voices" / "!v", root / "voices" / "!v")):
            target.mkdir(exist_ok=True)
            for entry in source.iterdir():
                if not (target / entry.name).exists() and entry.name not in ("voices", "!v"):
                    os.symlink(entry, target / entry.name)
    except OSError:
        shutil.rmtree(root, ignore_errors=True)
        return None
    atexit.register(shutil.rmtree, root, True)
    return root


def _find_espeak() -> tuple[ctypes.CDLL, bytes | None]:
    """The library and its voice-data folder: the ``espeakng-loader`` wheel, else the system's."""
    try:
        import espeakng_loader
    except ImportError:
        name = ctypes.util.find_library("espeak-ng")
        if name is None:
            raise ImportError(
                "Synthetic voices need eSpeak NG: pip install 'wavedil[tts]' (the "
                "espeakng-loader wheel) or install the espeak-ng system package; or "
                "train without them: data.tts=null."
            ) from None
        return ctypes.CDLL(name), None
    return (ctypes.CDLL(espeakng_loader.get_library_path()),
            espeakng_loader.get_data_path().encode())


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
            trimmed, _ = librosa.effects.trim(audio.numpy(), top_db=self.trim_db)
            audio = torch.from_numpy(trimmed)
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
