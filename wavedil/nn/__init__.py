"""Building blocks: dilated convolutions, the gated residual block, stacks,
conditioning upsamplers, pooling and classifier front ends. Each is usable alone:

    >>> from wavedil.nn import ResidualBlock
"""

from wavedil.nn.conditioning import LocalUpsampler
from wavedil.nn.conv import CausalConv1d, DilatedConv1d, receptive_field_of
from wavedil.nn.frontends import Features, LogMelFrontend, MFCCFrontend, WaveformFrontend
from wavedil.nn.pooling import Pooling, lengths_to_mask
from wavedil.nn.residual import BlockOutput, ResidualBlock
from wavedil.nn.stack import DilatedStack, StackOutput, dilation_schedule

__all__ = [
    "BlockOutput",
    "CausalConv1d",
    "DilatedConv1d",
    "DilatedStack",
    "Features",
    "LocalUpsampler",
    "LogMelFrontend",
    "MFCCFrontend",
    "Pooling",
    "ResidualBlock",
    "StackOutput",
    "WaveformFrontend",
    "dilation_schedule",
    "lengths_to_mask",
    "receptive_field_of",
]
