"""Argument types shared by the command-line tools.

Each is an ``argparse`` ``type=``: a bad value becomes argparse's usual one-line
error (``argument --device: ...``, exit status 2) that names the option and what
it expects, before any checkpoint or audio is read.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = [
    "add_classifier_options",
    "device", "non_negative_float", "positive_float", "positive_int", "regex", "speed"]


def _number(text: str, kind: type, expected: str, ok: Callable[[float], bool]) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, but found {text!r}") from None
    if not ok(value):  # NaN fails every comparison, so it lands here too
        raise argparse.ArgumentTypeError(f"expected {expected}, but found {text}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count, a batch size, a thread count)."""
    return _number(text, int, "an integer >= 1", lambda v: v >= 1)


def positive_float(text: str) -> float:
    """A finite number > 0 (a step size)."""
    return _number(text, float, "a finite number > 0", lambda v: 0 < v < float("inf"))


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (a weight, a temperature)."""
    return _number(text, float, "a finite number >= 0", lambda v: 0 <= v < float("inf"))


def speed(text: str) -> float:
    """A playback speed between 0.5 and 2 (test-time speed averaging)."""
    return _number(text, float, "a speed between 0.5 and 2", lambda v: 0.5 <= v <= 2.0)


def regex(text: str) -> str:
    """A regular expression that compiles."""
    try:
        re.compile(text)
    except re.error as err:
        raise argparse.ArgumentTypeError(f"not a regular expression ({err}): {text!r}") from None
    return text


def device(text: str) -> str:
    """A torch device that this machine has: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Checked here so that a missing GPU is reported as such, instead of surfacing as
    a failure to read the checkpoint onto it.
    """
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; expected cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(
                f"{text}: CUDA is not available on this machine; expected cpu")
        if dev.index is not None and dev.index >= count:
            raise argparse.ArgumentTypeError(
                f"{text}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError(
                f"{text}: MPS is not available on this machine; expected cpu")
    elif dev.type != "cpu":
        raise argparse.ArgumentTypeError(
            f"unsupported device {text!r}; expected cpu, cuda, cuda:N or mps")
    return str(dev)


def add_classifier_options(parser: argparse.ArgumentParser, batch_size: int) -> None:
    """The options of every tool that runs a classifier: ``--checkpoint`` (repeated
    for an ensemble), ``--speeds`` (test-time speed averaging), ``--batch-size``
    and ``--device``."""
    parser.add_argument("--checkpoint", required=True, type=Path, action="append",
                        metavar="CKPT", help="a classifier .ckpt; repeat it for an ensemble "
                                             "(their log-probabilities averaged)")
    parser.add_argument("--speeds", type=speed, nargs="+", metavar="S",
                        help="test-time augmentation: average over the clip played at "
                             "these speeds, e.g. --speeds 0.9 1.0 1.1")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size)
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N")
