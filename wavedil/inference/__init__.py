"""Generation: cached-queue steppers (fast and module-by-module), the naive
reference, the compiled sampling loop, and :func:`generate`."""

from wavedil.inference.compiled import CompiledSampler
from wavedil.inference.fast import FastStepper
from wavedil.inference.sampler import (
    METHODS,
    STEPPERS,
    CachedStepper,
    Generation,
    NaiveStepper,
    generate,
    make_stepper,
)

__all__ = [
    "METHODS",
    "STEPPERS",
    "CachedStepper",
    "CompiledSampler",
    "FastStepper",
    "Generation",
    "NaiveStepper",
    "generate",
    "make_stepper",
]
