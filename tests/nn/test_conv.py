import pytest
import torch

from wavedil.nn import CausalConv1d, DilatedConv1d
from wavedil.receptive_field import measure_receptive_field


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 5])
@pytest.mark.parametrize("dilation", [1, 2, 7])
def test_causal_conv_keeps_length_and_sees_only_the_past(kernel_size, dilation):
    conv = CausalConv1d(3, 4, kernel_size, dilation).double()
    x = torch.randn(2, 3, 64, dtype=torch.float64)
    y = conv(x)
    assert y.shape == (2, 4, 64)
    extent = measure_receptive_field(conv, 3, 64, position=40)
    assert extent == ((kernel_size - 1) * dilation + 1, (kernel_size - 1) * dilation, 0)
    assert conv.receptive_field == extent.size


def test_causal_conv_first_output_uses_zero_padding():
    conv = CausalConv1d(1, 1, kernel_size=2, dilation=3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[10.0, 1.0]]]))  # 10 * x[t-3] + x[t]
    x = torch.arange(1.0, 6.0).view(1, 1, 5)
    # t = 0..2 see zeros three steps back; t = 3 sees x[0] = 1, t = 4 sees x[1] = 2.
    assert conv(x).flatten().tolist() == [1.0, 2.0, 3.0, 14.0, 25.0]


@pytest.mark.parametrize("kernel_size,dilation", [(2, 1), (3, 1), (3, 4), (4, 3)])
def test_centred_conv_splits_the_view_with_the_odd_step_in_the_past(kernel_size, dilation):
    conv = DilatedConv1d(2, 2, kernel_size, dilation, causal=False).double()
    span = (kernel_size - 1) * dilation
    extent = measure_receptive_field(conv, 2, 80)
    assert extent.size == span + 1
    assert extent.future == span // 2 == conv.lookahead
    assert extent.past == span - span // 2


@pytest.mark.parametrize("bad", [{"kernel_size": 0}, {"dilation": 0}, {"dilation": -2},
                                 {"in_channels": 0}, {"dilation": 1.5}])
def test_impossible_convs_are_refused_with_the_parameter_named(bad):
    args = {"in_channels": 1, "out_channels": 1, "kernel_size": 2, "dilation": 1, **bad}
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        DilatedConv1d(**args)
