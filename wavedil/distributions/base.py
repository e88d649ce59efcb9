"""The output distribution interface: how a generator's output channels become
a likelihood and a sample.

Shape legend: B batch, C ``out_channels`` parameters, T time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

__all__ = ["OutputDistribution"]


class OutputDistribution(ABC):
    """A per-timestep distribution over the next audio value.

    A generator ends in ``out_channels`` channels; the distribution reads them as
    its parameters. It also owns the value space: :meth:`encode` maps audio in
    [-1, 1] to the values the model predicts (and reads back as input),
    :meth:`decode` maps them back to audio.
    """

    #: Number of parameter channels the generator must output.
    out_channels: int
    #: Whether values are class indices (long) rather than real numbers.
    discrete: bool

    @abstractmethod
    def encode(self, audio: Tensor) -> Tensor:
        """Audio ``(B, T)`` in [-1, 1] -> values ``(B, T)``."""

    @abstractmethod
    def decode(self, values: Tensor) -> Tensor:
        """Values ``(B, T)`` -> audio ``(B, T)`` in [-1, 1]."""

    @abstractmethod
    def nll(self, params: Tensor, target: Tensor) -> Tensor:
        """Negative log-likelihood in nats: ``(B, C, T), (B, T) -> (B, T)``."""

    @abstractmethod
    def sample(
        self,
        params: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw values: ``(B, C, *) -> (B, *)``; temperature 0 takes the mode."""

    def silence(self) -> float | int:
        """The value of a silent sample (what generation starts from)."""
        return self.encode(torch.zeros(1)).item()

    def silence_values(self, batch: int, device: torch.device | str | None = None) -> Tensor:
        """``(batch,)`` silent values, long codes or float amplitudes as :attr:`discrete` says."""
        return torch.full((batch,), self.silence(), device=device,
                          dtype=torch.long if self.discrete else torch.float32)
