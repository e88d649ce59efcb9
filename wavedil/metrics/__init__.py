"""Scores: how close audio is to a reference (vocoder quality)."""

from wavedil.metrics.audio import (
    PitchTrack,
    f0_errors,
    log_mel_distance,
    mel_cepstral_distortion,
    mel_cepstrum,
    pitch_track,
)

__all__ = [
    "PitchTrack",
    "f0_errors",
    "log_mel_distance",
    "mel_cepstral_distortion",
    "mel_cepstrum",
    "pitch_track",
]
