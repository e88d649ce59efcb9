"""Mu-law quantised audio with a softmax over the classes (WaveNet, 2016).

Shape legend: B batch, C classes, T time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor

from wavedil.distributions.base import OutputDistribution
from wavedil.nn.checks import check_positive_int
from wavedil.spec import serializable

__all__ = ["MuLawCategorical", "gumbel_argmax"]


def gumbel_argmax(
    logits: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Sample class indices along dim 1 by the Gumbel-max trick.

    ``argmax(logits / temperature + g)`` with ``g`` standard Gumbel noise draws
    from ``softmax(logits / temperature)``. Unlike inverse-CDF sampling, tiny
    differences in ``logits`` (e.g. float rounding between two exact code paths)
    almost never change the result, so two samplers given the same generator
    agree sample for sample.

    Shape:
        ``(B, C, *) -> (B, *)``
    """
    if temperature < 0:
        raise ValueError(f"Expected temperature >= 0, but found {temperature}.")
    if temperature == 0:
        return logits.argmax(dim=1)
    # -log(E) with E ~ Exp(1) is standard Gumbel noise; E is floored so that log stays finite.
    e = torch.empty_like(logits).exponential_(generator=generator)
    log_e = e.clamp_(min=torch.finfo(e.dtype).tiny).log_()
    scaled = logits if temperature == 1.0 else logits / temperature
    return (scaled - log_e).argmax(dim=1)


@serializable
class MuLawCategorical(OutputDistribution):
    """256-way (by default) categorical distribution over mu-law codes.

    Args:
        classes: number of quantisation levels (mu + 1).

    Example:
        >>> dist = MuLawCategorical(256)
        >>> codes = dist.encode(torch.tensor([[-1.0, 0.0, 1.0]]))
        >>> codes.tolist(), dist.silence()
        ([[0, 128, 255]], 128)
    """

    discrete = True

    def __init__(self, classes: int = 256) -> None:
        self.classes = check_positive_int("classes", classes, minimum=2)
        self.out_channels = classes

    def encode(self, audio: Tensor) -> Tensor:
        return AF.mu_law_encoding(audio.clamp(-1.0, 1.0), self.classes)  # (B, T) long

    def decode(self, values: Tensor) -> Tensor:
        return AF.mu_law_decoding(values, self.classes)  # (B, T) float

    def nll(self, params: Tensor, target: Tensor) -> Tensor:
        # in float32 whatever the parameters' precision (bf16 under mixed precision)
        return F.cross_entropy(params.float(), target, reduction="none")  # (B, T)

    def sample(
        self,
        params: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        return gumbel_argmax(params, temperature, generator)

    def __repr__(self) -> str:
        return f"MuLawCategorical(classes={self.classes})"
