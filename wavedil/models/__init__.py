"""Models: the WaveNet generator, the WaveNet classifier, named presets, and classifier
wrappers (test-time speed averaging, ensembles)."""

from wavedil.models.classifier import WaveNetClassifier
from wavedil.models.generator import WaveNet
from wavedil.models.presets import classifier_logmel, wavenet_medium, wavenet_small, wavenet_tiny
from wavedil.models.wrappers import Ensemble, SpeedAveraged

__all__ = [
    "Ensemble",
    "SpeedAveraged",
    "WaveNet",
    "WaveNetClassifier",
    "classifier_logmel",
    "wavenet_medium",
    "wavenet_small",
    "wavenet_tiny",
]
