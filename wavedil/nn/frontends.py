"""Classifier front ends: waveform -> ``(B, C, N)`` features, computed inside the
model so that they run wherever the model runs (on the GPU when training there).

Shape legend: B batch, T samples, N frames (``N = T`` for waveform front ends,
``T // hop + 1`` for spectral ones), C feature channels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torchaudio
from torch import Tensor, nn

from wavedil.nn.checks import check_positive_int
from wavedil.nn.pooling import lengths_to_mask
from wavedil.spec import serializable

__all__ = [
    "Features",
    "LogMelFrontend",
    "MFCCFrontend",
    "WaveformFrontend",
    "mu_law_compress",
]


class Features(NamedTuple):
    """Front-end output.

    Attributes:
        features: ``(B, C, N)``.
        lengths: valid frames per item ``(B,)``, or ``None`` when all are valid.
    """

    features: Tensor
    lengths: Tensor | None


def mu_law_compress(x: Tensor, quantization_channels: int = 256) -> Tensor:
    """Continuous mu-law companding of ``x`` in [-1, 1] (no quantisation).

    Example:
        >>> mu_law_compress(torch.tensor([-1.0, 0.0, 1.0])).tolist()
        [-1.0, 0.0, 1.0]
    """
    mu = quantization_channels - 1
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


@serializable
class WaveformFrontend(nn.Module):
    """Raw waveform as one channel, optionally mu-law companded.

    Args:
        mu_law: compand with mu-law (louder detail in quiet passages).
        quantization_channels: mu + 1 of the companding law.

    Shape:
        ``(B, T) -> Features((B, 1, T), lengths)``
    """

    hop_length = 1

    def __init__(self, mu_law: bool = True, quantization_channels: int = 256) -> None:
        super().__init__()
        self.mu_law = mu_law
        self.quantization_channels = check_positive_int(
            "quantization_channels", quantization_channels, minimum=2
        )

    @property
    def out_channels(self) -> int:
        return 1

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return lengths

    def receptive_field(self, frames: int) -> int:
        """Samples seen by ``frames`` consecutive output frames."""
        return frames

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Features:
        x = mu_law_compress(audio, self.quantization_channels) if self.mu_law else audio
        return Features(x.unsqueeze(1), lengths)  # (B, 1, T)


class _SpectralFrontend(nn.Module):
    """Shared parts of the spectral front ends: framing arithmetic and per-clip
    mean normalisation (cepstral mean normalisation), which removes a fixed
    channel or speaker colouring and so helps with unseen speakers.

    Frames are centred, with zero (not reflect) padding at the ends: a clip padded
    with zeros inside a batch then gets exactly the frames it gets alone."""

    transform: nn.Module

    def __init__(self, n_fft: int, hop_length: int, normalize: bool) -> None:
        super().__init__()
        self.n_fft = check_positive_int("n_fft", n_fft)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.normalize = normalize

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return torch.div(lengths, self.hop_length, rounding_mode="floor") + 1

    def receptive_field(self, frames: int) -> int:
        """Samples seen by ``frames`` consecutive output frames."""
        return (frames - 1) * self.hop_length + self.n_fft

    def _features(self, audio: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Features:
        feats = self._features(audio)  # (B, C, N)
        frames = None if lengths is None else self.frame_lengths(lengths)
        if self.normalize:
            if frames is None:
                feats = feats - feats.mean(dim=-1, keepdim=True)
            else:
                valid = lengths_to_mask(frames, feats.shape[-1]).unsqueeze(1)  # (B, 1, N)
                mean = (feats * valid).sum(-1, keepdim=True) / valid.sum(-1, keepdim=True)
                feats = (feats - mean) * valid  # padded frames become exactly 0
        return Features(feats, frames)


@serializable
class LogMelFrontend(_SpectralFrontend):
    """Log-mel spectrogram (natural log of power, floored at 1e-6).

    Args:
        sample_rate: audio rate in Hz.
        n_fft: FFT size (and window length).
        hop_length: samples between frames.
        n_mels: mel bands (output channels).
        f_min: lowest band edge in Hz.
        f_max: highest band edge in Hz, ``None`` for Nyquist.
        normalize: subtract each clip's mean per band.

    Shape:
        ``(B, T) -> Features((B, n_mels, T // hop_length + 1), lengths)``

    Example:
        >>> mel = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=40)
        >>> mel(torch.zeros(2, 640)).features.shape
        torch.Size([2, 40, 11])
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        n_fft: int = 256,
        hop_length: int = 64,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(n_fft, hop_length, normalize)
        self.n_mels = check_positive_int("n_mels", n_mels)
        self.transform = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
            n_mels=n_mels, f_min=f_min, f_max=f_max, power=2.0, pad_mode="constant",
        )

    @property
    def out_channels(self) -> int:
        return self.n_mels

    def _features(self, audio: Tensor) -> Tensor:
        return torch.log(self.transform(audio).clamp(min=1e-6))  # (B, n_mels, N)


@serializable
class MFCCFrontend(_SpectralFrontend):
    """Mel-frequency cepstral coefficients.

    Args:
        sample_rate: audio rate in Hz.
        n_mfcc: coefficients kept (output channels).
        n_fft: FFT size.
        hop_length: samples between frames.
        n_mels: mel bands before the DCT.
        normalize: subtract each clip's mean per coefficient.

    Shape:
        ``(B, T) -> Features((B, n_mfcc, T // hop_length + 1), lengths)``
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        n_mfcc: int = 20,
        n_fft: int = 256,
        hop_length: int = 64,
        n_mels: int = 40,
        normalize: bool = True,
    ) -> None:
        super().__init__(n_fft, hop_length, normalize)
        self.n_mfcc = check_positive_int("n_mfcc", n_mfcc)
        if n_mfcc > n_mels:
            raise ValueError(f"Expected n_mfcc <= n_mels ({n_mels}), but found {n_mfcc}.")
        self.transform = torchaudio.transforms.MFCC(
            sample_rate=sample_rate, n_mfcc=n_mfcc, log_mels=True,
            melkwargs={"n_fft": n_fft, "hop_length": hop_length, "n_mels": n_mels,
                       "pad_mode": "constant"},
        )

    @property
    def out_channels(self) -> int:
        return self.n_mfcc

    def _features(self, audio: Tensor) -> Tensor:
        return self.transform(audio)  # (B, n_mfcc, N)
