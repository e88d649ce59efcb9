"""Models: the WaveNet generator, the parallel WaveNet vocoder and its discriminator,
the WaveNet classifier, named presets, and classifier wrappers (test-time speed
averaging, ensembles)."""

from wavedil.models.classifier import WaveNetClassifier
from wavedil.models.generator import WaveNet
from wavedil.models.parallel import ParallelWaveNet, WaveDiscriminator
from wavedil.models.presets import classifier_logmel, wavenet_medium, wavenet_small, wavenet_tiny
from wavedil.models.wrappers import Ensemble, SpeedAveraged

__all__ = [
    "Ensemble",
    "ParallelWaveNet",
    "SpeedAveraged",
    "WaveDiscriminator",
    "WaveNet",
    "WaveNetClassifier",
    "classifier_logmel",
    "wavenet_medium",
    "wavenet_small",
    "wavenet_tiny",
]
