"""Source-filter inputs for a vocoder: linear prediction from the mel frames.

Shape legend: B batch, F mel bands, N frames, T samples, p prediction order,
R residual channels, V mu-law classes.

LPCNet (Valin and Skoglund, 2019) and LP-WaveNet (Hwang et al., 2018) split speech
into a *filter*, the spectral envelope, which linear prediction computes from the
acoustic frames with no learning at all, and a *source*, the prediction residual
(excitation), which is nearly white and alike across speakers, and leave only the
source to the network. Per sample ``t`` of the (pre-emphasised) signal ``y``::

    p_t = sum_{k=1..p} c_k(t) y_{t-k}          the prediction (c = -a of A(z))
    e_t = y_t - p_t                            the excitation the network models
    y_t = p_t + e_t                            at synthesis, e_t drawn

:class:`LinearPrediction` computes the coefficients ``c(t)`` from log-mel frames
(mel power -> power spectrum -> pre-emphasis response -> autocorrelation -> lag
window -> per-sample linear interpolation of the normalised autocorrelation ->
Levinson-Durbin; interpolating autocorrelations, never coefficients, keeps every
per-sample filter stable) and embeds the network's two extra inputs, the previous
sample ``y_{t-1}`` and the prediction ``p_t``, as LPCNet does: a learned vector per
mu-law code of each, added to the input layer's output. All amplitudes it handles
are float64 (a recursion over thousands of samples), and its mu-law codes come
from one table of boundaries (:meth:`LinearPrediction.codes`), so that every
sampler, compiled or not, computes the same codes.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import Tensor, nn

from wavedil.dsp.lpc import (
    MEL_INVERSIONS,
    autocorrelation_from_power,
    emphasis_response,
    lag_window,
    levinson_durbin,
    mel_to_linear_power,
)
from wavedil.nn.checks import MAX_BANDS, MAX_FFT, check_choice, check_positive_int
from wavedil.spec import serializable

__all__ = ["SIDE_INPUTS", "LinearPrediction", "mulaw_boundaries"]

#: The per-step inputs a source-filter generator receives besides its fed-back code.
SIDE_INPUTS = ("previous_sample", "prediction")


def mulaw_boundaries(classes: int) -> Tensor:
    """``(classes - 1,)`` float64 amplitudes where mu-law codes change: code ``i`` holds
    ``[b_{i-1}, b_i)``. ``torch.bucketize(x, b, right=True)`` (or numpy's
    ``searchsorted(b, x, "right")``) is then torchaudio's ``mu_law_encoding`` (up to
    rounding exactly at a boundary), the same in every implementation.

    Example:
        >>> b = mulaw_boundaries(256)
        >>> torch.bucketize(torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64), b,
        ...                 right=True).tolist()
        [0, 128, 255]
    """
    mu = classes - 1
    k = torch.arange(1, classes, dtype=torch.float64)
    f = 2 * (k - 0.5) / mu - 1  # code >= k  <=>  sign(x) log1p(mu |x|) / log1p(mu) >= f
    return torch.sign(f) * torch.expm1(f.abs() * math.log1p(mu)) / mu


@serializable
class LinearPrediction(nn.Module):
    """Linear-prediction coefficients from log-mel frames, and the embeddings of a
    source-filter generator's two extra inputs.

    Args:
        sample_rate: audio rate in Hz.
        n_mels, n_fft, hop_length, f_min, f_max: the mel settings of the frames
            (as :func:`~wavedil.data.features.mel_extractor` computes them: natural
            log of the power of a Hann-windowed STFT through HTK mel filters).
        residual_channels: size of the embeddings (the generator's residual width).
        order: prediction order ``p`` (about 12 at 8 kHz, 16 at 16 kHz and above).
        classes: mu-law codes of each embedded amplitude (the output's classes).
        mel_inversion: how mel power becomes a power spectrum (see
            :func:`~wavedil.dsp.lpc.mel_to_linear_power`).
        lag_bandwidth_hz: the Gaussian lag window's bandwidth expansion.
        white_noise: white-noise correction added to lag 0 (relative).

    Shape:
        - :meth:`coefficients`: frames ``(B, F, N)`` -> ``(B, p, T)`` float64.
        - :meth:`predict`: signal ``(B, T)``, coefficients ``(B, p, T)`` -> ``(B, T)``.
        - :meth:`forward`: side inputs ``(B, 2, T)`` -> ``(B, R, T)``.

    Example:
        >>> lp = LinearPrediction(8000, n_mels=40, n_fft=256, hop_length=64,
        ...                       residual_channels=8)
        >>> c = lp.coefficients(torch.randn(1, 40, 5), 256)
        >>> c.shape, lp(torch.zeros(1, 2, 256)).shape
        (torch.Size([1, 12, 256]), torch.Size([1, 8, 256]))
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int,
        n_fft: int,
        hop_length: int,
        residual_channels: int,
        order: int = 12,
        f_min: float = 0.0,
        f_max: float | None = None,
        classes: int = 256,
        mel_inversion: str = "pinv",
        lag_bandwidth_hz: float = 40.0,
        white_noise: float = 1e-4,
    ) -> None:
        super().__init__()
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.n_mels = check_positive_int("n_mels", n_mels, maximum=MAX_BANDS)
        self.n_fft = check_positive_int("n_fft", n_fft, minimum=4, maximum=MAX_FFT)
        self.hop_length = check_positive_int("hop_length", hop_length)
        check_positive_int("order", order)
        if order >= n_fft // 2:
            raise ValueError(f"Expected a prediction order below n_fft / 2 = {n_fft // 2} (the "
                             f"frame's spectrum resolves no more), but found {order}.")
        self.order = order
        self.classes = check_positive_int("classes", classes, minimum=2, maximum=1 << 16)
        self.mel_inversion = check_choice("mel_inversion", mel_inversion, MEL_INVERSIONS)
        if not (math.isfinite(lag_bandwidth_hz) and lag_bandwidth_hz >= 0):
            raise ValueError(f"Expected lag_bandwidth_hz >= 0, but found {lag_bandwidth_hz!r}.")
        if not (math.isfinite(white_noise) and white_noise >= 0):
            raise ValueError(f"Expected white_noise >= 0, but found {white_noise!r}.")
        with torch.device("cpu"):  # tables computed from the settings, even under meta
            fb = torchaudio.functional.melscale_fbanks(
                n_fft // 2 + 1, f_min, f_max if f_max is not None else sample_rate / 2, n_mels,
                sample_rate)  # (K, F), as torchaudio's MelSpectrogram builds it
            tables = {"filterbank": fb.double(),
                      "lag_window": lag_window(order, sample_rate, lag_bandwidth_hz, white_noise),
                      "boundaries": mulaw_boundaries(classes),
                      "levels": torchaudio.functional.mu_law_decoding(
                          torch.arange(classes), classes).double()}
        for name, table in tables.items():
            self.register_buffer(name, table, persistent=False)
        #: one learned vector per code of each side input (previous sample, prediction)
        self.embedding = nn.Embedding(len(SIDE_INPUTS) * classes, residual_channels)

    # -- the filter: coefficients from frames -------------------------------------------

    def frame_autocorrelation(self, frames: Tensor, preemphasis: float = 0.0) -> Tensor:
        """Log-mel frames -> each frame's normalised, lag-windowed autocorrelation.

        Shape:
            ``(B, F, N) -> (B, N, p + 1)`` float64, lag 0 = 1 + white noise
        """
        if frames.dim() != 3 or frames.shape[1] != self.n_mels:
            raise ValueError(f"Expected log-mel frames of shape (B, {self.n_mels}, N), but "
                             f"found {tuple(frames.shape)}.")
        if not torch.isfinite(frames).all():
            raise ValueError("Expected finite log-mel frames, but found NaN or Inf.")
        mel_power = frames.double().transpose(1, 2).exp()  # (B, N, F)
        power = mel_to_linear_power(mel_power, self.filterbank, self.mel_inversion)  # (B, N, K)
        if preemphasis:
            power = power * emphasis_response(power.shape[-1], preemphasis).to(power)
        r = autocorrelation_from_power(power, self.order)  # (B, N, p + 1)
        r0 = r[..., :1]
        r = torch.where(r0 > 0, r / r0.clamp(min=1e-300), torch.zeros_like(r))
        r[..., 0] = 1.0  # silence too: white, A(z) = 1
        return r * self.lag_window

    def coefficients(self, frames: Tensor, length: int, preemphasis: float = 0.0) -> Tensor:
        """Per-sample predictor coefficients ``c_1 .. c_p`` (``p_t = sum_k c_k y_{t-k}``)
        for the first ``length`` samples of the (pre-emphasised by ``preemphasis``) signal
        under ``frames``: each sample's autocorrelation interpolated linearly between
        the frames whose centres surround it (frame ``i`` is centred on ``i * hop``).

        Shape:
            ``(B, F, N) -> (B, p, length)`` float64
        """
        r = self.frame_autocorrelation(frames, preemphasis)  # (B, N, p + 1)
        n = r.shape[1]
        position = torch.arange(length, dtype=torch.float64, device=r.device) / self.hop_length
        left = position.floor().long().clamp(max=n - 1)  # (T,)
        right = (left + 1).clamp(max=n - 1)
        w = (position - left).clamp(0, 1)[None, :, None]  # (1, T, 1)
        r_t = r[:, left] * (1 - w) + r[:, right] * w  # (B, T, p + 1)
        return (-levinson_durbin(r_t).a).transpose(1, 2).contiguous()  # (B, p, T)

    @staticmethod
    def predict(signal: Tensor, coefficients: Tensor) -> Tensor:
        """Teacher-forced predictions ``p_t = sum_k c_k(t) y_{t-k}`` (zeros before the
        start), in float64.

        Shape:
            ``signal (B, T), coefficients (B, p, T) -> (B, T)``
        """
        p = coefficients.shape[1]
        y = torch.nn.functional.pad(signal.double(), (p, 0))  # (B, p + T)
        past = y.unfold(-1, p, 1)[:, :signal.shape[-1]].flip(-1)  # (B, T, p): y_{t-1} .. y_{t-p}
        return (past * coefficients.transpose(1, 2)).sum(-1)  # (B, T)

    def noisy_synthesis(self, signal: Tensor, coefficients: Tensor, noise: float,
                        generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The past a sampler would have made: LPCNet's noise injection. Sample by sample,
        the true excitation's code is moved by Gaussian noise of ``noise`` codes (std,
        rounded) and the signal synthesised from it, ``y~_t = p~_t + decode(code(y_t -
        p~_t) + n_t)``, with ``p~_t`` predicted from the synthesised past, so that the
        errors accumulate through the filter as a sampler's own do (drift included).
        Training on this past with the *true* sample as target teaches the network to
        pull a drifting signal back.

        Shape:
            ``signal (B, T), coefficients (B, p, T) -> (y~ (B, T), p~ (B, T))`` float64
        """
        batch, order, length = coefficients.shape
        y = signal.double()
        shift = torch.randn(batch, length, generator=generator, dtype=torch.float64,
                            device=y.device).mul_(noise).round_().long()
        history = torch.zeros(batch, order, dtype=torch.float64, device=y.device)
        noisy, predicted = torch.empty_like(y), torch.empty_like(y)
        for t in range(length):
            p = (coefficients[..., t] * history).sum(-1)  # (B,)
            code = (self.codes(y[:, t] - p) + shift[:, t]).clamp_(0, self.classes - 1)
            now = p + self.decode(code)
            noisy[:, t], predicted[:, t] = now, p
            history = torch.cat([now[:, None], history[:, :-1]], dim=1)
        return noisy, predicted

    # -- the source's inputs ------------------------------------------------------------

    def codes(self, amplitude: Tensor) -> Tensor:
        """Mu-law codes of float64 amplitudes (clamped to [-1, 1] by the boundaries)."""
        return torch.bucketize(amplitude.double(), self.boundaries, right=True)

    def decode(self, codes: Tensor) -> Tensor:
        """The float64 amplitude of each mu-law code (torchaudio's decoding, as a table)."""
        return self.levels[codes]

    def forward(self, side: Tensor) -> Tensor:
        """Side inputs ``[y_{t-1}, p_t]`` (amplitudes, :data:`SIDE_INPUTS`) -> the sum of
        their code embeddings, added to the residual stream.

        Shape:
            ``(B, 2, T) -> (B, R, T)``
        """
        if side.dim() != 3 or side.shape[1] != len(SIDE_INPUTS):
            raise ValueError(f"Expected side inputs of shape (B, {len(SIDE_INPUTS)}, T) "
                             f"({', '.join(SIDE_INPUTS)}), but found {tuple(side.shape)}.")
        offsets = torch.arange(len(SIDE_INPUTS), device=side.device)[None, :, None]
        rows = self.codes(side) + offsets * self.classes  # (B, 2, T)
        return self.embedding(rows).sum(1).transpose(1, 2)  # (B, T, R) -> (B, R, T)
