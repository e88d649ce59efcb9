"""One-step (T = 1) paths of the blocks against their full forward."""

import pytest
import torch

from tests.helpers import stream
from wavedil.nn import CausalConv1d, DilatedConv1d, DilatedStack, ResidualBlock
from wavedil.nn.cache import RingBuffer


def test_ring_buffer_reads_the_past_and_refuses_impossible_delays():
    ring = RingBuffer.zeros(2, 3, 4)
    frames = [torch.full((2, 3, 1), float(i)) for i in range(10)]
    for frame in frames:
        ring = ring.push(frame)
    assert ring.index == 10
    assert [float(f[0, 0, 0]) for f in ring.read([1, 2, 3, 4])] == [9.0, 8.0, 7.0, 6.0]
    with pytest.raises(ValueError, match=r"delay in \[1, 4\], but found 5"):
        ring.read([5])


@pytest.mark.parametrize("kernel_size,dilation", [(1, 1), (2, 1), (2, 8), (3, 5), (5, 2)])
def test_conv_step_equals_forward(kernel_size, dilation):
    conv = CausalConv1d(3, 4, kernel_size, dilation)
    x = torch.randn(2, 3, 60)
    torch.testing.assert_close(stream(conv, x), conv(x), atol=1e-5, rtol=1e-5)


def test_centred_conv_cannot_stream():
    with pytest.raises(ValueError, match="Only a causal convolution"):
        DilatedConv1d(2, 2, 3, causal=False).init_cache(1)


def test_block_and_stack_steps_equal_forward():
    block = ResidualBlock(4, 6, 5, kernel_size=3, dilation=4, global_channels=2, local_channels=3)
    stack = DilatedStack(4, 6, 5, [1, 2, 4, 8], kernel_size=2, global_channels=2,
                         local_channels=3)
    x, local, g = torch.randn(2, 4, 40), torch.randn(2, 3, 40), torch.randn(2, 2)
    for module in (block, stack):
        full = module(x, local, g)
        cache = module.conv.init_cache(2) if module is block else module.init_cache(2)
        residual, skip = [], []
        for t in range(40):
            out, cache = module.step(x[..., t:t + 1], cache, local[..., t:t + 1], g)
            residual.append(out.residual)
            skip.append(out.skip)
        torch.testing.assert_close(torch.cat(residual, -1), full.residual, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(torch.cat(skip, -1), full.skip, atol=1e-5, rtol=1e-5)
