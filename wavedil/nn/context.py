"""The context module of Yu and Koltun (2016), "Multi-Scale Context Aggregation by
Dilated Convolutions", in 1-D.

Shape legend: B batch, C channels, T time.

Seven dilated convolutions (rates 1, 1, 2, 4, 8, 16, 1, kernel 3, each followed by
a ReLU) and a final 1x1 convolution back to ``C`` channels, without ReLU::

    x (B, C, T) ─ conv k3 d1 ─ ReLU ─ conv k3 d1 ─ ReLU ─ conv k3 d2 ─ ReLU ─ ...
                ─ conv k3 d16 ─ ReLU ─ conv k3 d1 ─ ReLU ─ 1x1 ─ (B, C, T)

With kernel 3 the field grows 3, 5, 9, 17, 33, 65, 67: exponentially, at a constant
cost per layer. The *basic* module keeps ``C`` channels throughout; the *widening*
one (the paper's "large") uses ``2C, 2C, 4C, 8C, 16C, 32C, 32C``.

Identity initialisation (the paper's section 3): random initialisation did not train
well, so each filter starts as a copy of its input channel at the current step,
``w[b, a, t] = 1[t = now] 1[a = b]``. For the widening module channels are grouped,
``w[b, a, now] = C / c_out`` when ``floor(a C / c_in) = floor(b C / c_out)``, and the
other weights get small noise (``init_noise * C / c_out``) to break the symmetry
within a group. Either way an untrained module passes any non-negative input (such
as ReLU features or class scores, as in the paper) through unchanged, or with
``init_noise=0`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_choice, check_dilations, check_positive_int
from wavedil.nn.conv import DilatedConv1d, receptive_field_of
from wavedil.spec import serializable

__all__ = ["CONTEXT_DILATIONS", "WIDENING", "ContextModule"]

CONTEXT_DILATIONS = (1, 1, 2, 4, 8, 16, 1)
WIDENING = (2, 2, 4, 8, 16, 32, 32)  # width multipliers of the paper's large module


@serializable
class ContextModule(nn.Module):
    """Dilated context aggregation with identity initialisation.

    Args:
        channels: input and output channels ``C``.
        variant: ``"basic"`` (``C`` channels throughout) or ``"widening"``.
        dilations: one rate per dilated layer (default 1, 1, 2, 4, 8, 16, 1).
        kernel_size: taps of each dilated layer.
        causal: causal layers (the field reaches only into the past) or centred.
        widths: width multipliers of the dilated layers for ``"widening"`` (one per
            dilation; default 2, 2, 4, 8, 16, 32, 32 for seven layers).
        init_noise: relative std of the noise on non-identity weights of the
            widening variant (the basic variant starts as an exact identity).
        impl: ``"direct"`` or ``"space_to_batch"`` dilated convolutions.

    Shape:
        ``(B, C, T) -> (B, C, T)``; ``mask``: ``(B, 1, T)`` (1 = valid step)

    A causal module also runs one step at a time (:meth:`init_cache`, :meth:`step`),
    one ring buffer per layer, so it can follow a generator's stack.

    Example:
        >>> m = ContextModule(8)
        >>> x = torch.rand(2, 8, 100)
        >>> torch.allclose(m(x), x), m.receptive_field
        (True, 67)
    """

    def __init__(
        self,
        channels: int,
        variant: str = "basic",
        dilations: Sequence[int] = CONTEXT_DILATIONS,
        kernel_size: int = 3,
        causal: bool = False,
        widths: Sequence[int] | None = None,
        init_noise: float = 1e-3,
        impl: str = "direct",
    ) -> None:
        super().__init__()
        self.channels = check_positive_int("channels", channels)
        self.variant = check_choice("variant", variant, ("basic", "widening"))
        dilations = check_dilations(dilations)
        check_positive_int("kernel_size", kernel_size)
        if init_noise < 0:
            raise ValueError(f"Expected init_noise >= 0, but found {init_noise}.")
        if variant == "basic":
            if widths is not None:
                raise ValueError("widths applies to variant='widening', not 'basic'.")
            multipliers = [1] * len(dilations)
        else:
            multipliers = list(widths) if widths is not None else list(WIDENING)
            if len(multipliers) != len(dilations):
                raise ValueError(f"Expected one width per dilation ({len(dilations)}), "
                                 f"but found {len(multipliers)} widths.")
            for i, w in enumerate(multipliers):
                check_positive_int(f"widths[{i}]", w)
        sizes = [channels] + [channels * w for w in multipliers]
        self.layers = nn.ModuleList(
            DilatedConv1d(c_in, c_out, kernel_size, d, causal=causal, impl=impl)
            for c_in, c_out, d in zip(sizes[:-1], sizes[1:], dilations)
        )
        self.output = DilatedConv1d(sizes[-1], channels, 1, causal=causal)  # the 1x1
        self.reset_parameters(init_noise if variant == "widening" else 0.0)

    @property
    def out_channels(self) -> int:
        return self.channels

    @property
    def receptive_field(self) -> int:
        return receptive_field_of(*(layer.receptive_field for layer in self.layers))

    @property
    def causal(self) -> bool:
        return self.output.causal

    @torch.no_grad()
    def reset_parameters(self, noise: float = 0.0) -> None:
        """Identity initialisation (see the module notes); ``noise`` is relative."""
        for conv in [*self.layers, self.output]:
            c_out, c_in, k = conv.weight.shape
            scale = self.channels / c_out
            group_in = torch.arange(c_in) * self.channels // c_in  # floor(a C / c_in)
            group_out = torch.arange(c_out) * self.channels // c_out  # floor(b C / c_out)
            same = (group_out[:, None] == group_in[None, :]).to(conv.weight.dtype)
            conv.weight.normal_(0.0, noise * scale) if noise > 0 else conv.weight.zero_()
            # The tap that reads the current step: tap i reads step t - pad_left + i d.
            d = conv.dilation[0]
            if conv.pad_left % d:
                raise ValueError(
                    f"Identity initialisation needs a tap at the current step, which a "
                    f"centred filter of kernel_size={k} and dilation={d} lacks; use an odd "
                    "kernel_size or causal=True.")
            now = conv.pad_left // d
            conv.weight[:, :, now][same.bool()] = scale
            conv.bias.zero_()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``mask`` ``(B, 1, T)`` re-zeroes padded steps after each layer."""
        for layer in self.layers:
            x = torch.relu(layer(x))  # (B, c_i, T)
            if mask is not None:
                x = x * mask
        x = self.output(x)  # (B, C, T)
        return x if mask is None else x * mask

    # -- streaming (causal only) -------------------------------------------------------

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> list[RingBuffer]:
        """Empty histories for :meth:`step`: one ring per layer."""
        return [conv.init_cache(batch, device, dtype) for conv in [*self.layers, self.output]]

    def step(self, x: Tensor, cache: list[RingBuffer]) -> tuple[Tensor, list[RingBuffer]]:
        """One step of :meth:`forward`: ``(B, C, 1), cache -> (B, C, 1), cache``."""
        new_cache = []
        for layer, ring in zip(self.layers, cache[:-1], strict=True):
            y, ring = layer.step(x, ring)
            x = torch.relu(y)  # (B, c_i, 1)
            new_cache.append(ring)
        y, ring = self.output.step(x, cache[-1])
        return y, [*new_cache, ring]
