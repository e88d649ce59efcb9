"""The space-to-batch dilated convolution equals the direct one."""

from __future__ import annotations

import pytest
import torch

from wavedil.nn import DilatedConv1d, ResidualBlock, batch_to_space, space_to_batch


@pytest.mark.parametrize("rate", [1, 2, 3, 5, 8, 64])
@pytest.mark.parametrize("length", [1, 37, 64, 101])
def test_space_to_batch_round_trips(rate, length):
    x = torch.randn(2, 3, length)
    folded = space_to_batch(x, rate)
    assert folded.shape == (2 * rate, 3, -(-length // rate))
    assert torch.equal(batch_to_space(folded, rate, length), x)
    phase = min(rate - 1, length - 1)  # phase p of item b holds x[b, :, p::rate]
    steps = len(range(phase, length, rate))
    assert torch.equal(folded[rate + phase, :, :steps], x[1, :, phase::rate])


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4])
@pytest.mark.parametrize("rate", [1, 2, 3, 7, 16])
@pytest.mark.parametrize("length", [5, 50, 63, 129])
@pytest.mark.parametrize("causal", [True, False])
def test_equals_the_direct_dilated_conv(kernel_size, rate, length, causal):
    torch.manual_seed(rate * 100 + length)
    direct = DilatedConv1d(4, 6, kernel_size, rate, causal=causal)
    folded = DilatedConv1d(4, 6, kernel_size, rate, causal=causal, impl="space_to_batch")
    folded.load_state_dict(direct.state_dict())
    x = torch.randn(3, 4, length, requires_grad=True)
    y_direct, y_folded = direct(x), folded(x)
    assert y_folded.shape == y_direct.shape == (3, 6, length)
    assert (y_direct - y_folded).abs().max() < 1e-5
    g_direct, = torch.autograd.grad(y_direct.square().sum(), x)
    g_folded, = torch.autograd.grad(y_folded.square().sum(), x)
    assert (g_direct - g_folded).abs().max() < 1e-4


def test_depthwise_and_block_paths_agree():
    x = torch.randn(2, 8, 45)
    direct = DilatedConv1d(8, 8, 3, 5, causal=False, groups=8)
    folded = DilatedConv1d(8, 8, 3, 5, causal=False, groups=8, impl="space_to_batch")
    folded.load_state_dict(direct.state_dict())
    assert (direct(x) - folded(x)).abs().max() < 1e-5

    block = ResidualBlock(8, 8, 8, kernel_size=3, dilation=4, separable=True)
    twin = ResidualBlock(8, 8, 8, kernel_size=3, dilation=4, separable=True,
                         impl="space_to_batch")
    twin.load_state_dict(block.state_dict())
    assert (block(x).skip - twin(x).skip).abs().max() < 1e-5


def test_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="impl"):
        DilatedConv1d(2, 2, 2, impl="fft")
