import pytest
import torch

from wavedil.nn import DilatedStack, dilation_schedule
from wavedil.receptive_field import measure_receptive_field


def test_dilation_schedule_cycles_powers_of_two():
    assert dilation_schedule(512, 2) == [2**i for i in range(10)] * 2
    with pytest.raises(ValueError, match="power of 2"):
        dilation_schedule(12)
    with pytest.raises(ValueError, match="cycles"):
        dilation_schedule(8, cycles=0)


@pytest.mark.parametrize(
    "dilations,kernel_size,causal",
    [
        (dilation_schedule(16, 2), 2, True),
        (dilation_schedule(8, 1), 3, True),
        ([1, 3, 9, 27], 2, False),
        (dilation_schedule(4, 3), 3, False),
    ],
)
def test_stack_receptive_field_matches_gradients(dilations, kernel_size, causal):
    stack = DilatedStack(6, 8, 7, dilations, kernel_size=kernel_size, causal=causal).double()
    expected = 1 + (kernel_size - 1) * sum(dilations)
    assert stack.receptive_field == expected
    length = 2 * expected + 20
    extent = measure_receptive_field(lambda x: stack(x).skip, 6, length)
    assert extent.size == expected
    if causal:
        assert extent.future == 0


def test_stack_sums_every_blocks_skip():
    stack = DilatedStack(4, 4, 4, [1, 2, 4])
    x = torch.randn(2, 4, 20)
    skips = []
    h = x
    for block in stack.blocks:
        h, s = block(h)
        skips.append(s)
    out = stack(x)
    torch.testing.assert_close(out.skip, sum(skips))
    torch.testing.assert_close(out.residual, h)


def test_stack_refuses_bad_dilations():
    with pytest.raises(ValueError, match=r"dilations\[1\]"):
        DilatedStack(4, 4, 4, [1, 0, 2])
    with pytest.raises(ValueError, match="at least one dilation"):
        DilatedStack(4, 4, 4, [])
