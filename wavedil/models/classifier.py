"""The WaveNet classifier: a front end, the dilated stack, pooling and a linear head.

Shape legend: B batch, T samples, N frames, ``F`` front-end channels, ``R``
residual, ``S`` skip channels, ``K`` classes.

::

    audio (B, T)
      ─ front end (waveform, log-mel, MFCC) ─ 1x1
      ─ body: DilatedStack (causal or centred) ─ Σ skips     (default)
          or any dilated block, e.g. ContextModule, ASPP1d  (body=...)
      ─ ReLU ─ 1x1 ─ ReLU
      ─ Pooling (mean, max, attention; padding masked) ─ Linear ─ logits (B, K)

A ``body`` module maps ``(B, R, N)`` with a ``mask=`` keyword to ``(B, C_b, N)`` and
reports ``out_channels`` and ``receptive_field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn import DilatedStack, Pooling, WaveformFrontend, dilation_schedule, lengths_to_mask
from wavedil.nn.checks import check_positive_int
from wavedil.nn.conv import input_channels_of, receptive_field_of
from wavedil.spec import serializable

__all__ = ["ClassifierState", "WaveNetClassifier"]


class ClassifierState(NamedTuple):
    """What :meth:`WaveNetClassifier.step` carries from chunk to chunk.

    Attributes:
        contexts: per residual block, its last ``(k - 1) * d`` inputs ``(B, R, span)``.
        pooled: the running pooling statistics (see :meth:`Pooling.update`).
        samples: audio samples heard so far.
    """

    contexts: list[Tensor]
    pooled: tuple[Tensor, ...]
    samples: int


@serializable
class WaveNetClassifier(nn.Module):
    """Classify clips with WaveNet's residual stack.

    Args:
        num_classes: number of labels ``K``.
        frontend: waveform -> features module (default: mu-law waveform). See
            :mod:`wavedil.nn.frontends`.
        residual_channels: residual stream width.
        gate_channels: width after each gate.
        skip_channels: skip and head width.
        kernel_size: taps of every dilated convolution.
        dilations: one dilation per block (default 1..64, twice).
        causal: causal blocks (each frame sees only the past) or centred ones.
        pooling: ``"mean"``, ``"max"`` or ``"attention"``.
        dropout: dropout inside blocks and before the linear head.
        separable: depthwise-separable dilated convolutions in the stack.
        conv_impl: ``"direct"`` or ``"space_to_batch"`` dilated convolutions.
        body: a module that replaces the WaveNet stack (its input has
            ``residual_channels``; ``gate_channels``, ``kernel_size``, ``dilations``,
            ``causal``, ``separable`` and ``conv_impl`` then go unused), e.g.
            :class:`~wavedil.nn.ContextModule` or :class:`~wavedil.nn.ASPP1d`.

    Shape:
        - audio: ``(B, T)`` float in [-1, 1]
        - lengths: ``(B,)`` valid samples per clip, or ``None``
        - output: ``(B, K)`` logits

    Example:
        >>> import torch
        >>> clf = WaveNetClassifier(3, residual_channels=8, gate_channels=8,
        ...                         skip_channels=8, dilations=[1, 2])
        >>> clf(torch.randn(4, 500)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        num_classes: int,
        frontend: nn.Module | None = None,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 3,
        dilations: Sequence[int] | None = None,
        causal: bool = False,
        pooling: str = "mean",
        dropout: float = 0.1,
        separable: bool = False,
        conv_impl: str = "direct",
        body: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.frontend = frontend if frontend is not None else WaveformFrontend()
        dilations = list(dilations) if dilations is not None else dilation_schedule(64, 2)
        check_positive_int("residual_channels", residual_channels)
        self.input_proj = nn.Conv1d(self.frontend.out_channels, residual_channels, 1)
        if body is None:
            self.stack: DilatedStack | None = DilatedStack(
                residual_channels,
                gate_channels,
                skip_channels,
                dilations,
                kernel_size=kernel_size,
                causal=causal,
                dropout=dropout,
                separable=separable,
                impl=conv_impl,
            )
            body_channels = skip_channels
        else:
            self.stack = None
            expected = input_channels_of(body)
            if expected is not None and expected != residual_channels:
                raise ValueError(
                    f"Expected a body taking residual_channels={residual_channels} inputs, "
                    f"but {type(body).__name__} takes {expected}.")
            body_channels = body.out_channels
        self.body = body
        self.post = nn.Sequential(
            nn.ReLU(), nn.Conv1d(body_channels, skip_channels, 1), nn.ReLU()
        )
        self.pool = Pooling(pooling, skip_channels)
        self.dropout = nn.Dropout(dropout)
        self.classify = nn.Linear(skip_channels, num_classes)

    @property
    def receptive_field(self) -> int:
        """Input samples one pooled frame depends on, front end included."""
        core = self.stack if self.body is None else self.body
        frames = receptive_field_of(1, core.receptive_field)
        return self.frontend.receptive_field(frames)

    def embed(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Pooled clip embedding ``(B, S)``, before the linear head."""
        feats, frames = self.frontend(audio, lengths)  # (B, F, N)
        h = self.input_proj(feats)  # (B, R, N)
        mask = None if frames is None else lengths_to_mask(frames, h.shape[-1])  # (B, N)
        step_mask = None if mask is None else mask.unsqueeze(1).to(h.dtype)  # (B, 1, N)
        if step_mask is not None:
            h = h * step_mask  # padded frames carry zeros, like conv padding
        if self.stack is not None:
            h = self.stack(h, mask=step_mask).skip  # (B, S, N)
        else:
            h = self.body(h, mask=step_mask)  # (B, C_b, N)
        h = self.post(h)  # (B, S, N)
        return self.pool(h, mask)  # (B, S)

    # -- streaming: audio as it arrives ------------------------------------------------

    def init_state(self, batch: int = 1, device: torch.device | str | None = None
                   ) -> ClassifierState:
        """The state of :meth:`step` before any audio.

        Raises:
            ValueError: a classifier that cannot stream: a centred (non-causal) stack,
                a context or ASPP body, or a spectral front end (its frames reach
                ahead, and it normalises each clip by its whole mean).
        """
        if not isinstance(self.frontend, WaveformFrontend):
            raise ValueError(f"Streaming needs the waveform front end, but this classifier "
                             f"has {type(self.frontend).__name__}: its frames look ahead and "
                             "are normalised by the whole clip.")
        if self.stack is None or not self.stack.blocks[0].causal:
            raise ValueError("Streaming needs a causal dilated stack (model.causal=true, no "
                             "body): a centred one looks ahead.")
        dtype = self.input_proj.weight.dtype
        device = device or self.input_proj.weight.device
        contexts = [block.init_stream(batch, device, dtype) for block in self.stack.blocks]
        pooled = self.pool.init_running(batch, self.classify.in_features, device, dtype)
        return ClassifierState(contexts, pooled, 0)

    def step(self, audio: Tensor, state: ClassifierState) -> tuple[Tensor, ClassifierState]:
        """Logits for everything heard so far, given the next chunk of audio (any
        length >= 1): equal to :meth:`forward` on the whole prefix. Call in eval mode.

        Shape:
            ``audio (B, n), state -> (B, K) logits, state``
        """
        if audio.shape[-1] < 1:
            raise ValueError("Expected a chunk of at least one sample, but found none.")
        feats, _ = self.frontend(audio)  # (B, 1, n)
        h = self.input_proj(feats)  # (B, R, n)
        skip: Tensor | float = 0.0
        contexts = []
        for block, context in zip(self.stack.blocks, state.contexts, strict=True):
            (h, s), context = block.stream(h, context)
            skip = skip + s
            contexts.append(context)
        pooled = self.pool.update(self.post(skip), state.pooled)  # (B, S, n) frames
        logits = self.classify(self.pool.read(pooled))  # (B, K)
        return logits, ClassifierState(contexts, pooled, state.samples + audio.shape[-1])

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.classify(self.dropout(self.embed(audio, lengths)))  # (B, K)
