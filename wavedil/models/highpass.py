"""The synthesis high-pass that both vocoder families share: a setting of the model
(``highpass_hz`` at ``sample_rate``), applied to generated audio only."""

from __future__ import annotations

import torch
from torch import Tensor

from wavedil.dsp.filters import check_highpass, highpass

__all__ = ["SynthesisHighpass"]


class SynthesisHighpass:
    """Mixin for a generator with ``highpass_hz`` and ``sample_rate`` attributes."""

    highpass_hz: float | None
    sample_rate: int | None

    def set_highpass(self, highpass_hz: float | None, sample_rate: int | None = None) -> None:
        """Set (or with ``None`` clear) the synthesis high-pass (see ``highpass_hz``)."""
        if highpass_hz is None:
            self.highpass_hz = None
            return
        sample_rate = sample_rate if sample_rate is not None else self.sample_rate
        self.highpass_hz = check_highpass(highpass_hz, sample_rate)
        self.sample_rate = sample_rate

    def filter_output(self, audio: Tensor, prime: Tensor | None = None) -> Tensor:
        """Generated audio through the synthesis high-pass, if set (continuing from the
        ``prime`` audio it follows, if any).

        Shape:
            ``audio (B, T), prime (B, P)? -> (B, T)``
        """
        if self.highpass_hz is None:
            return audio
        assert self.sample_rate is not None
        full = audio if prime is None else torch.cat([prime.to(audio), audio], dim=-1)
        return highpass(full, self.sample_rate, self.highpass_hz)[..., full.shape[-1] -
                                                                 audio.shape[-1]:]
