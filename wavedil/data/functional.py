"""Pure functions on audio tensors.

Shape legend: B batch, C channels, T samples.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchaudio.transforms import Resample

__all__ = [
    "add_noise",
    "brown",
    "crop_or_pad",
    "join_clips",
    "pad_batch",
    "random_offset",
    "resample",
    "to_mono",
]


def to_mono(audio: Tensor) -> Tensor:
    """``(C, T) -> (T,)`` by averaging channels; ``(T,)`` passes through."""
    return audio.mean(dim=0) if audio.dim() == 2 else audio


def resample(audio: Tensor, orig_rate: int, new_rate: int) -> Tensor:
    """Band-limited resampling along the last axis (torchaudio's sinc filter).

    The same result as ``torchaudio.functional.resample``, bit for bit, but the
    filter kernel is built once per rate pair, dtype and device and then reused:
    speed perturbation resamples every training clip by one of a few dozen
    factors, and building the kernel cost as much as applying it.
    """
    if orig_rate == new_rate:
        return audio
    return _resampler(int(orig_rate), int(new_rate), audio.dtype, audio.device)(audio)


@functools.lru_cache(maxsize=256)
def _resampler(orig_rate: int, new_rate: int, dtype: torch.dtype,
               device: torch.device) -> Resample:
    return Resample(orig_rate, new_rate, dtype=dtype).to(device)


def random_offset(length: int, crop: int, generator: torch.Generator | None = None,
                  multiple_of: int = 1) -> int:
    """A uniformly drawn start for a ``crop`` out of ``length`` samples, a multiple of
    ``multiple_of`` (0 when the clip is not longer than the crop)."""
    room = (length - crop) // multiple_of
    if room <= 0:
        return 0
    return int(torch.randint(0, room + 1, (1,), generator=generator)) * multiple_of


def crop_or_pad(audio: Tensor, offset: int, length: int) -> Tensor:
    """``audio[..., offset:offset + length]``, right-padded with zeros to ``length``."""
    piece = audio[..., offset:offset + length]
    if piece.shape[-1] < length:
        piece = F.pad(piece, (0, length - piece.shape[-1]))
    return piece


def pad_batch(clips: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack ``(T_i,)`` clips into ``(B, max T)`` with zero padding; also ``(B,)`` lengths.

    Example:
        >>> audio, lengths = pad_batch([torch.ones(2), torch.ones(3)])
        >>> audio.tolist(), lengths.tolist()
        ([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [2, 3])
    """
    lengths = torch.tensor([c.shape[-1] for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()), dtype=clips[0].dtype)
    for i, clip in enumerate(clips):
        batch[i, : clip.shape[-1]] = clip
    return batch, lengths


def brown(noise: Tensor) -> Tensor:
    """White ``(T,)`` noise -> brown (integrated: most energy low, like hum and
    rumble), mean zero."""
    noise = torch.cumsum(noise, 0)
    return noise - noise.mean()


def add_noise(audio: Tensor, noise: Tensor, snr_db: float) -> Tensor:
    """``audio + noise``, the noise scaled to ``snr_db`` dB below the audio's mean power."""
    signal_power = audio.pow(2).mean().clamp(min=1e-10)
    noise_power = noise.pow(2).mean().clamp(min=1e-10)
    return audio + noise * torch.sqrt(signal_power / noise_power / 10 ** (snr_db / 10))


def trim_silence(audio: Tensor, top_db: float, frame_length: int = 512,
                 hop_length: int = 128) -> Tensor:
    """``audio`` ``(T,)`` without its leading and trailing silence: the frames more
    than ``top_db`` below the clip's loudest frame (``librosa.effects.trim``, as
    ibab's WaveNet loader trims its corpus). A clip that is silence throughout is
    returned as it is.

    Example:
        >>> quiet, loud = torch.zeros(1000), torch.ones(2000) * 0.5
        >>> len(trim_silence(torch.cat([quiet, loud, quiet]), top_db=30))  # to whole frames
        2560
    """
    import librosa  # the field's tool for this; imported where it is used

    if not (top_db > 0):
        raise ValueError(f"Expected trim_db > 0 (decibels below the peak), but found {top_db}.")
    _, (start, end) = librosa.effects.trim(audio.numpy(), top_db=top_db,
                                           frame_length=frame_length, hop_length=hop_length)
    return audio if end <= start else audio[start:end]


def join_clips(clips: Sequence[Tensor], sample_rate: int, pause: tuple[float, float] = (0.3, 0.7),
               noise_db: float = -60.0, generator: torch.Generator | None = None
               ) -> tuple[Tensor, list[tuple[int, int]]]:
    """One recording of ``(T_i,)`` clips read one after another: a pause of a random
    length in ``pause`` seconds before each clip and after the last, and background
    noise ``noise_db`` dB below full scale throughout (a stream for keyword spotting).

    Returns:
        the ``(T,)`` recording and each clip's ``(start, end)`` sample span in it.

    Example:
        >>> audio, spans = join_clips([torch.ones(100), torch.ones(50)], 1000, (0.1, 0.1))
        >>> audio.shape, spans
        (torch.Size([450]), [(100, 200), (300, 350)])
    """
    low, high = pause
    if not 0 <= low <= high:
        raise ValueError(f"Expected pause (low, high) seconds with 0 <= low <= high, but "
                         f"found {pause}.")
    lengths = low + (high - low) * torch.rand(len(clips) + 1, generator=generator)
    parts, spans, at = [], [], 0
    for clip, seconds in zip([*clips, None], lengths.tolist(), strict=True):
        gap = round(seconds * sample_rate)
        parts.append(torch.zeros(gap))
        at += gap
        if clip is not None:
            parts.append(clip.float())
            spans.append((at, at + clip.shape[-1]))
            at += clip.shape[-1]
    audio = torch.cat(parts)
    noise = torch.randn(audio.shape, generator=generator) * 10 ** (noise_db / 20)
    return audio + noise, spans
