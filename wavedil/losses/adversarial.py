"""Least-squares adversarial losses (Mao et al., 2017), as Parallel WaveGAN trains with.

The discriminator ``D`` outputs a score per position; it learns ``D(real) -> 1`` and
``D(fake) -> 0``, the generator learns to make ``D(fake) -> 1``:

    L_D = mean (D(real) - 1)^2 + mean D(fake)^2,      L_G = mean (D(fake) - 1)^2

Scores are taken in float32 whatever the autocast precision.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["discriminator_loss", "generator_adversarial_loss"]


def discriminator_loss(real: Tensor, fake: Tensor) -> Tensor:
    """``L_D`` from the discriminator's scores of real and generated audio.

    Example:
        >>> import torch
        >>> float(discriminator_loss(torch.ones(2, 1, 5), torch.zeros(2, 1, 5)))  # perfect
        0.0
    """
    return (real.float() - 1).pow(2).mean() + fake.float().pow(2).mean()


def generator_adversarial_loss(fake: Tensor) -> Tensor:
    """``L_G`` from the discriminator's scores of generated audio.

    Example:
        >>> import torch
        >>> float(generator_adversarial_loss(torch.zeros(1, 1, 3)))  # fully detected
        1.0
    """
    return (fake.float() - 1).pow(2).mean()
