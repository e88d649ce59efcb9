"""Argument checks shared by the modules: each error names the argument, what was
expected and what was found."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

__all__ = ["check_choice", "check_dilations", "check_positive_int"]


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Expected {name} to be an integer >= {minimum}, but found {value!r}.")
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
        check_positive_int(f"dilations[{i}]", d)
    return dilations
