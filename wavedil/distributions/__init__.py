"""Output distributions of the generator (see :class:`OutputDistribution`)."""

from wavedil.distributions.base import OutputDistribution
from wavedil.distributions.categorical import MuLawCategorical, gumbel_argmax

__all__ = ["MuLawCategorical", "OutputDistribution", "gumbel_argmax"]
