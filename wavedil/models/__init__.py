"""Models: the WaveNet generator, the WaveNet classifier and named presets."""

from wavedil.models.classifier import WaveNetClassifier
from wavedil.models.generator import WaveNet
from wavedil.models.presets import classifier_logmel, wavenet_medium, wavenet_small, wavenet_tiny

__all__ = [
    "WaveNet",
    "WaveNetClassifier",
    "classifier_logmel",
    "wavenet_medium",
    "wavenet_small",
    "wavenet_tiny",
]
