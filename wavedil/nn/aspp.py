"""Multi-rate parallel block: atrous spatial pyramid pooling (DeepLab v3) in 1-D.

Shape legend: B batch, T time, ``C`` input, ``H`` branch and ``C'`` output channels.

Parallel branches look at the same input with different fields of view, and a
pooled branch adds the clip-level summary; their outputs are concatenated and
projected::

            ┌─ 1x1 ───────────────────────────── ReLU ─┐
            ├─ conv k, rate r1 ────────────────── ReLU ─┤
    x ──────┼─ conv k, rate r2 ────────────────── ReLU ─┼─ concat (B, (2 + n) H, T)
    (B,C,T) ├─ ...                                      │   ─ 1x1 ─ ReLU ─ (B, C', T)
            └─ mean over time ─ 1x1 ─ ReLU ─ broadcast ─┘

The pooled branch sees the whole clip (padding excluded by ``mask``); with
``causal=True`` it becomes a running mean over the steps so far, so that the block
stays causal. :attr:`ASPP1d.receptive_field` reports the widest dilated branch;
with the pooled branch every output also depends on the rest of the clip
(:attr:`ASPP1d.global_context`), which the gradient-based
:func:`wavedil.receptive_field.measure_receptive_field` shows.

DeepLab follows each convolution with batch normalisation; this block leaves it out,
because padded batches of clips of different lengths would bias its statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_dilations, check_positive_int
from wavedil.nn.conv import DilatedConv1d
from wavedil.spec import serializable

__all__ = ["ASPP1d", "ASPPCache"]


class ASPPCache(NamedTuple):
    """Streaming state of a causal :class:`ASPP1d`.

    Attributes:
        branches: one ring buffer per branch.
        total: running sum of the inputs, ``(B, C, 1)`` (for the pooled branch).
        count: steps summed.
    """

    branches: list[RingBuffer]
    total: Tensor
    count: int


@serializable
class ASPP1d(nn.Module):
    """Atrous spatial pyramid pooling over time.

    Args:
        in_channels: input channels ``C``.
        out_channels: output channels ``C'`` (default: ``in_channels``).
        rates: dilation of each dilated branch.
        kernel_size: taps of the dilated branches.
        branch_channels: channels ``H`` of each branch (default: ``out_channels``).
        causal: causal branches and a running-mean pooled branch, or centred ones.
        pooling: include the pooled (clip-level) branch.
        dropout: dropout after the projection.
        impl: ``"direct"`` or ``"space_to_batch"`` dilated convolutions.

    Shape:
        ``(B, C, T) -> (B, C', T)``; ``mask``: ``(B, 1, T)`` (1 = valid step)

    A causal block also runs one step at a time (:meth:`init_cache`, :meth:`step`).

    Example:
        >>> block = ASPP1d(16, 32, rates=(2, 4, 8))
        >>> block(torch.randn(3, 16, 50)).shape, block.receptive_field
        (torch.Size([3, 32, 50]), 17)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        rates: Sequence[int] = (6, 12, 18),
        kernel_size: int = 3,
        branch_channels: int | None = None,
        causal: bool = False,
        pooling: bool = True,
        dropout: float = 0.0,
        impl: str = "direct",
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        out_channels = check_positive_int("out_channels", out_channels or in_channels)
        hidden = check_positive_int("branch_channels", branch_channels or out_channels)
        rates = check_dilations(rates)
        check_positive_int("kernel_size", kernel_size)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Expected dropout in [0, 1), but found {dropout!r}.")
        self.out_channels = out_channels
        self.branches = nn.ModuleList(
            [DilatedConv1d(in_channels, hidden, 1, causal=causal)]
            + [DilatedConv1d(in_channels, hidden, kernel_size, r, causal=causal, impl=impl)
               for r in rates]
        )
        self.pooled = DilatedConv1d(in_channels, hidden, 1, causal=causal) if pooling else None
        n_branches = len(self.branches) + (1 if pooling else 0)
        self.project = DilatedConv1d(n_branches * hidden, out_channels, 1, causal=causal)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def causal(self) -> bool:
        return self.project.causal

    @property
    def receptive_field(self) -> int:
        """Field of the widest dilated branch (the pooled branch adds the whole clip)."""
        return max(branch.receptive_field for branch in self.branches)

    @property
    def global_context(self) -> bool:
        """Whether the pooled branch makes each output depend on the whole clip (or,
        causal, on every past step)."""
        return self.pooled is not None

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``mask`` ``(B, 1, T)``: padded steps are left out of the pooled mean and
        zeroed in the output."""
        outs = [torch.relu(branch(x)) for branch in self.branches]  # each (B, H, T)
        if self.pooled is not None:
            outs.append(torch.relu(self.pooled(self._mean(x, mask))).expand_as(outs[0]))
        y = self.dropout(torch.relu(self.project(torch.cat(outs, dim=1))))  # (B, C', T)
        return y if mask is None else y * mask

    def _mean(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """Masked mean over time, ``(B, C, 1)``, or the running mean ``(B, C, T)``."""
        weight = torch.ones_like(x[:, :1]) if mask is None else mask.to(x.dtype)  # (B, 1, T)
        if self.causal:
            total = torch.cumsum(x * weight, dim=-1)  # (B, C, T)
            return total / torch.cumsum(weight, dim=-1).clamp_min(1.0)
        total = (x * weight).sum(-1, keepdim=True)  # (B, C, 1)
        return total / weight.sum(-1, keepdim=True).clamp_min(1.0)

    # -- streaming (causal only) -------------------------------------------------------

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> ASPPCache:
        """Empty state for :meth:`step`: the branches' rings and a zero running sum."""
        first = self.branches[0]
        dtype = dtype or first.weight.dtype
        rings = [branch.init_cache(batch, device, dtype) for branch in self.branches]
        return ASPPCache(rings, torch.zeros(batch, first.in_channels, 1, device=device,
                                            dtype=dtype), 0)

    def step(self, x: Tensor, cache: ASPPCache) -> tuple[Tensor, ASPPCache]:
        """One step of :meth:`forward` (no mask): ``(B, C, 1), cache -> (B, C', 1), cache``."""
        outs, rings = [], []
        for branch, ring in zip(self.branches, cache.branches, strict=True):
            y, ring = branch.step(x, ring)
            outs.append(torch.relu(y))  # (B, H, 1)
            rings.append(ring)
        total, count = cache.total + x, cache.count + 1
        if self.pooled is not None:
            outs.append(torch.relu(self.pooled(total / count)))  # the running mean
        y = self.dropout(torch.relu(self.project(torch.cat(outs, dim=1))))  # (B, C', 1)
        return y, ASPPCache(rings, total, count)
