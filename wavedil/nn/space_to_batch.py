"""Dilated convolution by space-to-batch: fold time into batch, convolve undilated.

Shape legend: B batch, C channels, T time, ``r`` the dilation (rate), ``k`` taps.

A filter with dilation ``r`` reads ``x[t], x[t + r], ..., x[t + (k - 1) r]``: inputs
that share ``t``'s phase ``t mod r``. Splitting the (padded) signal into its ``r``
phases, each a signal ``r`` times shorter, turns the dilated filter into an ordinary
one on every phase::

    x (B, C, L)                   L = T + (k - 1) r, right-padded to a multiple of r
      ─ reshape (B, C, L/r, r) ─ permute ─ (B r, C, L/r)      space to batch
      ─ conv1d, dilation 1    ─ (B r, C', L/r - k + 1)
      ─ permute ─ reshape     ─ (B, C', L - (k - 1) r) ─ first T steps    batch to space

The arithmetic is the same multiply-adds in another order, so the result equals the
direct dilated convolution up to float rounding. Which is faster depends on the
backend and the shapes (``bench/space_to_batch.py`` measures it).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["batch_to_space", "dilated_conv1d_space_to_batch", "space_to_batch"]


def space_to_batch(x: Tensor, rate: int) -> Tensor:
    """Split time into ``rate`` phases stacked on the batch axis.

    Phase ``p`` of batch item ``b`` lands at batch index ``b * rate + p``; the
    signal is right-padded with zeros to a multiple of ``rate``.

    Shape:
        ``(B, C, T) -> (B * rate, C, ceil(T / rate))``

    Example:
        >>> import torch
        >>> space_to_batch(torch.arange(5.0).view(1, 1, 5), 2)
        tensor([[[0., 2., 4.]],
        <BLANKLINE>
                [[1., 3., 0.]]])
    """
    b, c, t = x.shape
    pad = -t % rate
    x = F.pad(x, (0, pad))  # (B, C, r * T')
    x = x.view(b, c, (t + pad) // rate, rate)  # (B, C, T', r)
    return x.permute(0, 3, 1, 2).reshape(b * rate, c, (t + pad) // rate)  # (B r, C, T')


def batch_to_space(x: Tensor, rate: int, length: int | None = None) -> Tensor:
    """Inverse of :func:`space_to_batch`: interleave the phases back into time.

    Shape:
        ``(B * rate, C, T') -> (B, C, length)`` (default ``length = rate * T'``)

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 7)
        >>> torch.equal(batch_to_space(space_to_batch(x, 3), 3, 7), x)
        True
    """
    br, c, t = x.shape
    if br % rate:
        raise ValueError(f"Expected a batch divisible by rate={rate}, but found {br}.")
    x = x.view(br // rate, rate, c, t).permute(0, 2, 3, 1)  # (B, C, T', r)
    x = x.reshape(br // rate, c, t * rate)  # (B, C, r T')
    return x if length is None else x[..., :length]


def dilated_conv1d_space_to_batch(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    dilation: int,
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
) -> Tensor:
    """``F.conv1d(F.pad(x, padding), weight, bias, dilation=dilation, groups=groups)``
    computed through :func:`space_to_batch`.

    Shape:
        ``(B, C_in, T), weight (C_out, C_in / groups, k) -> (B, C_out, T + pad - (k-1) d)``

    Example:
        >>> import torch, torch.nn.functional as F
        >>> x, w = torch.randn(2, 3, 50), torch.randn(4, 3, 3)
        >>> direct = F.conv1d(F.pad(x, (8, 0)), w, dilation=4)
        >>> folded = dilated_conv1d_space_to_batch(x, w, None, 4, padding=(8, 0))
        >>> bool((direct - folded).abs().max() < 1e-5)
        True
    """
    if padding != (0, 0):
        x = F.pad(x, padding)
    span = (weight.shape[-1] - 1) * dilation
    length = x.shape[-1] - span  # output steps of the direct convolution
    if length <= 0:
        raise ValueError(f"Expected an input longer than the filter span {span}, "
                         f"but found {x.shape[-1]} steps (padding included).")
    if dilation == 1:
        return F.conv1d(x, weight, bias, groups=groups)
    y = F.conv1d(space_to_batch(x, dilation), weight, bias, groups=groups)  # (B r, C', T'-k+1)
    return batch_to_space(y, dilation, length)  # (B, C', length)
