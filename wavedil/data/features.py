"""Log-mel conditioning frames: one extractor for training and synthesis, and a disk cache.

Shape legend: T samples, F mel bands, N frames (``N = T // hop + 1``; frame ``i``
is centred on sample ``i * hop``).

A generator's local conditioning is described by its *mel settings*, a plain dict
of :class:`~wavedil.nn.LogMelFrontend` arguments (``n_mels``, ``hop_length``,
``n_fft``, optionally ``f_min`` and ``f_max``). They are set once, in the data
config (``data.local_features``), recorded in every checkpoint
(``DataInfo.local_features``), and read from there by every tool, so training,
``wavedil-sample``, ``wavedil-resynth`` and the evaluation all compute the same
frames with :func:`mel_extractor`.

:class:`FeatureCache` keeps each file's frames on disk, keyed by the file (its
resolved path, size and modification time), the sample rate and the settings:
editing the file or changing a setting computes them afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from wavedil.nn.frontends import LogMelFrontend

__all__ = [
    "LOG_MEL_FLOOR",
    "MEL_KEYS",
    "FeatureCache",
    "check_mel_settings",
    "mel_extractor",
    "pad_frames",
]

log = logging.getLogger(__name__)

#: Log-mel of silence (the natural log of the power floor): padding for frames.
LOG_MEL_FLOOR = math.log(1e-6)

#: The mel settings a generator's local conditioning may name.
MEL_KEYS = ("n_mels", "hop_length", "n_fft", "f_min", "f_max")

#: Bumped when the extractor's numbers change, so that old cache entries are ignored.
_EXTRACTOR_VERSION = 1


def check_mel_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` as a plain dict, checked: the three required keys present, no
    unknown key, sizes positive integers, ``n_fft >= hop_length``.

    Example:
        >>> check_mel_settings({"n_mels": 40, "hop_length": 64, "n_fft": 256})
        {'n_mels': 40, 'hop_length': 64, 'n_fft': 256}
    """
    settings = dict(settings)
    unknown = sorted(set(settings) - set(MEL_KEYS))
    if unknown:
        raise ValueError(f"Unknown mel setting(s) {unknown}; expected keys from {list(MEL_KEYS)}.")
    missing = [k for k in MEL_KEYS[:3] if k not in settings]
    if missing:
        raise ValueError(f"Expected mel settings n_mels, hop_length and n_fft, but {missing} "
                         f"missing from {settings}.")
    for key in MEL_KEYS[:3]:
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Expected mel setting {key} to be an integer >= 1, but found "
                             f"{value!r}.")
    if settings["n_fft"] < settings["hop_length"]:
        raise ValueError(f"Expected n_fft >= hop_length (frames that overlap or touch), but "
                         f"found n_fft={settings['n_fft']}, hop_length={settings['hop_length']}.")
    return settings


def mel_extractor(sample_rate: int, settings: Mapping[str, Any]) -> LogMelFrontend:
    """The log-mel front end of a generator's local conditioning: natural log of mel
    power, floored at 1e-6, not normalised per clip.

    Shape:
        ``(B, T) -> Features((B, F, T // hop + 1), None)``
    """
    return LogMelFrontend(sample_rate, normalize=False, **check_mel_settings(settings))


def pad_frames(frames: Tensor, length: int) -> Tensor:
    """``(F, N)`` frames cut or padded with silence (:data:`LOG_MEL_FLOOR`) to ``length``."""
    if frames.shape[-1] >= length:
        return frames[..., :length]
    return torch.nn.functional.pad(frames, (0, length - frames.shape[-1]), value=LOG_MEL_FLOOR)


class FeatureCache:
    """Log-mel frames of audio files, computed once and kept in ``folder``.

    Each entry is a small ``.pt`` file named by a hash of the file's resolved path
    and the settings; it records the file's size and modification time, and is
    recomputed when they no longer match (the file was edited). Entries are written
    atomically and read with ``weights_only=True``; an unreadable entry is
    recomputed, never trusted.

    Args:
        folder: where entries live (created on first write).
        sample_rate: the rate the audio is decoded at.
        settings: mel settings (see :func:`check_mel_settings`).

    Example:
        >>> import tempfile
        >>> cache = FeatureCache(tempfile.mkdtemp(), 8000, {"n_mels": 8, "hop_length": 64,
        ...                                                  "n_fft": 128})
        >>> cache.hits, cache.misses
        (0, 0)
    """

    def __init__(self, folder: str | os.PathLike, sample_rate: int,
                 settings: Mapping[str, Any]) -> None:
        self.folder = Path(folder).expanduser()
        self.sample_rate = int(sample_rate)
        self.settings = check_mel_settings(settings)
        self.extractor = mel_extractor(sample_rate, self.settings)
        self._settings_key = json.dumps(
            {"rate": self.sample_rate, "version": _EXTRACTOR_VERSION, **self.settings},
            sort_keys=True)
        self.hits = 0
        self.misses = 0

    @property
    def hop_length(self) -> int:
        """Samples per frame."""
        return int(self.settings["hop_length"])

    def frames(self, audio: Tensor, path: str | os.PathLike | None = None) -> Tensor:
        """``(T,)`` audio -> ``(F, N)`` frames, through the cache when ``path`` names the
        file the audio was decoded from (synthetic clips have no file: computed)."""
        if path and os.path.isfile(path):
            return self.get(path, audio)
        return self.compute(audio)

    def compute(self, audio: Tensor) -> Tensor:
        """``(T,)`` audio -> ``(F, N)`` frames (no caching)."""
        with torch.no_grad():
            return self.extractor(audio.unsqueeze(0)).features[0]

    def entry(self, path: str | os.PathLike) -> Path:
        """Where the frames of ``path`` are kept."""
        key = f"{Path(path).resolve()}\n{self._settings_key}"
        return self.folder / f"{hashlib.sha1(key.encode()).hexdigest()}.pt"

    def get(self, path: str | os.PathLike, audio: Tensor | Callable[[], Tensor]) -> Tensor:
        """The frames of the file ``path``, whose decoded audio is ``audio`` (or a
        function returning it, called only when the frames must be computed)."""
        stat = os.stat(path)
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = self.entry(path)
        if entry.is_file():
            try:
                saved = torch.load(entry, map_location="cpu", weights_only=True)
                if saved.get("stamp") == stamp and saved.get("settings") == self._settings_key:
                    self.hits += 1
                    return saved["frames"]
            except Exception as err:  # a torn or foreign file: recompute it
                log.warning("Ignoring unreadable feature cache entry %s (%s).", entry, err)
        frames = self.compute(audio() if callable(audio) else audio)
        self.misses += 1
        self._write(entry, {"stamp": stamp, "settings": self._settings_key, "frames": frames,
                            "path": str(path)})
        return frames

    def _write(self, entry: Path, record: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{entry.name}.", suffix=".tmp")
            os.close(fd)
            try:
                torch.save(record, tmp)
                os.replace(tmp, entry)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as err:  # a read-only or full disk costs speed, not the run
            log.warning("Cannot write the feature cache in %s (%s); going on without it.",
                        self.folder, err)
