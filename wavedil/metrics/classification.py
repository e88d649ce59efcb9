"""Scores of a classifier's predictions against labels: confusion matrix, accuracy
per class and per speaker, as plain data and as Markdown tables."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["accuracy_report", "confusion_matrix", "mean_and_worst", "per_class_accuracy",
           "report_markdown"]


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


def mean_and_worst(rows: Sequence[Mapping[str, float]], keys: Sequence[str]
                   ) -> dict[str, dict[str, float]]:
    """Per key, the mean over ``rows`` (rounded to 2 places) and the worst (lowest)
    value: how a leave-one-speaker-out study sums up its folds.

    Example:
        >>> mean_and_worst([{"acc": 90.0}, {"acc": 70.0}], ["acc"])
        {'acc': {'mean': 80.0, 'worst': 70.0}}
    """
    return {key: {"mean": round(statistics.mean(r[key] for r in rows), 2),
                  "worst": min(r[key] for r in rows)} for key in keys}
