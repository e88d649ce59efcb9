"""Pool a ``(B, C, T)`` sequence to ``(B, C)``, ignoring padded steps.

Shape legend: B batch, C channels, T time; ``mask`` is ``(B, T)``, True where valid.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from wavedil.nn.checks import check_choice, check_positive_int

__all__ = ["POOLING_KINDS", "Pooling", "lengths_to_mask"]

POOLING_KINDS = ("mean", "max", "attention")


def lengths_to_mask(lengths: Tensor, max_length: int) -> Tensor:
    """``(B,)`` valid lengths -> ``(B, max_length)`` bool mask, True where valid.

    Example:
        >>> lengths_to_mask(torch.tensor([1, 3]), 3).int().tolist()
        [[1, 0, 0], [1, 1, 1]]
    """
    steps = torch.arange(max_length, device=lengths.device)  # (T,)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


class Pooling(nn.Module):
    """Mean, max or attention pooling over time.

    Attention pooling learns a score per step (a 1x1 conv), softmaxes it over
    the valid steps and returns the weighted mean.

    Args:
        kind: ``"mean"``, ``"max"`` or ``"attention"``.
        channels: ``C``, needed by attention pooling.

    Shape:
        ``(B, C, T), mask (B, T) or None -> (B, C)``

    Example:
        >>> pool = Pooling("max", 4)
        >>> x = torch.arange(6.).view(1, 1, 6).expand(1, 4, 6)
        >>> pool(x, lengths_to_mask(torch.tensor([3]), 6))[0, 0].item()
        2.0
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.kind = check_choice("pooling", kind, POOLING_KINDS)
        check_positive_int("channels", channels)
        self.score = nn.Conv1d(channels, 1, 1) if kind == "attention" else None

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            mask = torch.ones(x.shape[0], x.shape[-1], dtype=torch.bool, device=x.device)
        valid = mask.unsqueeze(1)  # (B, 1, T)
        if self.kind == "max":
            return x.masked_fill(~valid, float("-inf")).amax(dim=-1)  # (B, C)
        if self.kind == "mean":
            total = (x * valid).sum(dim=-1)  # (B, C)
            return total / valid.sum(dim=-1).clamp(min=1)
        assert self.score is not None
        scores = self.score(x).masked_fill(~valid, float("-inf"))  # (B, 1, T)
        weights = scores.softmax(dim=-1)  # (B, 1, T)
        return (x * weights).sum(dim=-1)  # (B, C)

    # -- running pooling, chunk by chunk ---------------------------------------------------

    def init_running(self, batch: int, channels: int, device: torch.device | str | None = None,
                     dtype: torch.dtype | None = None) -> tuple[Tensor, ...]:
        """Statistics of no frames yet, for :meth:`update` and :meth:`read`."""
        zeros = functools.partial(torch.zeros, device=device, dtype=dtype)
        if self.kind == "mean":  # sum, count
            return zeros(batch, channels), zeros(batch, 1)
        if self.kind == "max":
            return (torch.full((batch, channels), float("-inf"), device=device, dtype=dtype),)
        # attention: running max score, softmax denominator and weighted sum
        return (torch.full((batch, 1), float("-inf"), device=device, dtype=dtype),
                zeros(batch, 1), zeros(batch, channels))

    def update(self, x: Tensor, stats: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """``stats`` after the frames ``x`` ``(B, C, n)`` that follow those seen."""
        if self.kind == "mean":
            total, count = stats
            return total + x.sum(dim=-1), count + x.shape[-1]
        if self.kind == "max":
            return (torch.maximum(stats[0], x.amax(dim=-1)),)
        assert self.score is not None
        peak, denominator, weighted = stats
        scores = self.score(x)  # (B, 1, n)
        new_peak = torch.maximum(peak, scores.amax(dim=-1))  # (B, 1)
        rescale = torch.exp(peak - new_peak)  # 0 while nothing was seen
        e = torch.exp(scores - new_peak.unsqueeze(-1))  # (B, 1, n)
        return (new_peak, denominator * rescale + e.sum(dim=-1),
                weighted * rescale + (x * e).sum(dim=-1))

    def read(self, stats: tuple[Tensor, ...]) -> Tensor:
        """The pooled ``(B, C)`` of every frame seen: equal to :meth:`forward` on them."""
        if self.kind == "mean":
            return stats[0] / stats[1].clamp(min=1)
        if self.kind == "max":
            return stats[0]
        return stats[2] / stats[1]

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
