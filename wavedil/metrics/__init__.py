"""Scores: how close audio is to a reference (vocoder quality: spectral distances,
pitch, PESQ and STOI), and how a classifier's predictions compare with labels."""

from wavedil.metrics.audio import (
    PitchTrack,
    analysis_settings,
    cepstrum_from_log_mel,
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
from wavedil.metrics.perceptual import (
    joined_segments,
    perceptual_available,
    pesq_score,
    stoi_score,
)

__all__ = [
    "PitchTrack",
    "accuracy_report",
    "analysis_settings",
    "cepstrum_from_log_mel",
    "confusion_matrix",
    "f0_errors",
    "joined_segments",
    "log_mel_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "per_class_accuracy",
    "perceptual_available",
    "pesq_score",
    "pitch_track",
    "report_markdown",
    "stoi_score",
]
