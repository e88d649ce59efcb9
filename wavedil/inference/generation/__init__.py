"""Generation: the cached-queue steppers (fast, and module by module through each
block's ``step``), the naive reference, the compiled loop and the CUDA-graph step,
:func:`generate` that drives them, the signal loop of a source-filter generator, and
the step exported as a program.

    >>> from wavedil.inference.generation import generate
"""

from wavedil.inference.generation.compiled import CompiledSampler
from wavedil.inference.generation.fast import FastStepper
from wavedil.inference.generation.sampler import (
    METHODS,
    STEPPERS,
    CachedStepper,
    Generation,
    NaiveStepper,
    auto_method,
    generate,
    make_stepper,
)
from wavedil.inference.generation.source_filter import SignalLoop

__all__ = [
    "METHODS",
    "STEPPERS",
    "CachedStepper",
    "CompiledSampler",
    "FastStepper",
    "Generation",
    "NaiveStepper",
    "SignalLoop",
    "auto_method",
    "generate",
    "make_stepper",
]
