"""How close one waveform is to another: the measures a vocoder is scored by.

Shape legend: T samples, F mel bands, N frames, D cepstral coefficients.

All take a reference and a test clip at the same rate and compare their analyses
frame by frame (a resynthesis is sample-aligned with its original by construction;
:func:`mel_cepstral_distortion` also aligns by dynamic time warping, as is usual):

* :func:`log_mel_distance`: root-mean-square difference of the log-mel power over
  the bands, in dB, averaged over frames (a known gain ``g`` gives ``20 log10 g``).
* :func:`mel_cepstral_distortion`: ``10 / ln 10 * sqrt(2 * sum_d (c_d - c'_d)^2)`` dB
  over the mel-cepstral coefficients ``c_1 .. c_13`` of the log mel amplitude
  (``c_0``, the level, left out, as is usual), averaged over the DTW path.
* :func:`pitch_track` and :func:`f0_errors`: F0 by probabilistic YIN (librosa's
  ``pyin``), its error in cents where both clips are voiced, and the voicing
  decision error (the share of frames voiced in one clip but not the other).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import librosa
import numpy as np
import torch
from torch import Tensor

from wavedil.data.features import mel_extractor

__all__ = [
    "PitchTrack",
    "f0_errors",
    "log_mel_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "pitch_track",
]

_DB_PER_NEPER = 10.0 / math.log(10.0)  # dB per unit of natural log of power


def _log_mel(audio: Tensor, sample_rate: int, settings: Mapping[str, Any]) -> Tensor:
    """``(T,) -> (F, N)`` natural log of mel power (floored at 1e-6), float64."""
    if audio.dim() != 1:
        raise ValueError(f"Expected a (T,) clip, but found shape {tuple(audio.shape)}.")
    with torch.no_grad():
        extractor = mel_extractor(sample_rate, settings).double()
        return extractor(audio.double().unsqueeze(0)).features[0]  # (F, N)


def _same_frames(ref: Tensor, test: Tensor) -> tuple[Tensor, Tensor]:
    if ref.shape[0] != test.shape[0]:
        raise ValueError(f"Expected the same bands in both, but found {ref.shape[0]} and "
                         f"{test.shape[0]}.")
    n = min(ref.shape[-1], test.shape[-1])
    return ref[..., :n], test[..., :n]


def log_mel_distance(ref: Tensor, test: Tensor, sample_rate: int,
                     settings: Mapping[str, Any]) -> float:
    """Mean over frames of the RMS (over bands) log-mel power difference, in dB.

    Example:
        >>> x = torch.randn(4000) * 0.1
        >>> mel = {"n_mels": 20, "hop_length": 64, "n_fft": 256}
        >>> round(log_mel_distance(x, 0.5 * x, 8000, mel), 3)  # 20 log10(2)
        6.021
    """
    a, b = _same_frames(_log_mel(ref, sample_rate, settings), _log_mel(test, sample_rate, settings))
    per_frame = (a - b).pow(2).mean(dim=0).sqrt() * _DB_PER_NEPER  # (N,)
    return float(per_frame.mean())


def mel_cepstrum(audio: Tensor, sample_rate: int, settings: Mapping[str, Any],
                 coefficients: int = 13) -> np.ndarray:
    """``(T,) -> (coefficients, N)``: ``c_1 ..`` of the orthonormal DCT-II of the log
    mel *amplitude* (half the log power), ``c_0`` left out."""
    log_amplitude = 0.5 * _log_mel(audio, sample_rate, settings).numpy()  # (F, N)
    if coefficients >= log_amplitude.shape[0]:
        raise ValueError(f"Expected fewer than {log_amplitude.shape[0]} coefficients (the mel "
                         f"bands), but found {coefficients}.")
    cepstrum = librosa.feature.mfcc(S=log_amplitude, n_mfcc=coefficients + 1, dct_type=2,
                                    norm="ortho")  # (D + 1, N)
    return cepstrum[1:]


def mel_cepstral_distortion(ref: Tensor, test: Tensor, sample_rate: int,
                            settings: Mapping[str, Any], coefficients: int = 13,
                            align: bool = True) -> float:
    """Mel-cepstral distortion in dB, averaged over the frames of a DTW path
    (``align=False``: frame ``i`` against frame ``i``).

    Example:
        >>> x = torch.randn(4000) * 0.1
        >>> mel = {"n_mels": 20, "hop_length": 64, "n_fft": 256}
        >>> mel_cepstral_distortion(x, x, 8000, mel)  # a gain moves c_0 only
        0.0
        >>> mel_cepstral_distortion(x, 0.5 * x, 8000, mel) < 1e-9
        True
    """
    a = mel_cepstrum(ref, sample_rate, settings, coefficients)  # (D, N)
    b = mel_cepstrum(test, sample_rate, settings, coefficients)  # (D, M)
    if align:
        _, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")  # (P, 2), end to start
        a, b = a[:, path[::-1, 0]], b[:, path[::-1, 1]]
    else:
        n = min(a.shape[1], b.shape[1])
        a, b = a[:, :n], b[:, :n]
    per_frame = _DB_PER_NEPER * np.sqrt(2.0 * ((a - b) ** 2).sum(axis=0))
    return float(per_frame.mean())


class PitchTrack(NamedTuple):
    """F0 per frame (Hz, NaN where unvoiced) and the voicing decision, ``(N,)`` each."""

    f0: np.ndarray
    voiced: np.ndarray


def pitch_track(audio: Tensor, sample_rate: int, hop_length: int, fmin: float = 60.0,
                fmax: float = 400.0) -> PitchTrack:
    """F0 by librosa's probabilistic YIN, on frames of about 64 ms every ``hop_length``.

    Example:
        >>> t = torch.arange(8000) / 8000
        >>> track = pitch_track(0.5 * torch.sin(2 * math.pi * 150 * t), 8000, 64)
        >>> round(float(np.nanmedian(track.f0)))
        150
    """
    frame_length = 1 << max(7, math.ceil(math.log2(0.064 * sample_rate)))
    f0, voiced, _ = librosa.pyin(audio.double().numpy(), fmin=fmin, fmax=fmax, sr=sample_rate,
                                 frame_length=frame_length, hop_length=hop_length)
    return PitchTrack(f0, voiced.astype(bool))


def f0_errors(ref: PitchTrack, test: PitchTrack) -> dict[str, float | None]:
    """``f0_rmse_cents`` and ``f0_rmse_hz`` over frames voiced in both (``None`` where
    there are none), and ``voicing_error``: the share of frames whose voicing differs.

    Example:
        >>> a = PitchTrack(np.array([100.0, 100.0, np.nan]), np.array([True, True, False]))
        >>> b = PitchTrack(np.array([200.0, 100.0, 100.0]), np.array([True, True, True]))
        >>> f0_errors(a, b)
        {'f0_rmse_cents': 848.528, 'f0_rmse_hz': 70.711, 'voicing_error': 0.3333}
    """
    n = min(len(ref.f0), len(test.f0))
    f_ref, f_test = ref.f0[:n], test.f0[:n]
    v_ref, v_test = ref.voiced[:n], test.voiced[:n]
    both = v_ref & v_test & np.isfinite(f_ref) & np.isfinite(f_test)
    out: dict[str, float | None] = {"f0_rmse_cents": None, "f0_rmse_hz": None}
    if both.any():
        cents = 1200.0 * np.log2(f_test[both] / f_ref[both])
        out["f0_rmse_cents"] = round(float(np.sqrt(np.mean(cents**2))), 3)
        out["f0_rmse_hz"] = round(float(np.sqrt(np.mean((f_test[both] - f_ref[both]) ** 2))), 3)
    out["voicing_error"] = round(float(np.mean(v_ref != v_test)), 4) if n else None
    return out
