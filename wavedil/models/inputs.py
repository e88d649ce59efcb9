"""How a generator's previous values enter it: input encodings.

Shape legend: B batch, T samples, E encoded channels per step, R residual channels.

Each encoding is a layer ``values (B, T) -> (B, R, T)`` in two parts, so that the
one-step path, the fast sampler and the receptive-field probe need no branches:

* :meth:`encode`: values to a per-step representation ``(B, E, T)`` (a learned
  vector per code, a one-hot vector, or the amplitude itself); no context.
* :meth:`mix`: that representation to the residual stream ``(B, R, T)``: nothing
  for an embedding, a causal convolution of ``kernel_size`` for the others.

and streams like any causal block (:class:`~wavedil.nn.cache.StreamingBlock`):
``init_cache``/``step`` (``(B, 1)`` values in, ``(B, R, 1)`` out). Each subclasses
the layer it is, so a checkpoint's weights keep their names (``input_layer.weight``).

========================  ===================  =================================
``input_encoding``        output distribution  the layer
========================  ===================  =================================
``"embedding"``           discrete (mu-law)    :class:`EmbeddingInput`
``"onehot"``              discrete             :class:`OneHotInput` (WaveNet 2016)
``"continuous"``          continuous (mixture) :class:`ContinuousInput`
========================  ===================  =================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wavedil.nn.cache import RingBuffer
from wavedil.nn.checks import check_choice
from wavedil.nn.conv import CausalConv1d, DilatedConv1d

__all__ = [
    "INPUT_ENCODINGS",
    "ContinuousInput",
    "EmbeddingInput",
    "InputEncoding",
    "OneHotInput",
    "make_input",
    "smooth_code_vectors",
]

INPUT_ENCODINGS = ("embedding", "onehot", "continuous")


class EmbeddingInput(nn.Embedding):
    """Previous codes as learned vectors (one per code): no context, no cache.

    ``init="smooth"`` starts the vectors smooth in the code (:func:`smooth_code_vectors`):
    codes are amplitudes in order, so neighbouring codes start with nearly the same vector
    and the stack sees the amplitude from its first step, instead of 256 unrelated random
    vectors whose order it must learn first: the default tones recipe reaches its quality
    in fewer steps (docs/benchmarks.md, "Time to quality"). ``init="normal"`` (the
    default) is :class:`torch.nn.Embedding`'s N(0, 1) start.

    Example:
        >>> layer = EmbeddingInput(256, 8)
        >>> layer(torch.tensor([[1, 2, 3]])).shape
        torch.Size([1, 8, 3])
    """

    receptive_field = 1

    def __init__(self, classes: int, channels: int, init: str = "normal") -> None:
        # read by reset_parameters, which nn.Embedding's __init__ calls
        self.init = check_choice("init", init, ("smooth", "normal"))
        super().__init__(classes, channels)

    def reset_parameters(self) -> None:
        if self.init == "normal":
            super().reset_parameters()
            return
        with torch.no_grad():
            self.weight.copy_(smooth_code_vectors(self.num_embeddings, self.embedding_dim))

    def encode(self, values: Tensor) -> Tensor:
        return super().forward(values).transpose(1, 2)  # (B, T, R) -> (B, R, T)

    def mix(self, encoded: Tensor) -> Tensor:
        return encoded

    def forward(self, values: Tensor) -> Tensor:
        return self.encode(values)  # (B, R, T)

    def init_cache(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> None:
        return None

    def step(self, values: Tensor, cache: None) -> tuple[Tensor, None]:
        return self.encode(values), None  # (B, R, 1)

    def probe_values(self, length: int, generator: torch.Generator) -> Tensor:
        """Random ``(1, length)`` values to run the model on (receptive-field probes)."""
        return torch.randint(0, self.num_embeddings, (1, length), generator=generator)


def smooth_code_vectors(classes: int, channels: int, cycles: float = 6.0,
                        generator: torch.Generator | None = None) -> Tensor:
    """Random Fourier features of each code's place in the code range: ``(classes,
    channels)``, channel ``j`` of code ``c`` is ``sqrt(2) cos(pi f_j u_c + phi_j)`` with
    ``u_c = (2 c + 1) / classes - 1`` in ``(-1, 1)``, ``f_j`` uniform in ``[0, cycles)``
    (cycles over the range) and ``phi_j`` uniform in ``[0, 2 pi)``. Each entry has
    variance 1 over the phases, as :class:`torch.nn.Embedding`'s N(0, 1) start; nearby
    codes get nearby vectors (at most ``cycles`` periods over the range: 6 over 256
    codes puts neighbours within about 0.2 of each other in each channel).

    Example:
        >>> v = smooth_code_vectors(256, 64, generator=torch.Generator().manual_seed(0))
        >>> v.shape, bool((v[1:] - v[:-1]).abs().max() < 0.21)
        (torch.Size([256, 64]), True)
    """
    codes = (2 * torch.arange(classes, dtype=torch.float64) + 1) / classes - 1  # (classes,)
    freq = torch.rand(channels, generator=generator, dtype=torch.float64) * cycles
    phase = torch.rand(channels, generator=generator, dtype=torch.float64) * 2 * math.pi
    vectors = math.sqrt(2) * torch.cos(math.pi * codes[:, None] * freq + phase)
    return vectors.to(torch.get_default_dtype())


class _ConvInput(CausalConv1d):
    """An encoding followed by a causal convolution over it."""

    def encode(self, values: Tensor) -> Tensor:
        raise NotImplementedError

    def mix(self, encoded: Tensor) -> Tensor:
        return DilatedConv1d.forward(self, encoded)  # (B, R, T)

    def forward(self, values: Tensor) -> Tensor:
        return self.mix(self.encode(values))

    def step(self, values: Tensor, cache: RingBuffer) -> tuple[Tensor, RingBuffer]:
        return super().step(self.encode(values), cache)  # (B, R, 1)


class OneHotInput(_ConvInput):
    """Previous codes as one-hot vectors through a causal convolution (WaveNet, 2016).

    Example:
        >>> layer = OneHotInput(256, 8, kernel_size=2)
        >>> layer(torch.tensor([[1, 2, 3]])).shape, layer.receptive_field
        (torch.Size([1, 8, 3]), 2)
    """

    def __init__(self, classes: int, channels: int, kernel_size: int) -> None:
        super().__init__(classes, channels, kernel_size)

    def encode(self, values: Tensor) -> Tensor:
        return F.one_hot(values, self.in_channels).transpose(1, 2).to(self.weight.dtype)

    def probe_values(self, length: int, generator: torch.Generator) -> Tensor:
        return torch.randint(0, self.in_channels, (1, length), generator=generator)


class ContinuousInput(_ConvInput):
    """Previous amplitudes through a causal convolution (for continuous outputs).

    Example:
        >>> layer = ContinuousInput(8, kernel_size=2)
        >>> layer(torch.zeros(1, 3)).shape
        torch.Size([1, 8, 3])
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__(1, channels, kernel_size)

    def encode(self, values: Tensor) -> Tensor:
        return values.unsqueeze(1).to(self.weight.dtype)  # (B, 1, T)

    def probe_values(self, length: int, generator: torch.Generator) -> Tensor:
        return torch.rand(1, length, dtype=self.weight.dtype, generator=generator) * 2 - 1


InputEncoding = EmbeddingInput | OneHotInput | ContinuousInput


def make_input(encoding: str, classes: int | None, channels: int, kernel_size: int,
               init: str = "normal") -> InputEncoding:
    """The input layer called ``encoding`` (one of :data:`INPUT_ENCODINGS`).

    ``classes`` is the discrete output's number of codes (``None`` for a continuous
    output, which only the ``"continuous"`` encoding takes); ``init`` is how an
    embedding's vectors start (:class:`EmbeddingInput`; the conv inputs ignore it).
    """
    if encoding == "continuous":
        return ContinuousInput(channels, kernel_size)
    if classes is None:
        raise ValueError(f"Expected a discrete output distribution for input_encoding "
                         f"{encoding!r}, but it has no classes.")
    if encoding == "onehot":
        return OneHotInput(classes, channels, kernel_size)
    return EmbeddingInput(classes, channels, init=init)
