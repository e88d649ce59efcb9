"""The WaveNet classifier: a front end, the dilated stack, pooling and a linear head.

Shape legend: B batch, T samples, N frames, ``F`` front-end channels, ``R``
residual, ``S`` skip channels, ``K`` classes.

::

    audio (B, T)
      ─ front end (waveform, log-mel, MFCC) ─ 1x1
      ─ DilatedStack (causal or centred) ─ Σ skips ─ ReLU ─ 1x1 ─ ReLU
      ─ Pooling (mean, max, attention; padding masked) ─ Linear ─ logits (B, K)
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from wavedil.nn import DilatedStack, Pooling, WaveformFrontend, dilation_schedule, lengths_to_mask
from wavedil.nn.checks import check_positive_int
from wavedil.nn.conv import receptive_field_of
from wavedil.spec import serializable

__all__ = ["WaveNetClassifier"]


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
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        self.frontend = frontend if frontend is not None else WaveformFrontend()
        dilations = list(dilations) if dilations is not None else dilation_schedule(64, 2)
        self.input_proj = nn.Conv1d(self.frontend.out_channels, residual_channels, 1)
        self.stack = DilatedStack(
            residual_channels,
            gate_channels,
            skip_channels,
            dilations,
            kernel_size=kernel_size,
            causal=causal,
            dropout=dropout,
        )
        self.post = nn.Sequential(
            nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1), nn.ReLU()
        )
        self.pool = Pooling(pooling, skip_channels)
        self.dropout = nn.Dropout(dropout)
        self.classify = nn.Linear(skip_channels, num_classes)

    @property
    def receptive_field(self) -> int:
        """Input samples one pooled frame depends on, front end included."""
        frames = receptive_field_of(1, self.stack.receptive_field)
        return self.frontend.receptive_field(frames)

    def embed(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Pooled clip embedding ``(B, S)``, before the linear head."""
        feats, frames = self.frontend(audio, lengths)  # (B, F, N)
        h = self.input_proj(feats)  # (B, R, N)
        mask = None if frames is None else lengths_to_mask(frames, h.shape[-1])  # (B, N)
        step_mask = None if mask is None else mask.unsqueeze(1).to(h.dtype)  # (B, 1, N)
        if step_mask is not None:
            h = h * step_mask  # padded frames carry zeros, like conv padding
        h = self.post(self.stack(h, mask=step_mask).skip)  # (B, S, N)
        return self.pool(h, mask)  # (B, S)

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.classify(self.dropout(self.embed(audio, lengths)))  # (B, K)
