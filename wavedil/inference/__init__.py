"""Generation: cached-queue steppers (fast and module-by-module), the naive
reference, and :func:`generate`."""

from wavedil.inference.fast import FastStepper
from wavedil.inference.sampler import (
    METHODS,
    CachedStepper,
    Generation,
    NaiveStepper,
    generate,
    make_stepper,
)

__all__ = [
    "METHODS",
    "CachedStepper",
    "FastStepper",
    "Generation",
    "NaiveStepper",
    "generate",
    "make_stepper",
]
