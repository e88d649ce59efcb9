"""WaveNet's gated residual block.

Shape legend: B batch, C channels, T time; ``R`` residual, ``G`` gate, ``S`` skip
channels, ``L`` local and ``E`` global conditioning channels.

::

    x ─┬─ DilatedConv1d(k, d) ─ (+ W_l·local + W_g·global) ─ tanh(a) · σ(b) = z ─┬─ 1x1 ─ skip
       │                                                                         │
       └──────────────────────────────── (+) ──────────────── 1x1 ───────────────┘
                                                │
                                             residual

The dilated convolution produces ``2 G`` channels, split into the filter ``a``
and the gate ``b``; conditioning is added to both before the nonlinearity, as in
van den Oord et al. (2016), equations 2 and 3. With ``separable=True`` the dilated
convolution is depthwise-separable (:class:`~wavedil.nn.separable.SeparableConv1d`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_positive_int
from wavedil.nn.conv import DilatedConv1d
from wavedil.nn.separable import SeparableConv1d

__all__ = ["BlockOutput", "ResidualBlock"]


class BlockOutput(NamedTuple):
    """What a residual block returns.

    Attributes:
        residual: input to the next block, ``(B, R, T)``.
        skip: this block's contribution to the output head, ``(B, S, T)``.
    """

    residual: Tensor
    skip: Tensor


class ResidualBlock(nn.Module):
    """Gated, optionally conditioned, dilated residual block.

    Args:
        residual_channels: channels of the residual stream ``R`` (input and output).
        gate_channels: channels after the gate ``G`` (the dilated conv outputs ``2 G``).
        skip_channels: channels of the skip output ``S``.
        kernel_size: taps of the dilated convolution.
        dilation: dilation of the convolution.
        causal: left padding only (generation) or centred (classification).
        global_channels: size ``E`` of a global conditioning vector, or ``None``.
        local_channels: channels ``L`` of per-timestep conditioning features
            (already at this block's time resolution), or ``None``.
        dropout: dropout on the gated activations, 0 disables.
        residual_output: build the 1x1 residual projection. A stack's last block
            feeds only its skip to the head, so it is built without one (an unused
            parameter would also stop DDP); it then returns its input as residual.
        separable: make the dilated convolution depthwise-separable (a per-channel
            dilated filter, then a 1x1 to ``2 G``): about ``k`` times fewer
            multiply-adds, see :func:`wavedil.nn.cost.separable_saving`.
        impl: ``"direct"`` or ``"space_to_batch"`` dilated convolution (same result).

    Shape:
        - x: ``(B, R, T)``
        - local_cond: ``(B, L, T)`` when ``local_channels`` is set
        - global_cond: ``(B, E)`` when ``global_channels`` is set
        - output: :class:`BlockOutput` of ``(B, R, T)`` and ``(B, S, T)``

    Example:
        >>> block = ResidualBlock(16, 32, 24, kernel_size=2, dilation=4, global_channels=8)
        >>> out = block(torch.randn(2, 16, 100), global_cond=torch.randn(2, 8))
        >>> out.residual.shape, out.skip.shape, block.receptive_field
        (torch.Size([2, 16, 100]), torch.Size([2, 24, 100]), 5)
    """

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        causal: bool = True,
        global_channels: int | None = None,
        local_channels: int | None = None,
        dropout: float = 0.0,
        residual_output: bool = True,
        separable: bool = False,
        impl: str = "direct",
    ) -> None:
        super().__init__()
        check_positive_int("residual_channels", residual_channels)
        check_positive_int("gate_channels", gate_channels)
        check_positive_int("skip_channels", skip_channels)
        if global_channels is not None:
            check_positive_int("global_channels", global_channels)
        if local_channels is not None:
            check_positive_int("local_channels", local_channels)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Expected dropout in [0, 1), but found {dropout!r}.")

        self.gate_channels = gate_channels
        conv = SeparableConv1d if separable else DilatedConv1d
        self.conv: DilatedConv1d | SeparableConv1d = conv(
            residual_channels, 2 * gate_channels, kernel_size, dilation, causal=causal, impl=impl
        )
        self.global_proj = (
            nn.Linear(global_channels, 2 * gate_channels, bias=False)
            if global_channels is not None
            else None
        )
        self.local_proj = (
            nn.Conv1d(local_channels, 2 * gate_channels, 1, bias=False)
            if local_channels is not None
            else None
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual_proj = (nn.Conv1d(gate_channels, residual_channels, 1)
                              if residual_output else None)
        self.skip_proj = nn.Conv1d(gate_channels, skip_channels, 1)

    @property
    def receptive_field(self) -> int:
        """Input samples one output sample depends on (the 1x1 convs add none)."""
        return self.conv.receptive_field

    @property
    def causal(self) -> bool:
        return self.conv.causal

    def forward(
        self,
        x: Tensor,
        local_cond: Tensor | None = None,
        global_cond: Tensor | None = None,
    ) -> BlockOutput:
        return self._gated(x, self.conv(x), local_cond, global_cond)

    def _gated(self, x: Tensor, h: Tensor, local_cond: Tensor | None,
               global_cond: Tensor | None) -> BlockOutput:
        """The block after its dilated convolution: ``x (B, R, T)``, ``h (B, 2G, T)``."""
        h = h + self.condition(local_cond, global_cond)  # (B, 2G, T)
        filt, gate = h.chunk(2, dim=1)  # 2 x (B, G, T)
        z = self.dropout(torch.tanh(filt) * torch.sigmoid(gate))  # (B, G, T)
        return BlockOutput(residual=self._residual(x, z), skip=self.skip_proj(z))

    def init_stream(self, batch: int, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> Tensor:
        """The left context :meth:`stream` starts from: ``(B, R, span)`` zeros, as the
        causal padding of :meth:`forward`."""
        conv = self.conv
        if not (isinstance(conv, DilatedConv1d) and conv.direct_causal):
            raise ValueError("Only a causal block with a direct (not separable or "
                             "space-to-batch) dilated convolution streams chunk by chunk.")
        span = conv.pad_left
        return torch.zeros(batch, conv.in_channels, span, device=device,
                           dtype=dtype or conv.weight.dtype)

    def stream(self, x: Tensor, context: Tensor) -> tuple[BlockOutput, Tensor]:
        """:meth:`forward` over a chunk of any length that continues the chunks
        before it, whose last inputs ``context`` holds (from :meth:`init_stream`).

        Shape:
            ``x (B, R, n), context (B, R, span) -> (BlockOutput((B, R, n), (B, S, n)),
            context)``
        """
        extended = torch.cat([context, x], dim=-1)  # (B, R, span + n)
        h = nn.Conv1d.forward(self.conv, extended)  # unpadded: one output per new input
        return (self._gated(x, h, None, None),
                extended[..., extended.shape[-1] - context.shape[-1]:])

    def _residual(self, x: Tensor, z: Tensor) -> Tensor:
        return x if self.residual_proj is None else x + self.residual_proj(z)

    def step(
        self,
        x: Tensor,
        cache: RingBuffer,
        local_cond: Tensor | None = None,
        global_cond: Tensor | None = None,
    ) -> tuple[BlockOutput, RingBuffer]:
        """One step of :meth:`forward` (causal blocks only).

        Shape:
            ``x (B, R, 1), local_cond (B, L, 1)?, global_cond (B, E)? ->
            (BlockOutput((B, R, 1), (B, S, 1)), cache)``
        """
        h, cache = self.conv.step(x, cache)  # (B, 2G, 1)
        h = h + self.condition(local_cond, global_cond)
        filt, gate = h.chunk(2, dim=1)  # 2 x (B, G, 1)
        z = torch.tanh(filt) * torch.sigmoid(gate)  # (B, G, 1)
        return BlockOutput(self._residual(x, z), self.skip_proj(z)), cache

    def condition(self, local_cond: Tensor | None, global_cond: Tensor | None) -> Tensor | float:
        """The conditioning term added inside the gate, ``(B, 2G, T)``, ``(B, 2G, 1)`` or 0."""
        _check_conditioning("local_cond", local_cond, self.local_proj)
        _check_conditioning("global_cond", global_cond, self.global_proj)
        term: Tensor | float = 0.0
        if self.local_proj is not None:
            term = self.local_proj(local_cond)  # (B, 2G, T)
        if self.global_proj is not None:
            term = term + self.global_proj(global_cond).unsqueeze(-1)  # (B, 2G, 1)
        return term


def _check_conditioning(name: str, value: Tensor | None, proj: nn.Module | None) -> None:
    if proj is None and value is not None:
        raise ValueError(
            f"This block was built without {name.replace('_cond', '')} conditioning, "
            f"but {name} was given; pass {name.split('_')[0]}_channels at construction."
        )
    if proj is not None and value is None:
        channels = proj.in_features if isinstance(proj, nn.Linear) else proj.in_channels
        raise ValueError(f"Expected {name} with {channels} channels, but found None.")
