"""Using trained models, grouped by what they do:

* :mod:`wavedil.inference.generation`: sampling from a generator (the fast, cached,
  naive, compiled and CUDA-graph methods, :func:`generate`, the exported step);
* :mod:`wavedil.inference.vocoding`: mel frames to audio, and scoring a vocoder
  against Griffin-Lim;
* :mod:`wavedil.inference.classification`: predictions, keyword spotting, adaptation.

The generation API is also importable from here, as before:

    >>> from wavedil.inference import generate, FastStepper
"""

from wavedil.inference.generation import (
    METHODS,
    STEPPERS,
    CachedStepper,
    CompiledSampler,
    FastStepper,
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
