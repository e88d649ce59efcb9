"""How close one waveform is to another: the measures a vocoder is scored by.

Shape legend: T samples, F mel bands, N frames, D cepstral coefficients.

All take a reference and a test clip at the same rate and compare their analyses
frame by frame, frame ``i`` against frame ``i``: a resynthesis is sample-aligned
with its original by construction, so no time warping is needed (dynamic time
warping would pair each frame with its closest match and flatter a resynthesis
that drifts; :func:`mel_cepstral_distortion` offers it for unaligned pairs). The
analysis settings are the caller's; :func:`analysis_settings` gives fixed ones per
rate, so that vocoders with different frames are scored alike.

* :func:`log_mel_distance`: root-mean-square difference of the log-mel power over
  the bands, in dB, averaged over frames (a known gain ``g`` gives ``20 log10 g``).
* :func:`mel_cepstral_distortion` (Kubichek, 1993, on the scale SPTK and vocoder
  papers use): ``10 / ln 10 * sqrt(2 * sum_{d=1..13} (c_d - c'_d)^2)`` dB, averaged
  over frames, where ``c_d`` are the cepstral coefficients of the log mel amplitude
  in the convention ``log|X(w)| = c_0 + 2 sum_d c_d cos(d w)`` over the mel-warped
  frequency axis (:func:`cepstrum_from_log_mel`; ``c_0``, the level, left out).
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
    "analysis_settings",
    "cepstrum_from_log_mel",
    "f0_errors",
    "log_mel_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "pitch_track",
]

_DB_PER_NEPER = 10.0 / math.log(10.0)  # dB per unit of natural log of power


def analysis_settings(sample_rate: int) -> dict[str, int]:
    """Fixed mel settings for scoring audio at ``sample_rate``, whatever a vocoder's own
    frames: 32-ms windows (a power of two), a quarter-window hop, 40 bands up to
    8 kHz and 80 above.

    Example:
        >>> analysis_settings(8000), analysis_settings(22050)["n_fft"]
        ({'n_mels': 40, 'n_fft': 256, 'hop_length': 64}, 512)
    """
    n_fft = 1 << max(6, round(math.log2(0.032 * sample_rate)))
    return {"n_mels": 40 if sample_rate <= 16000 else 80, "n_fft": n_fft,
            "hop_length": n_fft // 4}


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


def cepstrum_from_log_mel(log_amplitude: np.ndarray, coefficients: int = 13) -> np.ndarray:
    """The cepstral coefficients ``c_1 .. c_D`` of a log amplitude sampled at ``F`` bands
    evenly spaced on the (mel-warped) frequency axis, ``w_f = pi (f + 1/2) / F``, in
    the convention ``log|X(w)| = c_0 + 2 sum_{d>=1} c_d cos(d w)``:
    ``c_d = (1 / F) sum_f log|X|_f cos(d w_f)`` (exact on the grid for ``d < F``; the
    orthonormal DCT-II's coefficients are ``sqrt(2F)`` times these).

    Shape:
        ``(F, N) -> (D, N)``

    Example:
        >>> w = np.pi * (np.arange(40) + 0.5) / 40
        >>> log_x = 0.3 + 2 * (0.5 * np.cos(w) - 0.25 * np.cos(3 * w))
        >>> np.round(cepstrum_from_log_mel(log_x[:, None], 4)[:, 0], 6).tolist()
        [0.5, 0.0, -0.25, 0.0]
    """
    bands = log_amplitude.shape[0]
    if coefficients >= bands:
        raise ValueError(f"Expected fewer than {bands} coefficients (the mel bands), but found "
                         f"{coefficients}.")
    w = np.pi * (np.arange(bands) + 0.5) / bands  # (F,)
    basis = np.cos(np.outer(np.arange(1, coefficients + 1), w))  # (D, F)
    return basis @ log_amplitude / bands  # (D, N)


def mel_cepstrum(audio: Tensor, sample_rate: int, settings: Mapping[str, Any],
                 coefficients: int = 13) -> np.ndarray:
    """``(T,) -> (coefficients, N)``: :func:`cepstrum_from_log_mel` of the log mel
    *amplitude* (half the natural log of the mel power) of each frame."""
    log_amplitude = 0.5 * _log_mel(audio, sample_rate, settings).numpy()  # (F, N)
    return cepstrum_from_log_mel(log_amplitude, coefficients)


def mel_cepstral_distortion(ref: Tensor, test: Tensor, sample_rate: int,
                            settings: Mapping[str, Any], coefficients: int = 13,
                            align: bool = False) -> float:
    """Mel-cepstral distortion in dB, frame ``i`` against frame ``i`` (``align=True``:
    averaged over a dynamic-time-warping path instead, for clips that are not
    sample-aligned).

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
