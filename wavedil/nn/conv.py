"""Dilated 1-D convolutions padded so that the output keeps the input's length.

Shape legend (used in every module of ``wavedil.nn``):
    B  batch
    C  channels
    T  time (samples or frames)

Every module maps ``(B, C_in, T) -> (B, C_out, T)``.

A *causal* convolution pads only on the left, ``(k - 1) * dilation`` zeros, so
output ``t`` sees inputs ``t - (k - 1) * dilation .. t`` and nothing later. A
*centred* convolution splits the same padding between both sides (the extra
zero, when the total is odd, goes to the past), for models that may look ahead.

Two implementations give the same numbers: ``impl="direct"`` (the backend's dilated
convolution) and ``impl="space_to_batch"`` (:mod:`wavedil.nn.space_to_batch`: phases
folded into the batch, undilated convolution). ``bench/space_to_batch.py`` compares
them; on CPU the direct path won every case measured, so it is the default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_choice, check_positive_int
from wavedil.nn.space_to_batch import dilated_conv1d_space_to_batch

__all__ = ["CONV_IMPLS", "CausalConv1d", "DilatedConv1d"]

CONV_IMPLS = ("direct", "space_to_batch")


class DilatedConv1d(nn.Conv1d):
    """A 1-D convolution with zero padding that preserves length.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: taps of the filter (>= 1).
        dilation: spacing between taps (>= 1).
        causal: pad only on the left (True) or centre the filter (False).
        bias: learn an additive bias.
        groups: channel groups (``in_channels`` for a depthwise convolution).
        impl: ``"direct"`` or ``"space_to_batch"`` (same result, see the module notes).

    Shape:
        ``(B, in_channels, T) -> (B, out_channels, T)``

    Example:
        >>> import torch
        >>> conv = DilatedConv1d(1, 4, kernel_size=2, dilation=8)
        >>> conv(torch.zeros(3, 1, 100)).shape
        torch.Size([3, 4, 100])
        >>> conv.receptive_field
        9
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        causal: bool = True,
        bias: bool = True,
        groups: int = 1,
        impl: str = "direct",
    ) -> None:
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        check_positive_int("kernel_size", kernel_size)
        check_positive_int("dilation", dilation)
        check_positive_int("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Expected groups to divide in_channels={in_channels} and "
                             f"out_channels={out_channels}, but found groups={groups}.")
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation, bias=bias,
                         groups=groups)
        self.causal = causal
        self.impl = check_choice("impl", impl, CONV_IMPLS)
        span = (kernel_size - 1) * dilation
        # The odd zero goes to the left so that a centred filter never sees further ahead
        # than it sees behind.
        self.pad_left = span if causal else span - span // 2
        self.pad_right = span - self.pad_left

    @property
    def receptive_field(self) -> int:
        """Number of input samples that one output sample depends on."""
        return (self.kernel_size[0] - 1) * self.dilation[0] + 1

    @property
    def lookahead(self) -> int:
        """Number of future input samples one output sees (0 when causal)."""
        return self.pad_right

    @property
    def direct_causal(self) -> bool:
        """Causal and computed directly (not space-to-batch): what runs chunk by chunk
        over its last ``pad_left`` inputs (streaming, the exported step)."""
        return self.causal and self.impl == "direct"

    def forward(self, x: Tensor) -> Tensor:
        if self.impl == "space_to_batch":
            return dilated_conv1d_space_to_batch(
                x, self.weight, self.bias, self.dilation[0], (self.pad_left, self.pad_right),
                self.groups)  # (B, C_out, T)
        x = F.pad(x, (self.pad_left, self.pad_right))  # (B, C_in, T + span)
        return super().forward(x)  # (B, C_out, T)

    def extra_repr(self) -> str:
        impl = "" if self.impl == "direct" else f", impl={self.impl!r}"
        return super().extra_repr() + f", causal={self.causal}{impl}"

    # -- streaming (one step at a time) ------------------------------------------------

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> RingBuffer:
        """Empty history for :meth:`step`: a ring of ``(k - 1) * dilation`` past inputs."""
        if not self.causal:
            raise ValueError("Only a causal convolution can run step by step (causal=False).")
        span = (self.kernel_size[0] - 1) * self.dilation[0]
        return RingBuffer.zeros(batch, self.in_channels, span, device,
                                dtype or self.weight.dtype)

    def step(self, x: Tensor, cache: RingBuffer) -> tuple[Tensor, RingBuffer]:
        """One output step from one input step and the history.

        Equal to ``forward`` at step ``t = cache.index`` of the sequence pushed so far.

        Shape:
            ``(B, C_in, 1), cache -> (B, C_out, 1), cache``
        """
        k, d = self.kernel_size[0], self.dilation[0]
        past = cache.read([(k - 1 - i) * d for i in range(k - 1)])  # oldest first
        window = torch.cat([*past, x], dim=-1)  # (B, C_in, k): the taps, undilated
        y = F.conv1d(window, self.weight, self.bias, groups=self.groups)  # (B, C_out, 1)
        return y, cache.push(x)


class CausalConv1d(DilatedConv1d):
    """:class:`DilatedConv1d` with left-only padding: output ``t`` sees inputs ``<= t``.

    Shape:
        ``(B, in_channels, T) -> (B, out_channels, T)``

    Example:
        >>> import torch
        >>> conv = CausalConv1d(2, 2, kernel_size=3, dilation=4)
        >>> x = torch.randn(1, 2, 50)
        >>> y1 = conv(x); x[..., 30:] = 0; y2 = conv(x)
        >>> torch.equal(y1[..., :30], y2[..., :30])
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation, causal=True, bias=bias)


def receptive_field_of(*fields: int) -> int:
    """Receptive field of modules applied one after another.

    Each module of field ``r`` widens the view by ``r - 1`` samples.

    Example:
        >>> receptive_field_of(2, 3, 5)
        8
    """
    return 1 + sum(r - 1 for r in fields)


def input_channels_of(module: nn.Module) -> int | None:
    """Input channels of a block: its ``channels`` or ``in_channels`` attribute, else
    its first convolution's, else ``None``.

    Example:
        >>> input_channels_of(nn.Sequential(nn.Conv1d(5, 2, 1), nn.Conv1d(2, 2, 1)))
        5
    """
    for name in ("channels", "in_channels"):
        if isinstance(getattr(module, name, None), int):
            return getattr(module, name)
    first = next((m for m in module.modules() if isinstance(m, nn.Conv1d)), None)
    return None if first is None else first.in_channels


def pad_time(x: Tensor, length: int) -> Tensor:
    """Right-pad (or crop) the last axis of ``x`` to ``length`` with zeros."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return F.pad(x, (0, length - x.shape[-1]))

