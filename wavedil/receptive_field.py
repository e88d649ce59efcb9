"""Measure a receptive field from input gradients, whatever the module.

The reported ``receptive_field`` properties are arithmetic; this module checks
them empirically: it back-propagates from one output step and reads which input
steps received a non-zero gradient.

Shape legend: C channels, T time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Extent", "measure_receptive_field"]


class Extent(NamedTuple):
    """Which inputs one output step sees.

    Attributes:
        size: ``last - first + 1`` input steps.
        past: steps before the output's own position.
        future: steps after it (0 for a causal module).
    """

    size: int
    past: int
    future: int


def measure_receptive_field(
    fn: Callable[[Tensor], Tensor],
    channels: int,
    length: int,
    position: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> Extent:
    """Extent of the inputs that output ``position`` depends on, by autograd.

    Args:
        fn: ``(1, channels, length) -> (1, C', length)`` (a tuple output: its first item).
        channels: input channels.
        length: input steps; make it longer than the field on both sides.
        position: output step to probe (default: the middle).
        dtype: computation dtype (float64 keeps tiny gradients from rounding to 0).

    Example:
        >>> from wavedil.nn import CausalConv1d
        >>> measure_receptive_field(CausalConv1d(1, 1, 3, dilation=2).double(), 1, 20)
        Extent(size=5, past=4, future=0)
    """
    position = length // 2 if position is None else position
    x = torch.randn(1, channels, length, dtype=dtype, requires_grad=True)
    y = fn(x)
    y = y[0] if isinstance(y, tuple) else y
    if y.shape[-1] != length:
        raise ValueError(f"Expected an output of {length} steps, but found {y.shape[-1]}.")
    y[..., position].sum().backward()
    assert x.grad is not None
    touched = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
    if touched.numel() == 0:
        raise ValueError("No input step received a gradient; is the module's output constant?")
    first, last = int(touched.min()), int(touched.max())
    return Extent(size=last - first + 1, past=position - first, future=last - position)
