"""Output distributions of the generator (see :class:`OutputDistribution`)."""

from wavedil.distributions.base import OutputDistribution
from wavedil.distributions.categorical import MuLawCategorical, gumbel_argmax
from wavedil.distributions.logistic import DiscretizedLogisticMixture

__all__ = ["DiscretizedLogisticMixture", "MuLawCategorical", "OutputDistribution", "gumbel_argmax"]
