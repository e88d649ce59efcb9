"""Building blocks: dilated convolutions (direct, space-to-batch, depthwise-separable),
the gated residual block, stacks, the context module, the multi-rate (ASPP) block,
conditioning upsamplers, linear prediction from mel frames, pooling, classifier front
ends and their training-time augmentation (SpecAugment, mel warping). Each is usable
alone:

    >>> from wavedil.nn import ResidualBlock
"""

from wavedil.nn.aspp import ASPP1d
from wavedil.nn.conditioning import LocalUpsampler
from wavedil.nn.context import ContextModule
from wavedil.nn.conv import CausalConv1d, DilatedConv1d, receptive_field_of
from wavedil.nn.cost import Cost, cost, separable_saving
from wavedil.nn.frontends import Features, LogMelFrontend, MFCCFrontend, WaveformFrontend
from wavedil.nn.linear_prediction import LinearPrediction
from wavedil.nn.pooling import Pooling, lengths_to_mask
from wavedil.nn.residual import BlockOutput, ResidualBlock
from wavedil.nn.separable import SeparableConv1d
from wavedil.nn.space_to_batch import batch_to_space, dilated_conv1d_space_to_batch, space_to_batch
from wavedil.nn.specaugment import MelWarp, SpecAugment
from wavedil.nn.stack import DilatedStack, StackOutput, dilation_schedule

__all__ = [
    "ASPP1d",
    "BlockOutput",
    "CausalConv1d",
    "ContextModule",
    "Cost",
    "DilatedConv1d",
    "DilatedStack",
    "Features",
    "LinearPrediction",
    "LocalUpsampler",
    "LogMelFrontend",
    "MFCCFrontend",
    "MelWarp",
    "Pooling",
    "ResidualBlock",
    "SeparableConv1d",
    "SpecAugment",
    "StackOutput",
    "WaveformFrontend",
    "batch_to_space",
    "cost",
    "dilated_conv1d_space_to_batch",
    "dilation_schedule",
    "lengths_to_mask",
    "receptive_field_of",
    "separable_saving",
    "space_to_batch",
]
