"""The streaming cache of a causal dilated convolution: a ring buffer (FIFO) of
the last ``(k - 1) * dilation`` inputs, written at an index instead of shifted.

Shape legend: B batch, C channels, L ring length.

A causal conv with kernel ``k`` and dilation ``d`` needs, at step ``t``, the
inputs ``x[t - j d]`` for ``j = 0 .. k - 1``. The ring holds
``x[t - L] .. x[t - 1]`` with ``x[s]`` in slot ``s mod L`` (``L = (k - 1) d``),
so one step reads ``k - 1`` slots and overwrites one: O(1) work per layer,
never a copy of the whole history.

:class:`StreamingBlock` is what every causal block that runs one step at a time
offers: ``init_cache`` once, then ``step`` with the cache passed in and out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["RingBuffer", "StreamingBlock"]


@runtime_checkable
class StreamingBlock(Protocol):
    """A causal block that runs one step at a time, its cache explicit.

    Shape:
        ``step: (B, C, 1), cache -> (B, C', 1), cache``
    """

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> Any: ...

    def step(self, x: Tensor, cache: Any) -> tuple[Tensor, Any]: ...


class RingBuffer(NamedTuple):
    """Past inputs of one causal conv, created by :meth:`zeros` and passed in and
    out of ``step`` calls.

    Attributes:
        buffer: ``(B, C, L)``; ``x[s]`` lives in slot ``s mod L``. Mutated in place by
            :meth:`push` (the tensor is the cache; the tuple is its handle).
        index: number of steps pushed so far (the next step's time index ``t``).

    Example:
        >>> ring = RingBuffer.zeros(1, 1, 3)
        >>> for v in (1.0, 2.0, 3.0, 4.0):
        ...     ring = ring.push(torch.tensor([[[v]]]))
        >>> [float(x) for x in ring.read([1, 2, 3])]   # x[t-1], x[t-2], x[t-3]
        [4.0, 3.0, 2.0]
    """

    buffer: Tensor
    index: int = 0

    @classmethod
    def zeros(cls, batch: int, channels: int, length: int,
              device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> RingBuffer:
        """An empty history: zeros, exactly what causal zero padding feeds ``forward``."""
        return cls(torch.zeros(batch, channels, length, device=device, dtype=dtype), 0)

    @property
    def length(self) -> int:
        return self.buffer.shape[-1]

    def read(self, delays: Sequence[int]) -> list[Tensor]:
        """``x[t - delay]`` for each delay in ``1 .. L``, each ``(B, C, 1)``."""
        out = []
        for delay in delays:
            if not 1 <= delay <= self.length:
                raise ValueError(f"Expected a delay in [1, {self.length}], but found {delay}.")
            slot = (self.index - delay) % self.length
            out.append(self.buffer[..., slot:slot + 1])
        return out

    def push(self, x: Tensor) -> RingBuffer:
        """Store ``x[t]`` (``(B, C, 1)``) over the oldest entry; returns the advanced handle."""
        if self.length:
            slot = self.index % self.length
            self.buffer[..., slot:slot + 1] = x
        return RingBuffer(self.buffer, self.index + 1)
