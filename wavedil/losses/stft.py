"""Multi-resolution STFT loss (Yamamoto, Song and Kim, 2020: Parallel WaveGAN).

Shape legend: B batch, T samples, K frequency bins, N frames.

For one resolution (FFT size, hop, Hann window length), with ``S`` and ``S^`` the
STFT magnitudes of the reference and the estimate:

    spectral convergence  L_sc  = || |S| - |S^| ||_F / || |S| ||_F
    log magnitude         L_mag = mean | log |S| - log |S^| |

(magnitudes floored at ``eps`` before the log), and the multi-resolution loss is the
mean of ``L_sc + L_mag`` over the resolutions: a short window sees the timing, a long
one the harmonics. Both terms count what mel-cepstral and log-mel distances count,
which a sampled likelihood does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn.checks import MAX_FFT, check_positive_int

__all__ = ["MultiResolutionSTFTLoss", "STFTLoss", "STFTLosses"]


class STFTLosses(NamedTuple):
    """The two terms of a (multi-resolution) STFT loss; their sum is the loss."""

    spectral_convergence: Tensor
    log_magnitude: Tensor

    @property
    def total(self) -> Tensor:
        return self.spectral_convergence + self.log_magnitude


class STFTLoss(nn.Module):
    """Spectral convergence and log-magnitude distance at one resolution.

    Args:
        n_fft: FFT size.
        hop_length: samples between frames.
        win_length: Hann window length (at most ``n_fft``).
        eps: magnitude floor before the log (and in the convergence's denominator).

    Shape:
        ``estimate (B, T), reference (B, T) -> STFTLosses(() , ())``

    Example:
        >>> loss = STFTLoss(256, 64, 256)
        >>> x = torch.randn(2, 2000)
        >>> [round(float(v), 4) for v in loss(x, x)]
        [0.0, 0.0]
    """

    def __init__(self, n_fft: int, hop_length: int, win_length: int, eps: float = 1e-7) -> None:
        super().__init__()
        self.n_fft = check_positive_int("n_fft", n_fft, minimum=4, maximum=MAX_FFT)
        self.hop_length = check_positive_int("hop_length", hop_length)
        self.win_length = check_positive_int("win_length", win_length, maximum=n_fft)
        if not eps > 0:
            raise ValueError(f"Expected eps > 0, but found {eps!r}.")
        self.eps = eps
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)

    def magnitude(self, audio: Tensor) -> Tensor:
        """``(B, T) -> (B, K, N)`` STFT magnitude, floored at ``eps``, in float32."""
        if audio.dim() != 2:
            raise ValueError(f"Expected audio of shape (B, T), but found {tuple(audio.shape)}.")
        spec = torch.stft(audio.float(), self.n_fft, self.hop_length, self.win_length,
                          window=self.window.float(), return_complex=True)
        return spec.abs().clamp(min=self.eps)

    def forward(self, estimate: Tensor, reference: Tensor) -> STFTLosses:
        if estimate.shape != reference.shape:
            raise ValueError(f"Expected estimate and reference of one shape, but found "
                             f"{tuple(estimate.shape)} and {tuple(reference.shape)}.")
        est, ref = self.magnitude(estimate), self.magnitude(reference)
        convergence = torch.linalg.norm(ref - est) / torch.linalg.norm(ref)
        log_magnitude = (ref.log() - est.log()).abs().mean()
        return STFTLosses(convergence, log_magnitude)


class MultiResolutionSTFTLoss(nn.Module):
    """The mean of :class:`STFTLoss` over several resolutions.

    Args:
        resolutions: ``(n_fft, hop_length, win_length)`` triples; the default suits
            8 kHz (Parallel WaveGAN's 24 kHz set scaled by 1/3, rounded): 32-ms,
            64-ms and 16-ms windows.
        eps: magnitude floor.

    Example:
        >>> loss = MultiResolutionSTFTLoss()
        >>> x = torch.randn(1, 4000)
        >>> round(float(loss(2 * x, x).spectral_convergence), 4)  # |2 - 1| at every resolution
        1.0
    """

    def __init__(self, resolutions: Sequence[Sequence[int]] = ((256, 40, 200), (512, 80, 400),
                                                                  (128, 16, 80)),
                 eps: float = 1e-7) -> None:
        super().__init__()
        if not resolutions:
            raise ValueError("Expected at least one resolution, but found none.")
        self.losses = nn.ModuleList(STFTLoss(*(int(v) for v in r), eps=eps) for r in resolutions)

    def forward(self, estimate: Tensor, reference: Tensor) -> STFTLosses:
        parts = [loss(estimate, reference) for loss in self.losses]
        n = len(parts)
        return STFTLosses(sum(p.spectral_convergence for p in parts) / n,
                          sum(p.log_magnitude for p in parts) / n)
