"""Feature-space augmentation for the spectral front ends, active in training only:
:class:`SpecAugment` masks (Park et al., 2019) and :class:`MelWarp`, a random
stretch of the mel axis (vocal tract length perturbation). Each is a module handed
to a front end (``LogMelFrontend(..., spec_augment=SpecAugment(...), warp=MelWarp(...))``);
in eval mode both return their input unchanged.

Shape legend: B batch, C channels (mel bands or coefficients), N frames.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from wavedil.nn.checks import check_positive_int
from wavedil.spec import serializable

__all__ = ["MelWarp", "SpecAugment", "random_masks", "warp_channels"]


@serializable
class SpecAugment(nn.Module):
    """Blank random bands of channels and of frames per clip, in training.

    A masked value becomes 0, which after a front end's per-clip mean
    normalisation is the clip's mean: no single band or moment can decide the
    class.

    Args:
        freq_masks: bands of channels masked per clip.
        freq_mask_width: widest such band (each draws a width in 0..this).
        time_masks: bands of frames masked per clip (within its valid frames).
        time_mask_width: widest such band.

    Shape:
        ``(B, C, N), lengths (B,) or None -> (B, C, N)``

    Example:
        >>> masks = SpecAugment(freq_masks=1, freq_mask_width=4).train()
        >>> masks(torch.ones(2, 10, 5)).shape
        torch.Size([2, 10, 5])
    """

    def __init__(self, freq_masks: int = 1, freq_mask_width: int = 8, time_masks: int = 2,
                 time_mask_width: int = 8) -> None:
        super().__init__()
        self.freq_masks = check_positive_int("freq_masks", freq_masks, minimum=0)
        self.freq_mask_width = check_positive_int("freq_mask_width", freq_mask_width)
        self.time_masks = check_positive_int("time_masks", time_masks, minimum=0)
        self.time_mask_width = check_positive_int("time_mask_width", time_mask_width)

    def forward(self, feats: Tensor, lengths: Tensor | None = None) -> Tensor:
        if not self.training:
            return feats
        feats = random_masks(feats, self.freq_masks, self.freq_mask_width, dim=1)
        return random_masks(feats, self.time_masks, self.time_mask_width, dim=2,
                            lengths=lengths)

    def extra_repr(self) -> str:
        return (f"freq_masks={self.freq_masks}, freq_mask_width={self.freq_mask_width}, "
                f"time_masks={self.time_masks}, time_mask_width={self.time_mask_width}")


@serializable
class MelWarp(nn.Module):
    """Stretch each clip's mel axis by random factors within ``1 +- amount``, in
    training: the formant shift of a longer or shorter vocal tract.

    Args:
        amount: largest relative stretch, in (0, 0.5).
        segments: equal stretches of the axis that draw their own factor (1: one
            stretch of the whole axis; 2 or 3 move the low formants apart from the
            high ones, as between accents).

    Shape:
        ``(B, C, N) -> (B, C, N)``
    """

    def __init__(self, amount: float = 0.1, segments: int = 1) -> None:
        super().__init__()
        if not 0.0 < amount < 0.5:
            raise ValueError(f"Expected the warp amount in (0, 0.5), but found {amount}.")
        self.amount = amount
        self.segments = check_positive_int("segments", segments)

    def forward(self, bands: Tensor) -> Tensor:
        if not self.training:
            return bands
        return warp_channels(bands, self.amount, self.segments)

    def extra_repr(self) -> str:
        return f"amount={self.amount}, segments={self.segments}"


def warp_channels(feats: Tensor, amount: float, segments: int = 1) -> Tensor:
    """Stretch each clip's channel axis of ``(B, C, N)`` by random factors in
    ``[1 - amount, 1 + amount]`` (linear interpolation, edges held).

    ``segments`` equal stretches of the axis each draw their own factor: a
    continuous, monotone, piecewise-linear warp."""
    batch, channels = feats.shape[:2]
    factor = 1 + amount * (2 * torch.rand(batch, segments, device=feats.device) - 1)  # (B, S)
    segment = torch.arange(channels, device=feats.device) * segments // channels  # (C,)
    slope = factor[:, segment]  # (B, C): stretch of the step from channel c to c + 1
    # source position of output channel c: the sum of the stretches below it
    pos = torch.cat([torch.zeros(batch, 1, device=feats.device), slope[:, :-1].cumsum(1)], 1)
    pos = pos.clamp(max=channels - 1)
    low = pos.floor().long()  # (B, C)
    high = (low + 1).clamp(max=channels - 1)
    frac = (pos - low).unsqueeze(-1)  # (B, C, 1)

    def pick(index: Tensor) -> Tensor:
        return feats.gather(1, index.unsqueeze(-1).expand(-1, -1, feats.shape[-1]))

    return pick(low) * (1 - frac) + pick(high) * frac


def random_masks(feats: Tensor, count: int, width: int, dim: int,
                 lengths: Tensor | None = None) -> Tensor:
    """Zero ``count`` random bands of up to ``width`` steps along ``dim`` (1: channels,
    2: frames) of each clip of ``(B, C, N)`` features, within its valid ``lengths``."""
    batch, size = feats.shape[0], feats.shape[dim]
    extent = (lengths if lengths is not None else torch.full((batch,), size)).to(feats.device)
    steps = torch.arange(size, device=feats.device)  # (size,)
    for _ in range(count):
        w = torch.randint(0, width + 1, (batch,), device=feats.device)  # (B,)
        start = (torch.rand(batch, device=feats.device) * (extent - w).clamp(min=1)).long()
        band = (steps >= start[:, None]) & (steps < (start + w)[:, None])  # (B, size)
        feats = feats.masked_fill(band.unsqueeze(2 if dim == 1 else 1), 0.0)
    return feats
