"""Linear prediction: the all-pole spectral envelope of speech, from mel frames.

Shape legend: ``...`` any leading dimensions (batch, frames), K FFT bins
(``n_fft // 2 + 1``), F mel bands, p the prediction order.

A linear predictor of order ``p`` estimates each sample from the ``p`` before it,

    ``s_hat[t] = -sum_{k=1..p} a_k s[t-k]``,   the prediction-error filter
    ``A(z) = 1 + sum_k a_k z^{-k}``,

and ``1 / |A(e^{jw})|^2`` is the spectral envelope (the formants). The coefficients
minimising the mean squared error solve the Toeplitz normal equations of the
autocorrelation ``r[0..p]``, which the Levinson-Durbin recursion solves in
``O(p^2)``, producing along the way the reflection coefficients ``k_m``; the filter
``1 / A(z)`` is stable exactly when every ``|k_m| < 1``.

Here the autocorrelation comes from a power spectrum (Wiener-Khinchin:
``r[n] = (1/K') sum_w P(w) cos(w n)``), and the power spectrum from log-mel frames
(:func:`mel_to_linear_power`), so that a vocoder needs nothing but its frames:
the same frames give the same coefficients at training and at synthesis.

Every function is batched over leading dimensions and works in the input's dtype
(float64 recommended: the recursion divides by shrinking prediction errors).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "LPC",
    "MEL_INVERSIONS",
    "autocorrelation_from_power",
    "emphasis_response",
    "lag_window",
    "levinson_durbin",
    "lpc_spectrum",
    "mel_to_linear_power",
    "prediction_gain_db",
]

#: How :func:`mel_to_linear_power` undoes the mel filterbank.
MEL_INVERSIONS = ("interpolate", "pinv")

#: Reflection coefficients are kept within this bound: a stable filter, always.
MAX_REFLECTION = 0.9999


class LPC(NamedTuple):
    """What :func:`levinson_durbin` returns.

    Attributes:
        a: ``(..., p)`` coefficients ``a_1 .. a_p`` of ``A(z) = 1 + sum_k a_k z^{-k}``.
        reflection: ``(..., p)`` reflection coefficients, each in ``(-1, 1)``.
        error: ``(...)`` prediction error power (``r[0] prod_m (1 - k_m^2)``).
    """

    a: Tensor
    reflection: Tensor
    error: Tensor


def levinson_durbin(r: Tensor, order: int | None = None) -> LPC:
    """Solve the normal equations of autocorrelation ``r`` for the order-``p`` predictor.

    The recursion, for ``m = 1 .. p`` with ``E_0 = r[0]``::

        k_m = -(r[m] + sum_{j<m} a_j r[m-j]) / E_{m-1}
        a_j <- a_j + k_m a_{m-j} (j < m),   a_m = k_m,   E_m = E_{m-1} (1 - k_m^2)

    Each ``k_m`` is clamped to ``[-0.9999, 0.9999]``, so the filter is stable even
    for a singular or not quite positive-definite ``r`` (a pure tone, rounding); a
    zero ``r`` (silence) gives ``A(z) = 1``.

    Args:
        r: ``(..., >= p + 1)`` autocorrelation, lags 0 .. p.
        order: ``p`` (default: ``r.shape[-1] - 1``).

    Shape:
        ``(..., p + 1) -> LPC((..., p), (..., p), (...))``

    Example:
        >>> r = 0.9 ** torch.arange(4, dtype=torch.float64)  # AR(1): s[t] = 0.9 s[t-1] + w
        >>> [round(float(a), 6) + 0.0 for a in levinson_durbin(r, 2).a]  # one tap enough
        [-0.9, 0.0]
    """
    p = r.shape[-1] - 1 if order is None else order
    if isinstance(p, bool) or not isinstance(p, int) or p < 1 or p > r.shape[-1] - 1:
        raise ValueError(f"Expected an order in [1, {r.shape[-1] - 1}] (the lags given), but "
                         f"found {order!r}.")
    a = torch.zeros(*r.shape[:-1], p, dtype=r.dtype, device=r.device)
    reflection = torch.zeros_like(a)
    error = r[..., 0].clone()
    for m in range(p):
        acc = r[..., m + 1] + (a[..., :m] * r[..., 1:m + 1].flip(-1)).sum(-1)
        live = error > 0
        k = torch.where(live, -acc / torch.where(live, error, torch.ones_like(error)),
                        torch.zeros_like(acc)).clamp(-MAX_REFLECTION, MAX_REFLECTION)
        previous = a[..., :m].clone()
        a[..., :m] = previous + k[..., None] * previous.flip(-1)
        a[..., m] = k
        reflection[..., m] = k
        error = error * (1 - k * k)
    return LPC(a, reflection, error)


def autocorrelation_from_power(power: Tensor, lags: int) -> Tensor:
    """Autocorrelation lags ``0 .. lags`` of a one-sided power spectrum over ``K`` bins
    from 0 to Nyquist (``n_fft = 2 (K - 1)``): the inverse real DFT, ``r[n] = (1/n_fft)
    (P_0 + (-1)^n P_{K-1} + 2 sum_{0<k<K-1} P_k cos(pi k n / (K - 1)))``.

    Shape:
        ``(..., K) -> (..., lags + 1)``

    Example:
        >>> white = torch.ones(129, dtype=torch.float64)
        >>> autocorrelation_from_power(white, 2)
        tensor([1., 0., 0.], dtype=torch.float64)
    """
    n_fft = 2 * (power.shape[-1] - 1)
    if lags >= n_fft:
        raise ValueError(f"Expected fewer lags than the FFT size {n_fft}, but found {lags}.")
    return torch.fft.irfft(power, n=n_fft, dim=-1)[..., :lags + 1]


def lag_window(lags: int, sample_rate: float, bandwidth_hz: float = 40.0,
               white_noise: float = 1e-4, dtype: torch.dtype = torch.float64) -> Tensor:
    """Multipliers for autocorrelation lags ``0 .. lags``: a Gaussian lag window,
    ``w[n] = exp(-(2 pi b n / fs)^2 / 2)``, which widens every resonance by about
    ``b`` Hz (no needle-sharp formants from one frame's harmonics), and
    white-noise correction, ``w[0] = 1 + white_noise`` (a floor 40 dB under the
    signal for 1e-4, so the normal equations stay well conditioned).

    Shape:
        ``() -> (lags + 1,)``

    Example:
        >>> lag_window(2, 8000, bandwidth_hz=0.0, white_noise=0.0)
        tensor([1., 1., 1.], dtype=torch.float64)
    """
    n = torch.arange(lags + 1, dtype=dtype)
    window = torch.exp(-0.5 * (2 * math.pi * bandwidth_hz * n / sample_rate) ** 2)
    window[0] = 1.0 + white_noise
    return window


def mel_to_linear_power(mel_power: Tensor, filterbank: Tensor,
                        method: str = "interpolate") -> Tensor:
    """Mel-band power back to a power spectrum over the FFT bins.

    * ``"interpolate"``: each band's power density (its power over its filter's
      area) placed at the band's centre bin and interpolated linearly between
      centres (held beyond the outermost): a smooth envelope, never negative.
    * ``"pinv"``: the minimum-norm least-squares inverse of the filterbank, negative
      values set to zero (what a least-squares Griffin-Lim inverse starts from).

    Args:
        mel_power: ``(..., F)`` mel power (not its log).
        filterbank: ``(K, F)`` triangular filters, as torchaudio's ``melscale_fbanks``.
        method: one of :data:`MEL_INVERSIONS`.

    Shape:
        ``(..., F), (K, F) -> (..., K)``
    """
    fb = filterbank.to(mel_power)
    if method == "pinv":
        return (mel_power @ torch.linalg.pinv(fb)).clamp(min=0)  # (..., K)
    if method != "interpolate":
        raise ValueError(f"Expected a mel inversion in {list(MEL_INVERSIONS)}, but found "
                         f"{method!r}.")
    area = fb.sum(0)  # (F,)
    used = area > 0  # a band narrower than one bin may catch none of them
    bins = torch.arange(fb.shape[0], dtype=fb.dtype, device=fb.device)
    centres = (fb[:, used] * bins[:, None]).sum(0) / area[used]  # (F',) centre of mass
    density = mel_power[..., used] / area[used]  # (..., F')
    # linear interpolation between centres, held flat beyond the outermost
    right = torch.searchsorted(centres, bins).clamp(1, len(centres) - 1)  # (K,)
    left = right - 1
    span = centres[right] - centres[left]  # 0 where two narrow bands share a centre
    w = torch.where(span > 0, (bins - centres[left]) / span.clamp(min=1e-12),
                    torch.zeros_like(span)).clamp(0, 1)  # (K,)
    return density[..., left] * (1 - w) + density[..., right] * w  # (..., K)


def emphasis_response(bins: int, coefficient: float, dtype: torch.dtype = torch.float64
                      ) -> Tensor:
    """``|1 - a e^{-jw}|^2 = 1 + a^2 - 2 a cos w`` at ``bins`` frequencies from 0 to
    Nyquist: the power response of pre-emphasis, to move a spectrum into the
    pre-emphasised domain.

    Shape:
        ``() -> (bins,)``
    """
    w = torch.linspace(0, math.pi, bins, dtype=dtype)
    return 1 + coefficient**2 - 2 * coefficient * torch.cos(w)


def lpc_spectrum(a: Tensor, n_fft: int) -> Tensor:
    """The envelope ``1 / |A(e^{jw})|^2`` at ``n_fft // 2 + 1`` frequencies.

    Shape:
        ``(..., p) -> (..., n_fft // 2 + 1)``
    """
    full = torch.cat([torch.ones_like(a[..., :1]), a], dim=-1)  # (..., p + 1)
    return 1.0 / torch.fft.rfft(full, n=n_fft, dim=-1).abs().pow(2)


def prediction_gain_db(signal: Tensor, residual: Tensor) -> float:
    """``10 log10(sum s^2 / sum e^2)``: how much of a signal's power a predictor removes."""
    return float(10 * torch.log10(signal.double().pow(2).sum() / residual.double().pow(2).sum()))
