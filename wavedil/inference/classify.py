"""Classify audio files with a trained :class:`~wavedil.models.WaveNetClassifier`,
and score predictions against labels.

Shape legend: B batch, T samples, K classes.

Files are decoded one by one (any rate, any channel count: resampled to the
model's rate and mixed down to mono) and classified in padded batches; a file
that cannot be read becomes a :class:`Failure` and the others go on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from wavedil.data.functional import pad_batch, resample
from wavedil.data.io import AudioError, load_audio

__all__ = [
    "Ensemble",
    "Failure",
    "Prediction",
    "SpeedAveraged",
    "accuracy_report",
    "classify_clips",
    "confusion_matrix",
    "per_class_accuracy",
    "predict_files",
    "report_markdown",
]


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


class SpeedAveraged(nn.Module):
    """Test-time augmentation: a classifier's log-probabilities averaged over copies
    of the input played at several ``speeds`` (the speed perturbation of training,
    applied at test time).

    Speed ``s`` plays a clip ``s`` times as fast: it is resampled from ``rate * s``
    to ``rate`` (band-limited; speeds are rounded to whole percent, as in
    :class:`~wavedil.data.augment.Augment`), and its length becomes
    ``ceil(T / s)``. A zero-padded clip in a batch gets the result it gets alone.

    Shapes: ``(B, T), lengths (B,) -> (B, K)`` log-probabilities (mean over speeds;
    ``softmax`` of them is the normalised geometric mean of the probabilities).

    Example:
        >>> from wavedil.models import WaveNetClassifier
        >>> tta = SpeedAveraged(WaveNetClassifier(10, dilations=[1, 2]), (0.9, 1.0, 1.1))
        >>> tta(torch.randn(2, 800), torch.tensor([800, 640])).shape
        torch.Size([2, 10])
    """

    def __init__(self, model: nn.Module, speeds: Sequence[float] = (0.9, 1.0, 1.1)) -> None:
        super().__init__()
        if not speeds:
            raise ValueError("Expected at least one speed, but found none.")
        percents = [round(100 * s) for s in speeds]
        bad = [s for s, p in zip(speeds, percents, strict=True) if not 50 <= p <= 200]
        if bad:
            raise ValueError(f"Expected speeds between 0.5 and 2.0, but found {bad}.")
        self.model = model
        self.percents = percents

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    @property
    def speeds(self) -> list[float]:
        return [p / 100 for p in self.percents]

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = torch.full(audio.shape[:1], audio.shape[-1], device=audio.device)
        total = None
        for percent in self.percents:
            if percent == 100:
                played, played_lengths = audio, lengths
            else:
                played = resample(audio, percent, 100)  # (B, ceil(T * 100 / percent))
                played_lengths = torch.div(lengths * 100 + percent - 1, percent,
                                           rounding_mode="floor")
                played = played * (torch.arange(played.shape[-1], device=audio.device)
                                   < played_lengths[:, None])  # clear the filter's tails
            logp = self.model(played, played_lengths).log_softmax(-1)  # (B, K)
            total = logp if total is None else total + logp
        assert total is not None
        return total / len(self.percents)


class Ensemble(nn.Module):
    """Several classifiers as one: their log-probabilities averaged.

    ``softmax`` of the result is the normalised geometric mean of the members'
    probabilities. An average can only correct mistakes the members do not share;
    on FSDD's unseen speakers neither two seeds nor an MFCC and a log-mel model
    gained beyond seed spread (README, "Ensembles").

    Shapes: ``(B, T), lengths (B,) -> (B, K)`` log-probabilities.

    Example:
        >>> from wavedil.models import WaveNetClassifier
        >>> pair = Ensemble([WaveNetClassifier(10, dilations=[1, 2]),
        ...                  WaveNetClassifier(10, dilations=[1, 2, 4])])
        >>> pair(torch.randn(2, 800), torch.tensor([800, 640])).shape
        torch.Size([2, 10])
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("Expected at least one classifier, but found none.")
        self.members = nn.ModuleList(members)

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        total = sum(member(audio, lengths).log_softmax(-1) for member in self.members)
        return total / len(self.members)


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


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], classes: int
                     ) -> np.ndarray:
    """``(K, K)`` counts: row = true class, column = predicted class.

    Example:
        >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
        [[1, 1], [0, 1]]
    """
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall per class (diagonal over row sums; NaN for a class with no examples)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def accuracy_report(labels: Sequence[int], predictions: Sequence[int],
                    class_names: Sequence[str],
                    speakers: Sequence[str | None] | None = None) -> dict:
    """Accuracy overall, per class and (when ``speakers`` are given) per speaker, with
    the confusion matrix: plain data, ready for JSON and :func:`report_markdown`.

    Example:
        >>> r = accuracy_report([0, 0, 1], [0, 1, 1], ["no", "yes"])
        >>> r["accuracy"], r["per_class"]["no"]
        (0.6667, {'n': 2, 'correct': 1, 'accuracy': 0.5})
    """
    matrix = confusion_matrix(labels, predictions, len(class_names))
    recall = per_class_accuracy(matrix)
    report: dict = {
        "files": int(matrix.sum()),
        "accuracy": round(float(np.trace(matrix) / max(1, matrix.sum())), 4),
        "per_class": {n: {"n": int(matrix[i].sum()), "correct": int(matrix[i, i]),
                          "accuracy": None if np.isnan(recall[i]) else round(float(recall[i]), 4)}
                      for i, n in enumerate(class_names)},
        "confusion": matrix.tolist(),
    }
    per_speaker: dict[str, list[int]] = {}
    for t, g, s in zip(labels, predictions, speakers or [], strict=False):
        if s is not None:
            counts = per_speaker.setdefault(s, [0, 0])
            counts[0] += int(t == g)
            counts[1] += 1
    if per_speaker:
        report["per_speaker"] = {s: {"n": n, "accuracy": round(c / n, 4)}
                                 for s, (c, n) in sorted(per_speaker.items())}
    return report


def report_markdown(report: dict) -> str:
    """Markdown tables of an :func:`accuracy_report`: per class, and per speaker."""
    lines = [f"accuracy: {report['accuracy']:.2%} on {report['files']} files", "",
             "| class | files | correct | accuracy |", "| --- | --- | --- | --- |"]
    for name, row in report["per_class"].items():
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
        lines.append(f"| {name} | {row['n']} | {row['correct']} | {acc} |")
    if "per_speaker" in report:
        lines += ["", "| speaker | files | accuracy |", "| --- | --- | --- |"]
        lines += [f"| {s} | {row['n']} | {row['accuracy']:.2%} |"
                  for s, row in report["per_speaker"].items()]
    return "\n".join(lines) + "\n"
