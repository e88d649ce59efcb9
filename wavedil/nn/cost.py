"""Parameter and multiply-add counts, e.g. to see what the separable option saves.

Multiply-adds are counted per output time step for convolutions (a ``Conv1d`` with
``C`` inputs, ``C'`` outputs, ``g`` groups and ``k`` taps costs ``C' C k / g``) and
per call for ``Linear`` layers; elementwise work (gates, biases) is left out.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

__all__ = ["Cost", "SeparableSaving", "cost", "separable_saving"]


class Cost(NamedTuple):
    """Attributes: ``parameters`` (learned numbers), ``macs`` (multiply-adds per step)."""

    parameters: int
    macs: int


def cost(module: nn.Module) -> Cost:
    """Parameters and multiply-adds per output step of every conv and linear layer.

    Example:
        >>> cost(nn.Conv1d(4, 8, 3))
        Cost(parameters=104, macs=96)
    """
    macs = 0
    for m in module.modules():
        if isinstance(m, nn.Conv1d):
            macs += m.out_channels * (m.in_channels // m.groups) * m.kernel_size[0]
        elif isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features
    return Cost(sum(p.numel() for p in module.parameters()), macs)


class SeparableSaving(NamedTuple):
    """A dense and a depthwise-separable convolution side by side.

    Attributes:
        dense: cost of the dense dilated convolution.
        separable: cost of depthwise + pointwise.
        parameter_ratio: ``dense.parameters / separable.parameters``.
        mac_ratio: ``dense.macs / separable.macs``.
    """

    dense: Cost
    separable: Cost
    parameter_ratio: float
    mac_ratio: float


def separable_saving(in_channels: int, out_channels: int, kernel_size: int,
                     bias: bool = True) -> SeparableSaving:
    """What replacing a dense ``in -> out`` convolution of ``kernel_size`` taps by
    its depthwise-separable form saves (the dilation does not change the counts).

    Example:
        >>> s = separable_saving(64, 128, kernel_size=3)   # a residual block's conv
        >>> s.dense, s.separable
        (Cost(parameters=24704, macs=24576), Cost(parameters=8512, macs=8384))
        >>> round(s.mac_ratio, 2)
        2.93
    """
    from wavedil.nn.conv import DilatedConv1d
    from wavedil.nn.separable import SeparableConv1d

    dense = cost(DilatedConv1d(in_channels, out_channels, kernel_size, bias=bias))
    separable = cost(SeparableConv1d(in_channels, out_channels, kernel_size, bias=bias))
    return SeparableSaving(dense, separable, dense.parameters / separable.parameters,
                           dense.macs / separable.macs)
