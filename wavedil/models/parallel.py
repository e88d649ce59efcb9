"""A parallel (non-autoregressive) WaveNet vocoder and its discriminator (Yamamoto,
Song and Kim, 2020: Parallel WaveGAN).

Shape legend: B batch, F mel bands, N frames, T = N * hop samples, ``R`` residual,
``S`` skip, ``L`` upsampled local channels, ``D`` discriminator channels.

::

    Gaussian noise z (B, 1, T) ─ 1x1 ─▶ DilatedStack (centred) ◄── mel frames ─ LocalUpsampler
                                            │ Σ skips
                                            ▼
                                  ReLU ─ 1x1 ─ ReLU ─ 1x1 ─▶ waveform (B, T)

With ``envelope=True`` (a source-filter parallel vocoder) the network's output is an
*excitation*, and :class:`SpectralEnvelope` gives it the spectral envelope the mel
frames describe (STFT, each frame normalised to unit mean power and multiplied by the
envelope, inverse STFT): the envelope, which is what MCD and log-mel distance score,
comes from the frames by construction, and the network is left the fine structure
(harmonics, voicing, noise), as LPCNet leaves its network the excitation.

The same residual blocks as the autoregressive WaveNet, centred instead of causal:
every output sample sees ``receptive_field // 2`` samples of noise and conditioning
on each side, and the whole clip comes out of one forward pass. Trained with the
multi-resolution STFT loss (:mod:`wavedil.losses`) and, from a chosen step, the
least-squares adversarial loss of :class:`WaveDiscriminator`: non-causal dilated
1-D convolutions with leaky ReLU scoring every position of a waveform as real or
generated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from wavedil.dsp.lpc import mel_to_linear_power
from wavedil.models.highpass import SynthesisHighpass
from wavedil.nn import DilatedStack, LocalUpsampler, dilation_schedule
from wavedil.nn.checks import check_dilations, check_positive_int
from wavedil.nn.conv import DilatedConv1d, receptive_field_of
from wavedil.spec import serializable

__all__ = ["ParallelWaveNet", "SpectralEnvelope", "WaveDiscriminator"]


class SpectralEnvelope(nn.Module):
    """Give an excitation the spectral envelope of log-mel frames.

    The excitation's STFT (Hann window of ``n_fft``, hop ``hop_length``, centred
    frames: frame ``i`` on sample ``i * hop``, as the mel frames are) has each frame
    normalised to unit mean power over its bins (above a floor: an excitation of RMS
    below about 0.1 comes out quieter) and multiplied by the magnitude of
    the frame's envelope: the mel power back to a power spectrum by interpolating
    each band's density (:func:`~wavedil.dsp.lpc.mel_to_linear_power`: smooth, never
    negative); the inverse STFT is the output. A white excitation comes out with the
    frames' envelope and their energy; the excitation decides the fine structure.

    Args:
        sample_rate, n_mels, n_fft, hop_length, f_min, f_max: the frames' mel settings
            (as :func:`~wavedil.data.features.mel_extractor` computes them).

    Shape:
        ``excitation (B, T), frames (B, F, N) -> (B, T)`` with ``T = N * hop``

    Example:
        >>> env = SpectralEnvelope(8000, n_mels=20, n_fft=256, hop_length=64)
        >>> env(torch.randn(2, 320), torch.zeros(2, 20, 5)).shape
        torch.Size([2, 320])
    """

    def __init__(self, sample_rate: int, n_mels: int, n_fft: int, hop_length: int,
                 f_min: float = 0.0, f_max: float | None = None) -> None:
        super().__init__()
        self.n_mels = check_positive_int("n_mels", n_mels)
        self.n_fft = check_positive_int("n_fft", n_fft, minimum=4)
        self.hop_length = check_positive_int("hop_length", hop_length)
        if hop_length > n_fft // 2:
            raise ValueError(f"Expected hop_length <= n_fft / 2 = {n_fft // 2} (overlapping "
                             f"frames to add back), but found {hop_length}.")
        with torch.device("cpu"):
            fb = torchaudio.functional.melscale_fbanks(
                n_fft // 2 + 1, f_min, f_max if f_max is not None else sample_rate / 2,
                n_mels, sample_rate)  # (K, F)
            # the interpolation is linear in the mel power: one (F, K) matrix
            inverse = mel_to_linear_power(torch.eye(n_mels, dtype=fb.dtype), fb, "interpolate")
            analysis, synthesis, window_square = _stft_kernels(n_fft)
        self.register_buffer("inverse", inverse, persistent=False)
        self.register_buffer("analysis", analysis, persistent=False)
        self.register_buffer("synthesis", synthesis, persistent=False)
        self.register_buffer("window_square", window_square, persistent=False)
        #: a floor under each frame's power: an excitation of RMS above about 0.1 is
        #: normalised, a quieter one comes out quieter, so that the network cannot
        #: shrink its output without bound (a scale-free output destabilises training)
        self.floor = 0.01 * float(window_square.sum())

    @property
    def reach(self) -> int:
        """Samples of excitation (and of frames' centres) on each side that one output
        sample depends on: the frames overlapping it, and the samples those frames
        cover."""
        return self.n_fft

    def forward(self, excitation: Tensor, frames: Tensor) -> Tensor:
        """The STFT and its inverse as (transposed) convolutions with the DFT's basis,
        as ``torch.stft``/``torch.istft`` compute them (Hann window, centred frames with
        reflected edges), so that the whole vocoder exports as one program."""
        length, half, dtype = excitation.shape[-1], self.n_fft // 2, excitation.dtype
        padded = F.pad(excitation.unsqueeze(1), (half, half), mode="reflect")  # (B, 1, T + n)
        spec = F.conv1d(padded, self.analysis.to(dtype), stride=self.hop_length)  # (B, 2K, N+1)
        bins = spec.shape[1] // 2
        power = frames.transpose(1, 2).exp() @ self.inverse.to(frames.dtype)  # (B, N, K)
        power = torch.cat([power, power[:, -1:]], dim=1).transpose(1, 2).to(dtype)  # (B,K,N+1)
        mean = spec.square().sum(dim=1, keepdim=True) / bins  # (B, 1, N + 1): |X|^2 over bins
        gain = torch.sqrt(power / (mean + self.floor))  # (B, K, N + 1)
        shaped = spec * torch.cat([gain, gain], dim=1)  # (B, 2K, N + 1)
        added = F.conv_transpose1d(shaped, self.synthesis.to(dtype), stride=self.hop_length)
        norm = F.conv_transpose1d(torch.ones_like(shaped[:1, :1]),
                                  self.window_square.to(dtype), stride=self.hop_length)
        out = added / torch.where(norm > 1e-11, norm, torch.ones_like(norm))  # (B, 1, T + n)
        return out[:, 0, half:half + length]  # (B, T)


def _stft_kernels(n_fft: int) -> tuple[Tensor, Tensor, Tensor]:
    """Convolution kernels of a Hann-windowed real DFT of ``n_fft`` points: analysis
    ``(2K, 1, n_fft)`` (real parts, then imaginary), synthesis ``(2K, 1, n_fft)`` (the
    inverse real DFT of each frame times the window, for overlap-add) and the squared
    window ``(1, 1, n_fft)`` (what the overlap-add divides by); ``K = n_fft // 2 + 1``."""
    window = torch.hann_window(n_fft, dtype=torch.float64)
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
    angle = 2 * math.pi * k[:, None] * n[None, :] / n_fft  # (K, n_fft)
    analysis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window  # (2K, n_fft)
    weight = torch.full((len(k), 1), 2.0, dtype=torch.float64)  # each bin and its mirror
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0  # Nyquist
    synthesis = torch.cat([weight * torch.cos(angle), -weight * torch.sin(angle)]) / n_fft
    return (analysis.float().unsqueeze(1), (synthesis * window).float().unsqueeze(1),
            window.square().float().view(1, 1, -1))


@serializable
class ParallelWaveNet(SynthesisHighpass, nn.Module):
    """Noise and mel frames in, a waveform out, in one pass.

    Args:
        local_channels: mel bands per frame ``F``.
        local_hop_length: samples per frame.
        residual_channels, gate_channels, skip_channels: widths, as :class:`WaveNet`'s.
        kernel_size: taps of every dilated convolution (odd: centred).
        dilations: one per residual block (default: 1..64, twice: 14 layers, a field
            of 509 samples at kernel 3).
        local_upsample: ``"repeat"`` or ``"linear"`` (see :class:`LocalUpsampler`).
        local_hidden_channels: channels after upsampling (default: ``local_channels``).
        dropout: dropout inside the residual blocks.
        sample_rate: the audio's rate in Hz (for ``highpass_hz`` and ``envelope``).
        highpass_hz: a synthesis setting, as :class:`WaveNet`'s.
        envelope: the network makes an excitation that :class:`SpectralEnvelope`
            shapes by the frames' envelope (needs ``sample_rate`` and ``n_fft``).
        n_fft, f_min, f_max: the frames' mel settings, for ``envelope``.

    Shape:
        ``local_cond (B, F, N), noise (B, T)? -> (B, T)`` with ``T = N * hop``

    Example:
        >>> net = ParallelWaveNet(20, 64, 8, 8, 8, dilations=[1, 2, 4])
        >>> net(torch.randn(2, 20, 5)).shape, net.receptive_field
        (torch.Size([2, 320]), 15)
    """

    def __init__(
        self,
        local_channels: int,
        local_hop_length: int,
        residual_channels: int = 32,
        gate_channels: int = 64,
        skip_channels: int = 32,
        kernel_size: int = 3,
        dilations: Sequence[int] | None = None,
        local_upsample: str = "linear",
        local_hidden_channels: int | None = None,
        dropout: float = 0.0,
        sample_rate: int | None = None,
        highpass_hz: float | None = None,
        envelope: bool = False,
        n_fft: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"Expected an odd kernel_size (centred convolutions), but found "
                             f"{kernel_size}.")
        self.local_channels = check_positive_int("local_channels", local_channels)
        dilations = list(dilations) if dilations is not None else dilation_schedule(64, 2)
        hidden = local_hidden_channels or local_channels
        self.input_layer = nn.Conv1d(1, residual_channels, 1)
        self.local_upsampler = LocalUpsampler(local_channels, hidden, local_hop_length,
                                              mode=local_upsample)
        self.stack = DilatedStack(residual_channels, gate_channels, skip_channels, dilations,
                                  kernel_size=kernel_size, causal=False, local_channels=hidden,
                                  dropout=dropout)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1),
                                  nn.ReLU(), nn.Conv1d(skip_channels, 1, 1))
        self.envelope: SpectralEnvelope | None = None
        if envelope:
            if sample_rate is None or n_fft is None:
                raise ValueError("envelope=True shapes by the mel frames' envelope: expected "
                                 f"sample_rate and n_fft, but found {sample_rate} and {n_fft}.")
            self.envelope = SpectralEnvelope(sample_rate, local_channels, n_fft,
                                             local_hop_length, f_min, f_max)
        self.sample_rate, self.highpass_hz = sample_rate, None
        if highpass_hz is not None:
            self.set_highpass(highpass_hz, sample_rate)

    @property
    def hop_length(self) -> int:
        return self.local_upsampler.hop_length

    @property
    def min_frames(self) -> int:
        """The fewest frames it vocodes: 1, or with ``envelope`` enough for the STFT's
        reflected edges (more than ``n_fft // 2`` samples)."""
        if self.envelope is None:
            return 1
        return self.envelope.n_fft // 2 // self.hop_length + 1

    @property
    def receptive_field(self) -> int:
        """Noise samples one output sample depends on (half of them ahead): the stack's
        field, and with ``envelope`` the STFT's reach on each side too (a bound: the
        Hann window's ends weigh nothing)."""
        reach = 0 if self.envelope is None else self.envelope.reach
        return self.stack.receptive_field + 2 * reach

    def check_frames(self, local_cond: Tensor) -> None:
        """Refuse frames of the wrong shape or with NaN/Inf, naming what was expected."""
        if local_cond.dim() != 3 or local_cond.shape[1] != self.local_channels:
            raise ValueError(f"Expected mel frames of shape (B, {self.local_channels}, N), but "
                             f"found {tuple(local_cond.shape)}.")
        if not torch.isfinite(local_cond).all():
            raise ValueError("Expected finite mel frames, but found NaN or Inf.")
        if local_cond.shape[-1] < self.min_frames:
            raise ValueError(f"Expected at least {self.min_frames} mel frames (the envelope's "
                             f"STFT reflects {self.envelope.n_fft // 2} samples at each end), "
                             f"but found {local_cond.shape[-1]}.")

    def noise(self, batch: int, length: int, generator: torch.Generator | None = None,
              device: torch.device | str | None = None) -> Tensor:
        """Standard Gaussian noise ``(B, T)``, the generator's input."""
        return torch.randn(batch, length, generator=generator,
                           device=device or self.input_layer.weight.device)

    def forward(self, local_cond: Tensor, noise: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        self.check_frames(local_cond)
        length = local_cond.shape[-1] * self.hop_length
        if noise is None:
            noise = self.noise(local_cond.shape[0], length, generator, local_cond.device)
        if noise.shape != (local_cond.shape[0], length):
            raise ValueError(f"Expected noise of shape ({local_cond.shape[0]}, {length}) for "
                             f"{local_cond.shape[-1]} frames of {self.hop_length}, but found "
                             f"{tuple(noise.shape)}.")
        return self.generate(local_cond, noise)

    def generate(self, local_cond: Tensor, noise: Tensor) -> Tensor:
        """The network itself, without :meth:`forward`'s checks (what an exported
        program holds): frames ``(B, F, N)`` and noise ``(B, N * hop)`` -> ``(B, N * hop)``."""
        local = self.local_upsampler(local_cond)  # (B, L, T)
        h = self.input_layer(noise.unsqueeze(1).to(local.dtype))  # (B, R, T)
        skip = self.stack(h, local).skip  # (B, S, T)
        out = self.head(skip)[:, 0]  # (B, T)
        return out if self.envelope is None else self.envelope(out, local_cond)

    @property
    def context_frames(self) -> int:
        """Frames on each side of a chunk that its outputs depend on: the stack's half
        field and the sample-rate conv's reach in samples, the linear upsampling's
        neighbour frame and the frame-rate conv's reach (see :meth:`synthesize`)."""
        up = self.local_upsampler
        samples = self.receptive_field // 2 + up.sample_conv.kernel_size[0] // 2
        return -(-samples // self.hop_length) + 1 + up.frame_conv.kernel_size[0] // 2

    def synthesize(self, local_cond: Tensor, noise: Tensor | None = None,
                   generator: torch.Generator | None = None,
                   chunk_frames: int | None = None) -> Tensor:
        """:meth:`forward` in chunks of ``chunk_frames`` frames (all at once if ``None``),
        each run with :attr:`context_frames` of frames and noise on both sides and cut
        back: memory bounded by the chunk, the output the whole-clip forward's (the
        noise is drawn for the whole clip first).

        Shape:
            ``local_cond (B, F, N), noise (B, T)? -> (B, T)`` with ``T = N * hop``
        """
        self.check_frames(local_cond)
        n, hop = local_cond.shape[-1], self.hop_length
        if noise is None:
            noise = self.noise(local_cond.shape[0], n * hop, generator, local_cond.device)
        if chunk_frames is None or chunk_frames >= n:
            return self(local_cond, noise)
        check_positive_int("chunk_frames", chunk_frames)
        margin, parts = self.context_frames, []
        for first in range(0, n, chunk_frames):
            last = min(first + chunk_frames, n)
            lo, hi = max(0, first - margin), min(n, last + margin)
            out = self(local_cond[..., lo:hi], noise[:, lo * hop:hi * hop])  # (B, (hi-lo) hop)
            parts.append(out[:, (first - lo) * hop:(last - lo) * hop])
        return torch.cat(parts, dim=-1)  # (B, T)


@serializable
class WaveDiscriminator(nn.Module):
    """Scores every position of a waveform: real (1) or generated (0), least squares.

    Args:
        channels: width ``D`` of every layer.
        dilations: one per hidden layer (default: 1, 1, 2, 4, ..., 256: Parallel WaveGAN's
            ten layers), kernel 3, centred.
        negative_slope: of the leaky ReLU between layers.

    Shape:
        ``(B, T) -> (B, 1, T)``

    Example:
        >>> d = WaveDiscriminator(8, dilations=[1, 2])
        >>> d(torch.randn(2, 100)).shape
        torch.Size([2, 1, 100])
    """

    def __init__(self, channels: int = 32, dilations: Sequence[int] | None = None,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        check_positive_int("channels", channels)
        dilations = check_dilations(dilations if dilations is not None
                                    else [1, *dilation_schedule(128, 1)])
        widths = [1, *[channels] * len(dilations)]
        self.layers = nn.ModuleList(DilatedConv1d(a, b, 3, dilation=d, causal=False)
                                    for a, b, d in zip(widths[:-1], widths[1:], dilations,
                                                                  strict=True))
        self.out = nn.Conv1d(channels, 1, 1)
        self.negative_slope = negative_slope

    @property
    def receptive_field(self) -> int:
        return receptive_field_of(*(layer.receptive_field for layer in self.layers))

    def forward(self, audio: Tensor) -> Tensor:
        if audio.dim() != 2:
            raise ValueError(f"Expected audio of shape (B, T), but found {tuple(audio.shape)}.")
        h = audio.unsqueeze(1)  # (B, 1, T)
        for layer in self.layers:
            h = F.leaky_relu(layer(h), self.negative_slope)  # (B, D, T)
        return self.out(h)  # (B, 1, T)
