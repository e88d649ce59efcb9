"""Vocoding: log-mel frames in, a waveform out, with a trained generator (batched
resynthesis) or Griffin-Lim; and the evaluation that scores both against the
originals.

    >>> from wavedil.inference.vocoding import resynthesize, evaluate_vocoder
"""

from wavedil.inference.vocoding.evaluation import (
    METHODS_SCORED,
    VocoderClip,
    evaluate_vocoder,
    perceptual_scores,
    score_clip,
    select_clips,
)
from wavedil.inference.vocoding.synthesis import (
    SILENCE_PEAK,
    LoadedVocoder,
    Resynthesis,
    check_vocoder,
    decode_for_vocoder,
    griffin_lim,
    load_vocoder,
    mel_frames,
    resynthesize,
)

__all__ = [
    "METHODS_SCORED",
    "SILENCE_PEAK",
    "LoadedVocoder",
    "Resynthesis",
    "VocoderClip",
    "check_vocoder",
    "decode_for_vocoder",
    "evaluate_vocoder",
    "griffin_lim",
    "load_vocoder",
    "mel_frames",
    "perceptual_scores",
    "resynthesize",
    "score_clip",
    "select_clips",
]
