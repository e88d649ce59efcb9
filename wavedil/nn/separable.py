"""Depthwise-separable dilated convolution: a per-channel dilated filter, then a 1x1 mix.

Shape legend: B batch, T time, ``C`` input and ``C'`` output channels, ``k`` taps.

::

    x (B, C, T) ─ depthwise DilatedConv1d(k, d, groups=C) ─ (B, C, T) ─ 1x1 ─ (B, C', T)

A dense dilated convolution costs ``C' C k`` multiply-adds per step; the separable
one costs ``C k + C' C``, about ``k`` times less when ``C'`` is large
(:func:`wavedil.nn.cost.separable_saving` gives the exact numbers). The composition
is still one linear filter, ``W[o, i, t] = P[o, i] D[i, t]``, exposed as
:attr:`SeparableConv1d.weight` so that code written for a dense kernel (the fast
sampler) runs unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.conv import DilatedConv1d

__all__ = ["SeparableConv1d"]


class SeparableConv1d(nn.Module):
    """Depthwise dilated convolution followed by a pointwise (1x1) convolution.

    Args:
        in_channels: input channels ``C`` (one dilated filter each).
        out_channels: output channels ``C'``.
        kernel_size: taps of the depthwise filters.
        dilation: their dilation.
        causal: left padding only, or centred.
        bias: a bias on the pointwise convolution (a depthwise bias would fold into it).
        impl: ``"direct"`` or ``"space_to_batch"`` for the depthwise convolution.

    Shape:
        ``(B, in_channels, T) -> (B, out_channels, T)``

    Example:
        >>> import torch
        >>> conv = SeparableConv1d(8, 16, kernel_size=3, dilation=4, causal=False)
        >>> x = torch.randn(2, 8, 40)
        >>> conv(x).shape, conv.receptive_field
        (torch.Size([2, 16, 40]), 9)
        >>> dense = DilatedConv1d(8, 16, 3, 4, causal=False)
        >>> dense.weight.data, dense.bias.data = conv.weight, conv.bias.data
        >>> bool((dense(x) - conv(x)).abs().max() < 1e-5)
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        causal: bool = True,
        bias: bool = True,
        impl: str = "direct",
    ) -> None:
        super().__init__()
        self.depthwise = DilatedConv1d(in_channels, in_channels, kernel_size, dilation,
                                       causal=causal, bias=False, groups=in_channels, impl=impl)
        self.pointwise = nn.Conv1d(in_channels, out_channels, 1, bias=bias)

    # The attributes a dense DilatedConv1d offers, so the two are interchangeable.
    @property
    def in_channels(self) -> int:
        return self.depthwise.in_channels

    @property
    def out_channels(self) -> int:
        return self.pointwise.out_channels

    @property
    def kernel_size(self) -> tuple[int]:
        return self.depthwise.kernel_size

    @property
    def dilation(self) -> tuple[int]:
        return self.depthwise.dilation

    @property
    def causal(self) -> bool:
        return self.depthwise.causal

    @property
    def receptive_field(self) -> int:
        return self.depthwise.receptive_field

    @property
    def lookahead(self) -> int:
        return self.depthwise.lookahead

    @property
    def weight(self) -> Tensor:
        """The equivalent dense kernel ``(C', C, k)``: ``P[o, i] * D[i, t]`` (computed)."""
        return self.pointwise.weight[:, :, :1] * self.depthwise.weight[:, 0, :].unsqueeze(0)

    @property
    def bias(self) -> Tensor | None:
        return self.pointwise.bias

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))  # (B, C', T)

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> RingBuffer:
        """Empty history for :meth:`step` (the depthwise filter's inputs)."""
        return self.depthwise.init_cache(batch, device, dtype)

    def step(self, x: Tensor, cache: RingBuffer) -> tuple[Tensor, RingBuffer]:
        """One step of :meth:`forward`: ``(B, C, 1), cache -> (B, C', 1), cache``."""
        y, cache = self.depthwise.step(x, cache)  # (B, C, 1)
        return self.pointwise(y), cache
