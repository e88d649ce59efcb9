"""Accuracy reports (:mod:`wavedil.metrics.classification`)."""

from __future__ import annotations

import numpy as np

from wavedil.metrics import accuracy_report, confusion_matrix, per_class_accuracy, report_markdown


def test_report_counts_per_class_and_per_speaker():
    labels, guesses = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    report = accuracy_report(labels, guesses, ["a", "b", "c"], ["x", "x", "y", "y", None])
    assert report["files"] == 5 and report["accuracy"] == 0.6
    assert report["per_class"]["a"] == {"n": 2, "correct": 1, "accuracy": 0.5}
    assert report["per_class"]["c"]["accuracy"] == 0.0
    assert report["per_speaker"] == {"x": {"n": 2, "accuracy": 0.5}, "y": {"n": 2, "accuracy": 1.0}}
    assert report["confusion"] == confusion_matrix(labels, guesses, 3).tolist()
    table = report_markdown(report)
    assert "accuracy: 60.00% on 5 files" in table and "| y | 2 | 100.00% |" in table


def test_a_class_without_examples_has_no_accuracy():
    matrix = confusion_matrix([0, 0], [0, 1], 3)
    recall = per_class_accuracy(matrix)
    assert recall[0] == 0.5 and np.isnan(recall[2])
    assert accuracy_report([0], [0], ["a", "b"])["per_class"]["b"]["accuracy"] is None
