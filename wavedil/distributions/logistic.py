"""A mixture of logistics discretised to the PCM grid (Salimans et al., 2017,
PixelCNN++; the output of Parallel WaveNet, van den Oord et al., 2018).

Shape legend: B batch, K mixture components, T time.

Where the categorical output spends 256 channels on 256 mu-law codes, the mixture
spends ``3 K`` on ``K`` logistic components (mixture logits, means, log scales, in
that order along the channels) and models audio at full PCM resolution:

::

    values  x = i / 2**(bits-1),  i in [-2**(bits-1), 2**(bits-1))   (what soundfile reads)
    P(x)    = sum_k pi_k * (F_k(x + d/2) - F_k(x - d/2)),   d = 2**-(bits-1)
              (the lowest value takes all the mass below it, the highest all above)
    F_k(y)  = sigmoid((y - mu_k) / s_k)

The bin masses are computed without subtracting two nearly equal CDFs:
``sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a))`` for
``a > b``, so ``log P`` is exact in float32 from a bin in the far tail to a
component much narrower than one bin.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wavedil.distributions.base import OutputDistribution
from wavedil.distributions.categorical import gumbel_argmax
from wavedil.nn.checks import check_positive_int
from wavedil.spec import serializable

__all__ = ["DiscretizedLogisticMixture", "log1mexp"]


def log1mexp(z: Tensor) -> Tensor:
    """``log(1 - exp(-z))`` for ``z > 0``, accurate for small and large ``z``
    (Mächler, 2012: ``expm1`` below ``log 2``, ``log1p`` above)."""
    small = z < math.log(2.0)
    # each branch sees only inputs it is accurate for, so neither puts inf in the gradient
    near = torch.where(small, z, math.log(2.0)).clamp(min=torch.finfo(z.dtype).tiny)
    far = torch.where(small, math.log(2.0), z)
    return torch.where(small, torch.log(-torch.expm1(-near)), torch.log1p(-torch.exp(-far)))


@serializable
class DiscretizedLogisticMixture(OutputDistribution):
    """A mixture of ``components`` logistic distributions over ``bits``-bit PCM values.

    Args:
        components: mixture components ``K`` (the generator outputs ``3 K`` channels).
        bits: resolution of the values: 16 for CD-quality PCM, 8 for 256 levels.
        log_scale_min: floor of each component's log scale. It bounds how sharp a
            component can get (``exp(-7)`` is about 30 steps of 16-bit audio), which
            keeps the loss from rewarding ever narrower spikes on exactly repeated
            values.

    Sampling draws a component with the Gumbel-max trick, then a value from it by
    the inverse CDF, rounded to the grid. ``temperature`` divides the mixture logits
    and multiplies the scales; 0 gives the mean of the likeliest component.

    Example:
        >>> dist = DiscretizedLogisticMixture(components=10, bits=16)
        >>> dist.out_channels, dist.silence()
        (30, 0.0)
        >>> dist.encode(torch.tensor([-1.0, 0.25, 1.0])).tolist()   # 1.0 is one step above the top
        [-1.0, 0.25, 0.999969482421875]
    """

    discrete = False

    def __init__(self, components: int = 10, bits: int = 16, log_scale_min: float = -7.0) -> None:
        self.components = check_positive_int("components", components)
        self.bits = check_positive_int("bits", bits, minimum=2)
        if self.bits > 24:
            raise ValueError(f"Expected bits <= 24 (float32 holds 24-bit values exactly), "
                             f"but found {bits}.")
        if not (isinstance(log_scale_min, (int, float)) and math.isfinite(log_scale_min)):
            raise ValueError(f"Expected a finite log_scale_min, but found {log_scale_min!r}.")
        self.log_scale_min = float(log_scale_min)
        self.out_channels = 3 * self.components
        self.levels = 2 ** (self.bits - 1)  # values are i / levels

    # -- the value space -------------------------------------------------------------

    def encode(self, audio: Tensor) -> Tensor:
        """Audio in [-1, 1] -> the nearest grid value (``(B, T)`` float)."""
        i = torch.round(audio * self.levels).clamp_(-self.levels, self.levels - 1)
        return i.div_(self.levels)

    def decode(self, values: Tensor) -> Tensor:
        return values.clamp(-1.0, 1.0)

    def split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(B, 3K, *)`` -> mixture logits, means, log scales, each ``(B, K, *)``
        (the log scales floored at ``log_scale_min``)."""
        self._check(params)
        logits, means, log_scales = params.split(self.components, dim=1)
        return logits, means, log_scales.clamp(min=self.log_scale_min)

    def _check(self, params: Tensor) -> None:
        if params.dim() < 2 or params.shape[1] != self.out_channels:
            raise ValueError(
                f"Expected parameters of shape (B, {self.out_channels}, ...) for {self!r}, "
                f"but found {tuple(params.shape)}.")

    # -- likelihood --------------------------------------------------------------------

    def log_prob(self, params: Tensor, target: Tensor) -> Tensor:
        """Log-probability of grid values: ``(B, 3K, T), (B, T) -> (B, T)``."""
        # at least float32: a 16-bit step is below half precision's resolution near 1
        dtype = torch.promote_types(params.dtype, torch.float32)
        logits, means, log_scales = self.split(params.to(dtype))  # (B, K, T) each
        x = target.unsqueeze(1).to(dtype)  # (B, 1, T)
        inv_scale = torch.exp(-log_scales)
        half_step = 0.5 / self.levels
        upper = (x + half_step - means) * inv_scale  # a: the bin's top, standardised
        lower = (x - half_step - means) * inv_scale  # b: its bottom
        log_below_top = F.logsigmoid(upper)  # log F(top): the lowest value's mass
        log_above_bottom = F.logsigmoid(-lower)  # log (1 - F(bottom)): the highest value's
        log_bin = log_below_top + log_above_bottom + log1mexp(2 * half_step * inv_scale)
        lowest, highest = -1.0, (self.levels - 1) / self.levels
        log_mass = torch.where(x <= lowest, log_below_top,
                               torch.where(x >= highest, log_above_bottom, log_bin))
        return torch.logsumexp(logits.log_softmax(dim=1) + log_mass, dim=1)  # (B, T)

    def nll(self, params: Tensor, target: Tensor) -> Tensor:
        return -self.log_prob(params, target)

    # -- sampling ----------------------------------------------------------------------

    def sample(
        self,
        params: Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        self._check(params)
        params = params.to(torch.promote_types(params.dtype, torch.float32))  # as in log_prob
        k = gumbel_argmax(params[:, :self.components], temperature, generator)  # (B, *)
        # the chosen component's mean and log scale in one gather: (B, 2, K, *) -> (B, 2, *)
        rest = params[:, self.components:].unflatten(1, (2, self.components))
        index = k.unsqueeze(1).unsqueeze(1).expand(-1, 2, 1, *k.shape[1:])
        mean, log_scale = rest.gather(2, index).squeeze(2).unbind(1)  # (B, *) each
        if temperature == 0:
            return self.encode(mean)
        scale = log_scale.clamp(min=self.log_scale_min).exp_()
        if temperature != 1.0:
            scale.mul_(temperature)
        u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        # the logistic's inverse CDF; eps keeps u off 0 and 1, where it is infinite
        return self.encode(torch.logit(u, eps=torch.finfo(u.dtype).eps).mul_(scale).add_(mean))

    def __repr__(self) -> str:
        return (f"DiscretizedLogisticMixture(components={self.components}, bits={self.bits}, "
                f"log_scale_min={self.log_scale_min})")
