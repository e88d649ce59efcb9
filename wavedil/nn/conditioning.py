"""Bring frame-rate conditioning features (e.g. mel frames) to the sample rate.

Shape legend: B batch, N frames, T = N * hop samples, ``F`` feature channels,
``L`` output (local conditioning) channels.

Transposed convolutions upsample with uneven overlap and leave checkerboard
artefacts (Odena et al., 2016), so we upsample by repeating or linearly
interpolating frames and then smooth with an ordinary convolution.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from wavedil.nn.checks import check_choice, check_positive_int

__all__ = ["UPSAMPLE_MODES", "LocalUpsampler"]

UPSAMPLE_MODES = ("repeat", "linear")


class LocalUpsampler(nn.Module):
    """Frame conv -> upsample by ``hop_length`` (repeat or linear) -> sample-rate conv.

    Both convolutions are centred: conditioning features are known for the whole
    clip before generation starts, so looking a little ahead in them is allowed.

    Args:
        in_channels: feature channels per frame ``F`` (e.g. the number of mel bands).
        out_channels: channels handed to the residual blocks ``L``.
        hop_length: samples per frame.
        mode: ``"repeat"`` (each frame held for ``hop_length`` samples) or
            ``"linear"`` (interpolated between frame centres).
        frame_kernel_size: odd kernel of the frame-rate conv (context across frames).
        sample_kernel_size: odd kernel of the sample-rate conv that smooths frame edges.

    Shape:
        ``(B, F, N) -> (B, L, N * hop_length)``

    Example:
        >>> import torch
        >>> up = LocalUpsampler(20, 8, hop_length=64)
        >>> up(torch.randn(2, 20, 10)).shape
        torch.Size([2, 8, 640])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hop_length: int,
        mode: str = "repeat",
        frame_kernel_size: int = 3,
        sample_kernel_size: int = 5,
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("out_channels", out_channels)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.mode = check_choice("mode", mode, UPSAMPLE_MODES)
        for name, k in (("frame_kernel_size", frame_kernel_size),
                        ("sample_kernel_size", sample_kernel_size)):
            check_positive_int(name, k)
            if k % 2 == 0:
                raise ValueError(f"Expected {name} to be odd (a centred conv), but found {k}.")
        self.frame_conv = nn.Conv1d(
            in_channels, out_channels, frame_kernel_size, padding=frame_kernel_size // 2
        )
        self.sample_conv = nn.Conv1d(
            out_channels, out_channels, sample_kernel_size, padding=sample_kernel_size // 2
        )

    def forward(self, features: Tensor) -> Tensor:
        h = F.leaky_relu(self.frame_conv(features), 0.2)  # (B, L, N)
        if self.mode == "repeat":
            h = h.repeat_interleave(self.hop_length, dim=-1)  # (B, L, N * hop)
        else:
            h = F.interpolate(h, scale_factor=self.hop_length, mode="linear")  # (B, L, N * hop)
        return self.sample_conv(h)  # (B, L, N * hop)
