"""Classifier front ends: waveform -> ``(B, C, N)`` features, computed inside the
model so that they run wherever the model runs (on the GPU when training there).

Shape legend: B batch, T samples, N frames (``N = T`` for waveform front ends,
``T // hop + 1`` for spectral ones), C feature channels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from wavedil.nn.checks import MAX_BANDS, MAX_FFT, check_positive_int
from wavedil.nn.pooling import lengths_to_mask
from wavedil.nn.specaugment import MelWarp, SpecAugment
from wavedil.spec import serializable

__all__ = [
    "Features",
    "LogMelFrontend",
    "MFCCFrontend",
    "WaveformFrontend",
    "mu_law_compress",
    "pcen",
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
    """Shared parts of the spectral front ends: framing arithmetic, compression,
    per-clip mean normalisation (cepstral mean normalisation, which removes a fixed
    channel or speaker colouring and so helps with unseen speakers), deltas, and
    the training-time augmentation modules they are handed
    (:class:`~wavedil.nn.specaugment.MelWarp` on the mel bands,
    :class:`~wavedil.nn.specaugment.SpecAugment` on the final features).

    Frames are centred, with zero (not reflect) padding at the ends: a clip padded
    with zeros inside a batch then gets exactly the frames it gets alone."""

    transform: nn.Module

    def __init__(self, *, sample_rate: int, n_fft: int, hop_length: int, normalize: bool,
                 normalize_variance: bool, deltas: int, compression: str,
                 pcen_time_constant: float, spec_augment: SpecAugment | None,
                 warp: MelWarp | None) -> None:
        super().__init__()
        self.n_fft = check_positive_int("n_fft", n_fft, maximum=MAX_FFT)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.normalize = normalize
        self.normalize_variance = normalize_variance
        if deltas not in (0, 1, 2):
            raise ValueError(f"Expected deltas in 0, 1, 2, but found {deltas}.")
        self.deltas = deltas
        if compression not in ("log", "pcen"):
            raise ValueError(f"Expected compression 'log' or 'pcen', but found {compression!r}.")
        self.compression = compression
        if not (math.isfinite(pcen_time_constant) and pcen_time_constant > 0):
            raise ValueError("Expected a positive pcen_time_constant (seconds), but found "
                             f"{pcen_time_constant}.")
        frames = pcen_time_constant * sample_rate / hop_length  # time constant in frames
        # the one-pole smoother's coefficient for that time constant (as librosa.pcen)
        self.pcen_smoothing = (math.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)
        for name, module, cls in (("spec_augment", spec_augment, SpecAugment),
                                  ("warp", warp, MelWarp)):
            if module is not None and not isinstance(module, cls):
                raise ValueError(f"Expected {name} to be a {cls.__name__} or None, but found "
                                 f"{type(module).__name__}.")
        self.spec_augment = spec_augment
        self.warp = warp

    def _compress(self, mel_power: Tensor) -> Tensor:
        """Power mel bands ``(B, M, N)`` -> compressed bands: natural log (floored
        at 1e-6), or per-channel energy normalisation."""
        if self.compression == "log":
            return torch.log(mel_power.clamp(min=1e-6))
        return pcen(mel_power.sqrt() * 2**31, self.pcen_smoothing)

    def _bands(self, audio: Tensor) -> Tensor:
        """Compressed, (in training) warped mel bands ``(B, n_mels, N)``."""
        bands = self._compress(self.transform(audio))
        return bands if self.warp is None else self.warp(bands)

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return torch.div(lengths, self.hop_length, rounding_mode="floor") + 1

    def receptive_field(self, frames: int) -> int:
        """Samples seen by ``frames`` consecutive output frames (deltas look 2 frames
        each way per order)."""
        return (frames + 4 * self.deltas - 1) * self.hop_length + self.n_fft

    @property
    def out_channels(self) -> int:
        return self.channels * (1 + self.deltas)

    #: Feature channels before deltas (set by subclasses).
    channels: int

    def _features(self, audio: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Features:
        feats = self._features(audio)  # (B, C, N)
        frames = None if lengths is None else self.frame_lengths(lengths)
        valid = (torch.ones_like(feats[:, :1]) if frames is None
                 else lengths_to_mask(frames, feats.shape[-1]).unsqueeze(1).to(feats.dtype))
        count = valid.sum(-1, keepdim=True)  # (B, 1, 1) valid frames
        if self.normalize:
            mean = (feats * valid).sum(-1, keepdim=True) / count
            feats = (feats - mean) * valid  # padded frames become exactly 0
            if self.normalize_variance:
                std = (feats.pow(2).sum(-1, keepdim=True) / count).sqrt()
                feats = feats / std.clamp(min=1e-3)
        if self.deltas:
            orders = [feats]
            for _ in range(self.deltas):
                orders.append(_delta(orders[-1]) * valid)
            feats = torch.cat(orders, dim=1)  # (B, C * (1 + deltas), N)
        if self.spec_augment is not None:
            feats = self.spec_augment(feats, frames)
        return Features(feats, frames)


def pcen(energy: Tensor, smoothing: float, gain: float = 0.98, bias: float = 2.0,
         power: float = 0.5, eps: float = 1e-6) -> Tensor:
    """Per-channel energy normalisation (Wang et al., 2017) of ``(..., N)`` band
    energies over their last (frame) axis.

    ``M[t] = (1 - s) M[t - 1] + s E[t]`` (started at ``M[-1] = E[0]``, the level the
    smoother would hold had the clip's first frame lasted forever), and
    ``PCEN[t] = (E[t] / (eps + M[t])^gain + bias)^power - bias^power``: each band
    is divided by its own recent level (automatic gain control, which takes out a
    speaker's or microphone's loudness per band) and then root-compressed. The
    smoother only looks back, so frames after a clip's end never change it.

    Example:
        >>> steady = torch.full((1, 2, 50), 1e3)
        >>> out = pcen(steady, smoothing=0.1)
        >>> bool(torch.allclose(out, out[..., :1]))   # a steady level gives a steady output
        True
    """
    if not 0.0 < smoothing <= 1.0:
        raise ValueError(f"Expected smoothing in (0, 1], but found {smoothing}.")
    shape = energy.shape
    flat = energy.reshape(-1, shape[-1])  # (rows, N)
    a = torch.tensor([1.0, smoothing - 1.0], dtype=flat.dtype, device=flat.device)
    b = torch.tensor([smoothing, 0.0], dtype=flat.dtype, device=flat.device)
    start = flat[:, :1]
    # linear filter with unit gain at DC: a start at E[0] adds (1 - s)^(t + 1) E[0]
    decay = (1.0 - smoothing) ** torch.arange(1, shape[-1] + 1, dtype=flat.dtype,
                                               device=flat.device)
    level = torchaudio.functional.lfilter(flat, a, b, clamp=False) + decay * start
    level = level.reshape(shape)
    return (energy / (eps + level).pow(gain) + bias).pow(power) - bias**power


def _delta(feats: Tensor, width: int = 2) -> Tensor:
    """Regression deltas over +-``width`` frames, zero beyond the ends (so that a
    zero-padded clip in a batch gets the deltas it gets alone).

    ``d[t] = sum_n n (c[t + n] - c[t - n]) / (2 sum_n n^2)``, ``n = 1 .. width``.
    """
    n = torch.arange(-width, width + 1, dtype=feats.dtype, device=feats.device)
    kernel = n / (n**2).sum()  # conv1d correlates: tap n reads c[t + n]; sum over +-n = 2 sum n^2
    channels = feats.shape[1]
    weight = kernel.view(1, 1, -1).expand(channels, 1, -1)  # depthwise
    return F.conv1d(feats, weight, padding=width, groups=channels)


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
        normalize_variance: also scale each channel to unit variance per clip.
        deltas: append first (1) or first and second (2) time derivatives.
        compression: ``"log"`` (natural log of mel power) or ``"pcen"`` (per-channel
            energy normalisation, see :func:`pcen`, of the root mel power).
        pcen_time_constant: seconds over which PCEN's smoother averages.
        spec_augment: :class:`~wavedil.nn.SpecAugment` masks applied to the final
            features in training, or ``None``.
        warp: :class:`~wavedil.nn.MelWarp` stretch of the mel bands in training
            (before any DCT), or ``None``.

    Shape:
        ``(B, T) -> Features((B, n_mels * (1 + deltas), T // hop_length + 1), lengths)``

    Example:
        >>> mel = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=40)
        >>> mel(torch.zeros(2, 640)).features.shape
        torch.Size([2, 40, 11])
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        n_fft: int = 256,
        hop_length: int = 64,
        n_mels: int = 40,
        f_min: float = 0.0,
        f_max: float | None = None,
        normalize: bool = True,
        normalize_variance: bool = False,
        deltas: int = 0,
        compression: str = "log",
        pcen_time_constant: float = 0.4,
        spec_augment: SpecAugment | None = None,
        warp: MelWarp | None = None,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                         normalize=normalize, normalize_variance=normalize_variance,
                         deltas=deltas, compression=compression,
                         pcen_time_constant=pcen_time_constant, spec_augment=spec_augment,
                         warp=warp)
        self.n_mels = self.channels = check_positive_int("n_mels", n_mels, maximum=MAX_BANDS)
        with torch.device("cpu"):  # tables computed from the settings, even under meta
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                n_mels=n_mels, f_min=f_min, f_max=f_max, power=2.0, pad_mode="constant",
            )

    def _features(self, audio: Tensor) -> Tensor:
        return self._bands(audio)  # (B, n_mels, N)


@serializable
class MFCCFrontend(_SpectralFrontend):
    """Mel-frequency cepstral coefficients: the orthonormal DCT-II of the
    compressed mel bands.

    Args:
        sample_rate: audio rate in Hz.
        n_mfcc: coefficients kept (output channels).
        n_fft: FFT size.
        hop_length: samples between frames.
        n_mels: mel bands before the DCT.
        normalize: subtract each clip's mean per coefficient.
        normalize_variance: also scale each channel to unit variance per clip.
        deltas: append first (1) or first and second (2) time derivatives.
        compression: ``"log"`` (natural log of mel power) or ``"pcen"`` (per-channel
            energy normalisation, see :func:`pcen`, of the root mel power).
        pcen_time_constant: seconds over which PCEN's smoother averages.
        spec_augment: :class:`~wavedil.nn.SpecAugment` masks applied to the final
            features in training, or ``None``.
        warp: :class:`~wavedil.nn.MelWarp` stretch of the mel bands in training
            (before any DCT), or ``None``.

    Shape:
        ``(B, T) -> Features((B, n_mfcc * (1 + deltas), T // hop_length + 1), lengths)``
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        n_mfcc: int = 20,
        n_fft: int = 256,
        hop_length: int = 64,
        n_mels: int = 40,
        normalize: bool = True,
        normalize_variance: bool = False,
        deltas: int = 0,
        compression: str = "log",
        pcen_time_constant: float = 0.4,
        spec_augment: SpecAugment | None = None,
        warp: MelWarp | None = None,
    ) -> None:
        super().__init__(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                         normalize=normalize, normalize_variance=normalize_variance,
                         deltas=deltas, compression=compression,
                         pcen_time_constant=pcen_time_constant, spec_augment=spec_augment,
                         warp=warp)
        self.n_mfcc = self.channels = check_positive_int("n_mfcc", n_mfcc)
        if n_mfcc > n_mels:
            raise ValueError(f"Expected n_mfcc <= n_mels ({n_mels}), but found {n_mfcc}.")
        check_positive_int("n_mels", n_mels, maximum=MAX_BANDS)
        with torch.device("cpu"):  # tables computed from the settings, even under meta
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                power=2.0, pad_mode="constant",
            )
            # DCT-II over the mel bands (orthonormal), as torchaudio's MFCC
            dct = torchaudio.functional.create_dct(n_mfcc, n_mels, "ortho")
        self.register_buffer("dct", dct, persistent=False)

    def _features(self, audio: Tensor) -> Tensor:
        bands = self._bands(audio)  # (B, n_mels, N), warped before the DCT
        return torch.einsum("bmn,mc->bcn", bands, self.dct)  # (B, n_mfcc, N)
