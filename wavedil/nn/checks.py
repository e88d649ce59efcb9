"""Argument checks shared by the modules: each error names the argument, what was
expected and what was found."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

__all__ = ["MAX_BANDS", "MAX_DILATION", "MAX_FFT", "check_choice", "check_dilations",
           "check_positive_int", "check_range"]

#: The largest FFT and band counts a front end or a linear predictor accepts, and the
#: largest dilation: far above any audio use (2^16 samples are 1.4 s at 48 kHz, 2^20 are
#: 22 s), and a bound on what a spec can make a model compute or pad (models are also
#: built from untrusted files, see wavedil.checkpoint)
MAX_FFT, MAX_BANDS, MAX_DILATION = 1 << 16, 1024, 1 << 20


def check_positive_int(name: str, value: Any, minimum: int = 1,
                       maximum: int | None = None) -> int:
    """Return ``value`` if it is an int >= ``minimum`` (and <= ``maximum``), else raise
    ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected {name} to be an integer >= {minimum}, but found {value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"Expected {name} to be an integer <= {maximum}, but found {value!r}.")
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError``."""
    if value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"Expected {name} to be one of {expected}, but found {value!r}.")
    return value


def check_dilations(dilations: Sequence[int]) -> tuple[int, ...]:
    """Return ``dilations`` as a tuple of positive ints, else raise ``ValueError``."""
    dilations = tuple(dilations)
    if not dilations:
        raise ValueError("Expected at least one dilation, but found an empty list.")
    for i, d in enumerate(dilations):
        check_positive_int(f"dilations[{i}]", d, maximum=MAX_DILATION)
    return dilations


def check_range(name: str, value: Any, low: float | None = None, high: float | None = None,
                *, low_open: bool = False) -> tuple[float, float]:
    """Return ``value`` as a ``(min, max)`` pair of floats, else raise ``ValueError``.

    It must hold two numbers with min <= max, min >= ``low`` (> with ``low_open``)
    and max <= ``high``; ``None`` leaves that side unbounded.
    """
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        lo, hi = float("nan"), float("nan")
    above = low is None or (lo > low if low_open else lo >= low)
    below = high is None or hi <= high
    if not (lo <= hi and above and below):  # NaN fails every comparison
        bounds = ""
        if low is not None and high is not None and not low_open:
            bounds = f" within [{low:g}, {high:g}]"
        else:
            if low is not None:
                bounds += f", min {'above' if low_open else 'at least'} {low:g}"
            if high is not None:
                bounds += f", max at most {high:g}"
        raise ValueError(f"Expected {name} as [min, max] with min <= max{bounds}, "
                         f"but found {value!r}.")
    return lo, hi
