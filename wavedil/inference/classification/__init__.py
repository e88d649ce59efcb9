"""Classification at inference: predictions for files and clips (ensembles and speed
averaging through the models' wrappers), keyword spotting in long recordings, and
unsupervised adaptation to a new speaker.

    >>> from wavedil.inference.classification import classify_clips, spot_keywords
"""

from wavedil.inference.classification.adapt import adapt, information_maximization
from wavedil.inference.classification.predict import (
    Failure,
    Prediction,
    classify_clips,
    predict_files,
)
from wavedil.inference.classification.spotting import (
    Heard,
    Segment,
    SpeechGate,
    Word,
    spot_keywords,
)

__all__ = [
    "Failure",
    "Heard",
    "Prediction",
    "Segment",
    "SpeechGate",
    "Word",
    "adapt",
    "classify_clips",
    "information_maximization",
    "predict_files",
    "spot_keywords",
]
