"""Fixed filters for generated audio.

Shape legend: ``...`` any leading dimensions, T samples.

:func:`highpass`: a Butterworth high-pass as cascaded biquads. A sampled vocoder's
noise spreads over every band, including the lowest, where speech holds next to
nothing (FSDD's recordings: about 20 dB less below 80 Hz than around 200 Hz); on a
log scale that sub-bass rumble dominates the spectral distance of quiet frames. A
high-pass well under the lowest fundamental of speech removes it and leaves the
speech (the original through a 4th-order 70 Hz high-pass differs from itself by
about 0.7 dB of log-mel distance, most of it in the lowest band).
"""

from __future__ import annotations

import math

import torchaudio.functional as AF
from torch import Tensor

__all__ = ["butterworth_qs", "check_highpass", "highpass"]


def check_highpass(highpass_hz: float, sample_rate: int | None) -> float:
    """``highpass_hz`` as a float, or a ValueError naming what was expected: a rate in Hz
    and a cut-off between 0 and its Nyquist frequency."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"Expected the sample_rate (Hz) with highpass_hz, but found "
                         f"{sample_rate!r}.")
    if isinstance(highpass_hz, bool) or not (
            isinstance(highpass_hz, (int, float)) and 0 < highpass_hz < sample_rate / 2):
        raise ValueError(f"Expected highpass_hz between 0 and {sample_rate / 2} Hz, but "
                         f"found {highpass_hz!r}.")
    return float(highpass_hz)


def butterworth_qs(order: int) -> list[float]:
    """The quality factors of the biquads whose cascade is a Butterworth filter of
    even ``order``: ``Q_k = 1 / (2 cos((2k - 1) pi / (2 order)))``.

    Example:
        >>> [round(q, 4) for q in butterworth_qs(4)]
        [0.5412, 1.3066]
    """
    if order < 2 or order % 2:
        raise ValueError(f"Expected an even filter order >= 2, but found {order}.")
    return [1 / (2 * math.cos((2 * k - 1) * math.pi / (2 * order)))
            for k in range(1, order // 2 + 1)]


def highpass(audio: Tensor, sample_rate: int, cutoff_hz: float, order: int = 4) -> Tensor:
    """Butterworth high-pass of even ``order`` (-3 dB at ``cutoff_hz``), computed in
    float64 and returned in the input's dtype.

    Shape:
        ``(..., T) -> (..., T)``

    Example:
        >>> import torch
        >>> t = torch.arange(8000) / 8000
        >>> def gain_db(hz):  # of a steady tone, after the filter has settled
        ...     tone = torch.sin(2 * math.pi * hz * t)
        ...     out = highpass(tone, 8000, 70.0)[4000:]
        ...     return round(20 * math.log10(out.pow(2).mean().sqrt() / tone.pow(2).mean().sqrt()))
        >>> gain_db(20), gain_db(70), gain_db(200)
        (-44, -3, 0)
    """
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(f"Expected a cutoff between 0 and {sample_rate / 2} Hz (Nyquist), but "
                         f"found {cutoff_hz}.")
    y = audio.double()
    for q in butterworth_qs(order):
        y = AF.highpass_biquad(y, sample_rate, cutoff_hz, Q=q)
    return y.to(audio.dtype)
