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
