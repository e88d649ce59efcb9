"""Perceptual scores that vocoder papers report: PESQ and STOI.

Shape legend: T samples.

* :func:`pesq_score`: ITU-T P.862 Perceptual Evaluation of Speech Quality, mapped to
  MOS-LQO (P.862.1/P.862.2) by the ``pesq`` package: about 1 (bad) to 4.55 (the
  reference itself, narrow band) or 4.64 (wide band). Narrow band at 8 kHz, wide
  band at 16 kHz; other rates are resampled to 16 kHz first.
* :func:`stoi_score`: Short-Time Objective Intelligibility (Taal et al., 2011) by
  ``pystoi``: 0 to 1 (the reference itself).

Both were designed for utterances of several seconds: STOI compares 384-ms
segments after dropping silent frames, and a clip of a spoken digit (about half a
second) leaves it too few frames (``pystoi`` then returns 1e-5 with a warning);
PESQ's level and time alignment want speech activity of more than a second.
:func:`joined_segments` therefore joins short clips, reference and test alike and
in the same order, into segments of about ``seconds`` each, and the scores are
means over segments (as speech enhancement benchmarks score their utterances).

Both packages are optional (``pip install wavedil[quality]``, in ``dev``):
:func:`perceptual_available` says whether they are installed, and the scores
raise an ``ImportError`` naming the extra otherwise.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
import torch
import torchaudio
from torch import Tensor

__all__ = ["joined_segments", "perceptual_available", "pesq_score", "stoi_score"]

_EXTRA = "pip install 'wavedil[quality]' (the pesq and pystoi packages)"


def perceptual_available() -> bool:
    """Whether the ``pesq`` and ``pystoi`` packages are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("pesq", "pystoi"))


def _pair(reference: Tensor, test: Tensor) -> tuple[np.ndarray, np.ndarray]:
    if reference.dim() != 1 or test.dim() != 1:
        raise ValueError(f"Expected (T,) clips, but found shapes {tuple(reference.shape)} and "
                         f"{tuple(test.shape)}.")
    n = min(reference.shape[-1], test.shape[-1])
    return reference[:n].double().numpy(), test[:n].double().numpy()


def pesq_score(reference: Tensor, test: Tensor, sample_rate: int) -> float:
    """PESQ (MOS-LQO) of ``test`` against ``reference``: narrow band at 8 kHz, wide band
    at 16 kHz (other rates resampled to 16 kHz).

    Raises:
        ImportError: ``pesq`` is not installed.
        ValueError: no speech found in the reference (PESQ needs some).
    """
    try:
        import pesq
    except ImportError as err:
        raise ImportError(f"PESQ needs the pesq package: {_EXTRA}.") from err
    if sample_rate not in (8000, 16000):
        reference = torchaudio.functional.resample(reference.double(), sample_rate, 16000)
        test = torchaudio.functional.resample(test.double(), sample_rate, 16000)
        sample_rate = 16000
    ref, deg = _pair(reference, test)
    try:
        return float(pesq.pesq(sample_rate, ref, deg, "nb" if sample_rate == 8000 else "wb"))
    except pesq.PesqError as err:  # e.g. no utterance detected in a silent reference
        raise ValueError(f"PESQ cannot score this pair ({type(err).__name__}: {err}).") from err


def stoi_score(reference: Tensor, test: Tensor, sample_rate: int) -> float:
    """STOI of ``test`` against ``reference`` (``pystoi``; it resamples to 10 kHz).

    Raises:
        ImportError: ``pystoi`` is not installed.
        ValueError: the reference holds too little speech (under about 384 ms once
            silent frames are dropped): join short clips first (:func:`joined_segments`).
    """
    try:
        import pystoi
    except ImportError as err:
        raise ImportError(f"STOI needs the pystoi package: {_EXTRA}.") from err
    import warnings

    ref, deg = _pair(reference, test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        score = float(pystoi.stoi(ref, deg, sample_rate, extended=False))
    if score == 1e-5:  # pystoi's answer when too few frames remain
        raise ValueError(f"STOI needs more speech than this reference holds ({len(ref)} "
                         f"samples at {sample_rate} Hz); join short clips first.")
    return score


def joined_segments(references: Sequence[Tensor], tests: Sequence[Tensor], sample_rate: int,
                    seconds: float = 8.0) -> list[tuple[Tensor, Tensor]]:
    """Short clips joined, in order, into segments of about ``seconds``: each segment
    is ``(reference, test)``, the clips of both cut to the shorter of each pair and
    laid end to end. The last segment takes the clips left over (a segment shorter
    than half of ``seconds`` joins the one before it).

    Example:
        >>> clips = [torch.ones(3000)] * 7
        >>> [r.shape[0] for r, _ in joined_segments(clips, clips, 8000, seconds=1.0)]
        [9000, 12000]
    """
    if len(references) != len(tests):
        raise ValueError(f"Expected as many test clips as references, but found {len(tests)} "
                         f"and {len(references)}.")
    if not references:
        return []
    target = max(1, round(seconds * sample_rate))
    groups: list[list[int]] = [[]]
    filled = 0
    for i, (ref, test) in enumerate(zip(references, tests, strict=True)):
        if filled >= target:
            groups.append([])
            filled = 0
        groups[-1].append(i)
        filled += min(ref.shape[-1], test.shape[-1])
    if len(groups) > 1 and filled < target / 2:
        groups[-2].extend(groups.pop())
    segments = []
    for group in groups:
        cut = [(i, min(references[i].shape[-1], tests[i].shape[-1])) for i in group]
        segments.append((torch.cat([references[i][:k].float() for i, k in cut]),
                         torch.cat([tests[i][:k].float() for i, k in cut])))
    return segments
