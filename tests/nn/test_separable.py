"""Depthwise-separable dilated convolutions: one dense filter in disguise, cheaper,
and usable everywhere the dense one is (blocks, the generator, its samplers)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import stream
from wavedil.inference import make_stepper
from wavedil.models import WaveNet, WaveNetClassifier
from wavedil.nn import (
    DilatedConv1d,
    DilatedStack,
    ResidualBlock,
    SeparableConv1d,
    cost,
    separable_saving,
)
from wavedil.receptive_field import measure_receptive_field


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kernel_size,dilation", [(2, 1), (3, 4), (4, 3)])
def test_equals_a_dense_conv_with_the_composed_kernel(causal, kernel_size, dilation):
    sep = SeparableConv1d(5, 7, kernel_size, dilation, causal=causal)
    dense = DilatedConv1d(5, 7, kernel_size, dilation, causal=causal)
    with torch.no_grad():
        dense.weight.copy_(sep.weight)
        dense.bias.copy_(sep.bias)
    x = torch.randn(2, 5, 60)
    assert (sep(x) - dense(x)).abs().max() < 1e-5
    assert sep.receptive_field == dense.receptive_field
    assert sep.lookahead == dense.lookahead


def test_step_equals_forward():
    sep = SeparableConv1d(4, 6, 3, dilation=2)
    x = torch.randn(2, 4, 20)
    assert (stream(sep, x) - sep(x)).abs().max() < 1e-5


def test_separable_block_is_causal_with_the_same_receptive_field():
    block = ResidualBlock(8, 8, 8, kernel_size=3, dilation=4, separable=True).double()
    extent = measure_receptive_field(lambda h: block(h).skip, 8, 60)
    assert extent.size == block.receptive_field == 9
    assert extent.future == 0


def test_saving_matches_the_counted_modules():
    saving = separable_saving(64, 128, kernel_size=3)
    assert saving.dense.macs == 128 * 64 * 3
    assert saving.separable.macs == 64 * 3 + 128 * 64
    assert saving.mac_ratio == pytest.approx(saving.dense.macs / saving.separable.macs)
    dense = DilatedStack(32, 32, 32, [1, 2, 4, 8], kernel_size=3)
    sep = DilatedStack(32, 32, 32, [1, 2, 4, 8], kernel_size=3, separable=True)
    assert cost(sep).parameters < cost(dense).parameters
    assert cost(sep).macs < cost(dense).macs
    # only the dilated convolutions differ: the saving is theirs, four times over
    per_layer = separable_saving(32, 64, 3)
    assert cost(dense).macs - cost(sep).macs == 4 * (per_layer.dense.macs
                                                      - per_layer.separable.macs)


@pytest.mark.parametrize("method", ["fast", "cached", "naive"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_separable_generator_steps_equal_the_full_forward(method, kernel_size):
    torch.manual_seed(kernel_size)
    net = WaveNet(10, 12, 14, kernel_size=kernel_size, dilations=[1, 2, 4, 8, 1, 2],
                  separable=True, global_classes=3, global_channels=4).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    batch, length = 2, 3 * net.receptive_field // 2
    x = torch.randint(0, 256, (batch, length))
    glob = torch.tensor([0, 2])
    with torch.no_grad():
        full = net(x, global_cond=glob)
        stepper = make_stepper(method, net, batch, net.global_vector(glob), None)
        steps = torch.stack([stepper(x[:, t]) for t in range(length)], dim=-1)
    assert (steps - full).abs().max() < 1e-4


def test_separable_classifier_runs_and_is_smaller():
    dense = WaveNetClassifier(3, residual_channels=16, gate_channels=16, skip_channels=16,
                              dilations=[1, 2, 4])
    sep = WaveNetClassifier(3, residual_channels=16, gate_channels=16, skip_channels=16,
                            dilations=[1, 2, 4], separable=True)
    assert sep(torch.randn(2, 300)).shape == (2, 3)
    assert cost(sep).parameters < cost(dense).parameters
