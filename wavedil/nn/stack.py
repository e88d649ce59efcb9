"""A stack of residual blocks with a dilation schedule; skips are summed.

Shape legend: B batch, T time, ``R`` residual, ``S`` skip channels.

With kernel 2 and dilations ``1, 2, 4, ..., 512`` one cycle sees 1024 samples;
each further cycle adds 1023 more. In general the receptive field is
``1 + (k - 1) * sum(dilations)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_dilations, check_positive_int
from wavedil.nn.conv import receptive_field_of
from wavedil.nn.residual import ResidualBlock

__all__ = ["DilatedStack", "StackOutput", "dilation_schedule"]


def dilation_schedule(max_dilation: int = 512, cycles: int = 1) -> list[int]:
    """Dilations ``1, 2, 4, ..., max_dilation`` repeated ``cycles`` times.

    Example:
        >>> dilation_schedule(8, cycles=2)
        [1, 2, 4, 8, 1, 2, 4, 8]
    """
    check_positive_int("max_dilation", max_dilation)
    check_positive_int("cycles", cycles)
    if max_dilation & (max_dilation - 1):
        raise ValueError(f"Expected max_dilation to be a power of 2, but found {max_dilation}.")
    one_cycle = [2**i for i in range(max_dilation.bit_length())]
    return one_cycle * cycles


class StackOutput(NamedTuple):
    """What :class:`DilatedStack` returns.

    Attributes:
        residual: the last block's residual output, ``(B, R, T)``.
        skip: the sum of every block's skip output, ``(B, S, T)``.
    """

    residual: Tensor
    skip: Tensor


class DilatedStack(nn.Module):
    """Residual blocks, one per dilation, whose skip outputs are summed.

    Args:
        residual_channels: residual stream channels ``R``.
        gate_channels: channels after each gate.
        skip_channels: skip channels ``S``.
        dilations: one dilation per block, e.g. :func:`dilation_schedule`.
        kernel_size: taps of every dilated convolution.
        causal: causal (generation) or centred (classification) blocks.
        global_channels: global conditioning size, or ``None``.
        local_channels: local conditioning channels, or ``None``.
        dropout: dropout inside each block.
        residual_output: give the last block a residual projection too (only needed
            when the stack's residual output is used; by default it is not built).
        separable: depthwise-separable dilated convolutions in every block.
        impl: ``"direct"`` or ``"space_to_batch"`` dilated convolutions.

    Shape:
        ``(B, R, T) -> StackOutput((B, R, T), (B, S, T))``; ``mask``: ``(B, 1, T)``

    Example:
        >>> stack = DilatedStack(8, 16, 16, dilation_schedule(16, cycles=2))
        >>> len(stack), stack.receptive_field
        (10, 63)
    """

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        dilations: Sequence[int],
        kernel_size: int = 2,
        causal: bool = True,
        global_channels: int | None = None,
        local_channels: int | None = None,
        dropout: float = 0.0,
        residual_output: bool = False,
        separable: bool = False,
        impl: str = "direct",
    ) -> None:
        super().__init__()
        dilations = check_dilations(dilations)
        self.blocks = nn.ModuleList(
            ResidualBlock(
                residual_channels,
                gate_channels,
                skip_channels,
                kernel_size=kernel_size,
                dilation=d,
                causal=causal,
                global_channels=global_channels,
                local_channels=local_channels,
                dropout=dropout,
                residual_output=residual_output or i < len(dilations) - 1,
                separable=separable,
                impl=impl,
            )
            for i, d in enumerate(dilations)
        )

    #: Activation checkpointing in training: each block's activations are recomputed
    #: in the backward pass instead of kept (about a block's input per block is held;
    #: one more forward of compute). Set by ``task.checkpoint_activations``.
    checkpoint_blocks: bool = False

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def receptive_field(self) -> int:
        """Input samples one output sample depends on, through every block."""
        return receptive_field_of(*(block.receptive_field for block in self.blocks))

    @property
    def dilations(self) -> list[int]:
        return [block.conv.dilation[0] for block in self.blocks]

    def forward(
        self,
        x: Tensor,
        local_cond: Tensor | None = None,
        global_cond: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> StackOutput:
        """Run every block; ``mask`` ``(B, 1, T)`` (1 = valid) re-zeroes padded steps
        after each block, so that a padded clip in a batch sees exactly the zeros it
        would see alone."""
        skip: Tensor | float = 0.0
        recompute = self.checkpoint_blocks and self.training and torch.is_grad_enabled()
        for block in self.blocks:
            if recompute:  # keep only each block's input; recompute the rest in backward
                x, s = checkpoint(block, x, local_cond, global_cond, use_reentrant=False)
            else:
                x, s = block(x, local_cond, global_cond)
            if mask is not None:
                x = x * mask
            skip = skip + s
        assert isinstance(skip, Tensor)
        return StackOutput(residual=x, skip=skip)

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> list[RingBuffer]:
        """One empty ring buffer per block, for :meth:`step`."""
        return [block.conv.init_cache(batch, device, dtype) for block in self.blocks]

    def step(
        self,
        x: Tensor,
        cache: list[RingBuffer],
        local_cond: Tensor | None = None,
        global_cond: Tensor | None = None,
    ) -> tuple[StackOutput, list[RingBuffer]]:
        """One step of :meth:`forward`: O(blocks) work, whatever the receptive field.

        Shape:
            ``(B, R, 1) -> StackOutput((B, R, 1), (B, S, 1))``
        """
        skip: Tensor | float = 0.0
        new_cache = []
        for block, ring in zip(self.blocks, cache, strict=True):
            (x, s), ring = block.step(x, ring, local_cond, global_cond)
            skip = skip + s
            new_cache.append(ring)
        assert isinstance(skip, Tensor)
        return StackOutput(residual=x, skip=skip), new_cache
