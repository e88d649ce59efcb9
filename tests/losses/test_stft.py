"""The multi-resolution STFT loss against closed forms, and the least-squares
adversarial losses."""

from __future__ import annotations

import math

import pytest
import torch

from wavedil.losses import (
    MultiResolutionSTFTLoss,
    STFTLoss,
    discriminator_loss,
    generator_adversarial_loss,
)


def noise(samples: int = 8000, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(2, samples, generator=torch.Generator().manual_seed(seed))


def tone(hz: float, amplitude: float, samples: int = 8000) -> torch.Tensor:
    return amplitude * torch.sin(2 * math.pi * hz * torch.arange(samples) / 8000)[None]


def test_identical_signals_score_zero():
    x = noise()
    parts = MultiResolutionSTFTLoss()(x, x)
    assert float(parts.spectral_convergence) == 0.0 and float(parts.log_magnitude) == 0.0


@pytest.mark.parametrize("gain", [0.5, 2.0, 0.1])
def test_a_gain_scores_its_closed_form(gain):
    # |S^| = g |S| everywhere: convergence |g - 1|, log-magnitude |log g|
    x = noise()
    parts = MultiResolutionSTFTLoss()(gain * x, x)
    assert float(parts.spectral_convergence) == pytest.approx(abs(gain - 1), rel=1e-4)
    assert float(parts.log_magnitude) == pytest.approx(abs(math.log(gain)), rel=1e-4)
    assert float(parts.total) == pytest.approx(abs(gain - 1) + abs(math.log(gain)), rel=1e-4)


def test_an_added_tone_scores_its_share_of_the_energy():
    # a 1.5 kHz tone of half the amplitude added to a 500 Hz one: the bins barely
    # overlap, so the convergence is the amplitude ratio (Parseval), 0.5
    reference = tone(500.0, 0.5)
    estimate = reference + tone(1500.0, 0.25)
    for n_fft, hop in ((256, 64), (512, 128)):
        parts = STFTLoss(n_fft, hop, n_fft)(estimate, reference)
        assert float(parts.spectral_convergence) == pytest.approx(0.5, rel=0.03)
        assert float(parts.log_magnitude) > 1.0  # the tone's bins rose from the floor


def test_gradients_are_finite_and_flow_from_silence_and_from_near_silence():
    for scale in (0.0, 1e-6):  # exact silence is a stationary point: finite, zero gradient
        estimate = (scale * noise(4000, seed=3)[:1]).requires_grad_(True)
        loss = MultiResolutionSTFTLoss()(estimate, noise(4000)[:1]).total
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(estimate.grad).all()
        assert (estimate.grad.abs().sum() > 0) == (scale > 0)


def test_bad_settings_and_shapes_are_named():
    with pytest.raises(ValueError, match="win_length to be an integer <= 256"):
        STFTLoss(256, 64, 400)
    with pytest.raises(ValueError, match="at least one resolution"):
        MultiResolutionSTFTLoss(())
    with pytest.raises(ValueError, match="of one shape"):
        STFTLoss(256, 64, 256)(torch.zeros(1, 100), torch.zeros(1, 200))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        STFTLoss(256, 64, 256)(torch.zeros(100), torch.zeros(100))


def test_least_squares_adversarial_losses():
    real, fake = torch.full((2, 1, 10), 0.8), torch.full((2, 1, 10), 0.3)
    assert float(discriminator_loss(real, fake)) == pytest.approx(0.2**2 + 0.3**2)
    assert float(generator_adversarial_loss(fake)) == pytest.approx(0.7**2)
    assert discriminator_loss(real.bfloat16(), fake.bfloat16()).dtype == torch.float32
