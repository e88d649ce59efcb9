"""eSpeak NG in process: the speech synthesiser behind :mod:`wavedil.data.tts`.

:class:`Espeak` loads the library once per process (from the ``espeakng-loader``
wheel, ``pip install "wavedil[tts]"``: the library and its voice data, no download
at run time, or from a system ``libespeak-ng``) and speaks text in a :class:`Voice`:
an English accent, a voice variant, a pitch, a rate and optionally the variant's
formant frequencies scaled. eSpeak NG reads formants only from voice files, so
:class:`Espeak` starts on a private, linked copy of its voice data with one writable
variant (removed at exit).

Shape legend: T samples.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["ACCENTS", "N_FORMANTS", "VARIANTS", "Espeak", "Voice"]
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

