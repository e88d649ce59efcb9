"""Scores: how close audio is to a reference (vocoder quality), and how a classifier's
predictions compare with labels."""

from wavedil.metrics.audio import (
    PitchTrack,
    f0_errors,
    log_mel_distance,
    mel_cepstral_distortion,
    mel_cepstrum,
    pitch_track,
)
from wavedil.metrics.classification import (
    accuracy_report,
    confusion_matrix,
    per_class_accuracy,
    report_markdown,
)

__all__ = [
    "PitchTrack",
    "accuracy_report",
    "confusion_matrix",
    "f0_errors",
    "log_mel_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "per_class_accuracy",
    "pitch_track",
    "report_markdown",
]
