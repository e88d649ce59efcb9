"""Training losses beyond a distribution's likelihood: the multi-resolution STFT loss
and the least-squares adversarial losses of a parallel (non-autoregressive) vocoder.

    >>> from wavedil.losses import MultiResolutionSTFTLoss
"""

from wavedil.losses.adversarial import discriminator_loss, generator_adversarial_loss
from wavedil.losses.stft import MultiResolutionSTFTLoss, STFTLoss, STFTLosses

__all__ = [
    "MultiResolutionSTFTLoss",
    "STFTLoss",
    "STFTLosses",
    "discriminator_loss",
    "generator_adversarial_loss",
]
