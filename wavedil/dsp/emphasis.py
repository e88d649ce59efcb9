"""Pre-emphasis and de-emphasis: the first-order filters that shape a vocoder's noise.

Shape legend: ``...`` any leading dimensions, T samples.

A generator that learns the *pre-emphasised* signal ``y[t] = s[t] - a s[t-1]`` and
whose output is *de-emphasised*, ``s[t] = y[t] + a s[t-1]``, has its sampling noise
(white in ``y``) shaped by ``1 / |1 - a e^{-jw}|``: louder at low frequencies, where
speech is loud, and quieter at high frequencies, where speech falls off. LPCNet
(Valin and Skoglund, 2019) uses ``a = 0.85``.

The two are exact inverses: ``deemphasis(preemphasis(x, a), a) == x`` up to float
rounding, also when a signal is processed in pieces and each piece is handed the
last sample before it (``previous``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_emphasis", "deemphasis", "preemphasis"]


def check_emphasis(coefficient: float) -> float:
    """``coefficient`` as a float in ``[0, 1)``, or a ``ValueError`` that says so."""
    if isinstance(coefficient, bool) or not isinstance(coefficient, (int, float)) or not (
            0.0 <= coefficient < 1.0):
        raise ValueError(f"Expected a pre-emphasis coefficient in [0, 1) (0: none), but found "
                         f"{coefficient!r}.")
    return float(coefficient)


def preemphasis(signal: Tensor, coefficient: float, previous: Tensor | None = None) -> Tensor:
    """``y[t] = s[t] - a s[t-1]``, with ``s[-1] = previous`` (default 0).

    Shape:
        ``signal (..., T), previous (...)? -> (..., T)``

    Example:
        >>> preemphasis(torch.tensor([1.0, 1.0, 1.0]), 0.5)
        tensor([1.0000, 0.5000, 0.5000])
    """
    a = check_emphasis(coefficient)
    if a == 0.0:
        return signal
    before = torch.zeros_like(signal[..., :1]) if previous is None else previous[..., None].to(
        signal)
    shifted = torch.cat([before, signal[..., :-1]], dim=-1)  # (..., T): s[t-1]
    return signal - a * shifted


def deemphasis(signal: Tensor, coefficient: float, previous: Tensor | None = None) -> Tensor:
    """``s[t] = y[t] + a s[t-1]``, with ``s[-1] = previous`` (default 0): the inverse of
    :func:`preemphasis`, computed in float64 (a recursion: rounding errors would
    otherwise accumulate over long clips) and returned in the input's dtype.

    Shape:
        ``signal (..., T), previous (...)? -> (..., T)``

    Example:
        >>> deemphasis(torch.tensor([1.0, 0.5, 0.5]), 0.5)
        tensor([1., 1., 1.])
    """
    a = check_emphasis(coefficient)
    if a == 0.0:
        return signal
    import torchaudio.functional as AF

    y = signal.double()
    if previous is not None:  # the state enters as an extra first input: y[0] + a s[-1]
        y = y.clone()
        y[..., 0] += a * previous.double()
    out = AF.lfilter(y, torch.tensor([1.0, -a], dtype=torch.float64),
                     torch.tensor([1.0, 0.0], dtype=torch.float64), clamp=False)
    return out.to(signal.dtype)
