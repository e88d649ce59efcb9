"""Classify audio files and decoded clips with a trained
:class:`~wavedil.models.WaveNetClassifier` (or an ensemble of them; see
:mod:`wavedil.models.wrappers`). Scores against labels are in
:mod:`wavedil.metrics.classification`.

Shape legend: B batch, T samples, K classes.

Files are decoded one by one (any rate, any channel count: resampled to the
model's rate and mixed down to mono) and classified in padded batches; a file
that cannot be read becomes a :class:`Failure` and the others go on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.data.functional import pad_batch
from wavedil.data.io import AudioError, load_audio

__all__ = ["Failure", "Prediction", "classify_clips", "predict_files"]


class Prediction(NamedTuple):
    """A classified file.

    Attributes:
        path: the file.
        index: predicted class id.
        label: predicted class name.
        probability: its softmax probability.
        probabilities: all ``(K,)`` probabilities.
    """

    path: Path
    index: int
    label: str
    probability: float
    probabilities: Tensor


class Failure(NamedTuple):
    """A file that could not be classified, and why."""

    path: Path
    error: str


@torch.inference_mode()
def classify_clips(model: nn.Module, clips: Sequence[Tensor], batch_size: int = 100) -> Tensor:
    """``(N,)`` predicted class of each decoded ``(T,)`` clip, in zero-padded batches
    (the model in eval mode; a padded clip gets what it gets alone)."""
    model.eval()
    out = [model(*pad_batch(list(clips[start:start + batch_size]))).argmax(-1)
           for start in range(0, len(clips), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


@torch.inference_mode()
def predict_files(
    model: nn.Module,
    class_names: Sequence[str],
    sample_rate: int,
    paths: Sequence[Path],
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> Iterator[Prediction | Failure]:
    """Classify ``paths`` in order, yielding one result per path.

    Args:
        model: a classifier mapping ``(B, T), lengths (B,) -> (B, K)`` logits.
        class_names: the ``K`` label names.
        sample_rate: the model's rate; files are resampled to it.
        paths: audio files.
        batch_size: files per forward pass.
        device: where the model runs.
    """
    model.eval()
    pending: list[tuple[Path, Tensor]] = []

    def flush() -> Iterator[Prediction]:
        audio, lengths = pad_batch([a for _, a in pending])  # (B, T), (B,)
        probs = model(audio.to(device), lengths.to(device)).softmax(-1).cpu()  # (B, K)
        for (path, _), p in zip(pending, probs, strict=True):
            k = int(p.argmax())
            yield Prediction(path, k, class_names[k], float(p[k]), p)
        pending.clear()

    for path in paths:
        try:
            pending.append((path, load_audio(path, sample_rate)))
        except (AudioError, OSError) as err:
            # keep the output in input order: classify what came before this file first
            if pending:
                yield from flush()
            yield Failure(path, str(err))
            continue
        if len(pending) == batch_size:
            yield from flush()
    if pending:
        yield from flush()
