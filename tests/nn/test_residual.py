import pytest
import torch

from wavedil.nn import ResidualBlock
from wavedil.receptive_field import measure_receptive_field


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("kernel_size,dilation", [(2, 1), (2, 16), (3, 4)])
def test_block_shapes_and_receptive_field(causal, kernel_size, dilation):
    block = ResidualBlock(8, 12, 10, kernel_size, dilation, causal=causal).double()
    x = torch.randn(3, 8, 100, dtype=torch.float64)
    out = block(x)
    assert out.residual.shape == (3, 8, 100)
    assert out.skip.shape == (3, 10, 100)
    for branch in (0, 1):
        extent = measure_receptive_field(lambda h, b=branch: block(h)[b], 8, 120)
        assert extent.size == block.receptive_field == (kernel_size - 1) * dilation + 1
        span = (kernel_size - 1) * dilation
        assert extent.future == (0 if causal else span // 2)


def test_conditioning_enters_the_gate():
    block = ResidualBlock(4, 6, 5, global_channels=3, local_channels=2)
    x = torch.randn(2, 4, 30)
    local = torch.randn(2, 2, 30)
    g = torch.randn(2, 3)
    base = block(x, local, g)
    # Changing either conditioning input changes the output; changing local at one step
    # changes the outputs at that step only (the projection is 1x1).
    other_g = block(x, local, g + 1)
    assert not torch.allclose(base.skip, other_g.skip)
    local2 = local.clone()
    local2[..., 10] += 1
    changed = (block(x, local2, g).skip - base.skip).abs().sum(1)[0] > 0
    assert changed.nonzero().flatten().tolist() == [10]


def test_conditioning_mismatch_is_reported():
    plain = ResidualBlock(4, 4, 4)
    with pytest.raises(ValueError, match="without global conditioning"):
        plain(torch.randn(1, 4, 8), global_cond=torch.randn(1, 3))
    cond = ResidualBlock(4, 4, 4, local_channels=2)
    with pytest.raises(ValueError, match="Expected local_cond with 2 channels"):
        cond(torch.randn(1, 4, 8))


@pytest.mark.parametrize("bad", [{"dilation": 0}, {"gate_channels": 0}, {"dropout": 1.0},
                                 {"global_channels": 0}])
def test_impossible_blocks_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ResidualBlock(**{"residual_channels": 4, "gate_channels": 4, "skip_channels": 4, **bad})


def test_gate_and_its_backward_are_tanh_times_sigmoid():
    from wavedil.nn.residual import gated_tanh

    h = torch.randn(2, 8, 7, dtype=torch.float64, requires_grad=True)
    a, b = h.chunk(2, dim=1)
    assert torch.allclose(gated_tanh(h), torch.tanh(a) * torch.sigmoid(b), atol=1e-12)
    assert torch.autograd.gradcheck(gated_tanh, (h,))
    # a strided view of a wider tensor (as a block's conditioned sum can be)
    wide = torch.randn(2, 12, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: gated_tanh(w[:, 2:10]), (wide,))


@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_is_the_1x1_convolution_with_its_gradients(bias):
    from wavedil.nn.conv import pointwise

    conv = torch.nn.Conv1d(5, 3, 1, bias=bias).double()
    x = torch.randn(2, 5, 9, dtype=torch.float64, requires_grad=True)
    residual = torch.randn(2, 3, 9, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(pointwise(conv, x), conv(x), atol=1e-12)
    assert torch.allclose(pointwise(conv, x, residual), residual + conv(x), atol=1e-12)
    params = [p for p in conv.parameters()]
    assert torch.autograd.gradcheck(lambda x, r, *_: pointwise(conv, x, r),
                                    (x, residual, *params))
    with pytest.raises(ValueError, match="1x1 convolution"):
        pointwise(torch.nn.Conv1d(5, 3, 2), x)
