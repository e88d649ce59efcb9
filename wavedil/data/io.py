"""Audio file I/O: the one place that decodes and encodes audio (with soundfile).

Shape legend: C channels, T samples. Audio in memory is float32 in [-1, 1].
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from wavedil.data.functional import resample, to_mono

__all__ = ["AUDIO_EXTENSIONS", "AudioError", "load_audio", "read_audio", "write_audio"]

#: File endings that :func:`read_audio` is asked to open when scanning folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


class AudioError(ValueError):
    """A file that exists but does not hold usable audio."""


def read_audio(path: str | os.PathLike) -> tuple[Tensor, int]:
    """Decode ``path`` as it is.

    Returns:
        ``(audio (C, T) float32, sample_rate)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        AudioError: ``path`` is a folder, or the file cannot be decoded, holds no
            samples, or holds NaN/Inf.
    """
    path = Path(path)
    if path.is_dir():
        inside = any(p.suffix.lower() in AUDIO_EXTENSIONS for p in path.rglob("*"))
        what = "a folder" if inside else (
            f"a folder with no audio files ({', '.join(AUDIO_EXTENSIONS)}) in it")
        raise AudioError(f"{path} is {what}; expected an audio file.")
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).rstrip(".")
        raise AudioError(
            f"Cannot decode {path}: {reason}. Expected an audio file that libsndfile reads "
            f"(WAV, FLAC, OGG), e.g. 16-bit PCM WAV."
        ) from err
    if data.shape[0] == 0:
        raise AudioError(f"{path} holds no audio: 0 samples (expected at least 1).")
    if not np.isfinite(data).all():
        raise AudioError(f"{path} holds NaN or Inf samples; expected finite audio in [-1, 1].")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)  # (C, T)


def load_audio(path: str | os.PathLike, sample_rate: int | None = None) -> Tensor:
    """Decode ``path`` as mono audio at ``sample_rate`` (resampling if needed).

    Multi-channel files are mixed down by averaging the channels.

    Returns:
        ``(T,)`` float32.
    """
    audio, rate = read_audio(path)  # (C, T)
    mono = to_mono(audio)  # (T,)
    if sample_rate is not None and rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    return mono


def write_audio(path: str | os.PathLike, audio: Tensor, sample_rate: int) -> Path:
    """Write ``(T,)`` or ``(C, T)`` audio as 16-bit PCM WAV, atomically.

    The file appears complete or not at all: it is written beside its final name
    and renamed into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio.detach().to("cpu", torch.float32).clamp(-1.0, 1.0)
    data = data.unsqueeze(0) if data.dim() == 1 else data  # (C, T)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        sf.write(tmp, data.T.numpy(), sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
