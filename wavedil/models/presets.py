"""Named model configurations as small factory functions.

Each returns a fresh model; keyword arguments override the preset's choices,
e.g. ``wavenet_small(global_classes=5)``.
"""

from __future__ import annotations

from typing import Any

from wavedil.models.classifier import WaveNetClassifier
from wavedil.models.generator import WaveNet
from wavedil.nn import LogMelFrontend, dilation_schedule

__all__ = ["classifier_logmel", "wavenet_medium", "wavenet_small", "wavenet_tiny"]


def wavenet_tiny(**overrides: Any) -> WaveNet:
    """1 cycle of 1..64 (7 layers), 32/64/64 channels: tests and quick demos."""
    args: dict[str, Any] = dict(residual_channels=32, gate_channels=64, skip_channels=64,
                                kernel_size=2, dilations=dilation_schedule(64, 1))
    return WaveNet(**{**args, **overrides})


def wavenet_small(**overrides: Any) -> WaveNet:
    """2 cycles of 1..512 (20 layers), 64 residual / 128 gate / 128 skip, kernel 2."""
    args: dict[str, Any] = dict(residual_channels=64, gate_channels=128, skip_channels=128,
                                kernel_size=2, dilations=dilation_schedule(512, 2))
    return WaveNet(**{**args, **overrides})


def wavenet_medium(**overrides: Any) -> WaveNet:
    """4 cycles of 1..32 (24 layers), 128 residual / 256 gate / 128 skip, kernel 3."""
    args: dict[str, Any] = dict(residual_channels=128, gate_channels=256, skip_channels=128,
                                kernel_size=3, dilations=dilation_schedule(32, 4))
    return WaveNet(**{**args, **overrides})


def classifier_logmel(num_classes: int, sample_rate: int = 8000, **overrides: Any
                      ) -> WaveNetClassifier:
    """Log-mel front end (40 bands, 8 ms hop at 8 kHz) with a centred 2 x (1..8) stack."""
    args: dict[str, Any] = dict(
        frontend=LogMelFrontend(sample_rate, n_fft=256, hop_length=64, n_mels=40),
        residual_channels=64, gate_channels=64, skip_channels=128, kernel_size=3,
        dilations=dilation_schedule(8, 2), causal=False, pooling="attention",
    )
    return WaveNetClassifier(num_classes, **{**args, **overrides})
