"""wavedil: WaveNet-style dilated-convolution audio models.

    >>> from wavedil.nn import ResidualBlock, DilatedStack
    >>> from wavedil.models import WaveNet, WaveNetClassifier
"""

__version__ = "0.1.0"
