import pytest
import torch

from wavedil.distributions import DiscretizedLogisticMixture, MuLawCategorical
from wavedil.models import WaveNet, wavenet_medium, wavenet_small, wavenet_tiny
from wavedil.nn import dilation_schedule
from wavedil.receptive_field import measure_receptive_field
from wavedil.spec import from_spec, to_spec

CONFIGS = {
    "k2_plain": dict(dilations=dilation_schedule(16, 2), kernel_size=2),
    "k3_onehot": dict(dilations=dilation_schedule(8, 2), kernel_size=3, input_encoding="onehot"),
    "global_ids": dict(dilations=[1, 2, 4, 8], global_classes=4, global_channels=5),
    "global_vectors": dict(dilations=[1, 2, 4, 8], global_channels=7),
    "local_repeat": dict(dilations=[1, 2, 4], local_channels=10, local_hop_length=16),
    "local_linear": dict(dilations=[1, 2, 4], kernel_size=3, local_channels=10,
                         local_hop_length=8, local_upsample="linear", local_hidden_channels=6),
    "classes_64": dict(dilations=[1, 2], output=MuLawCategorical(64)),
    "logistic_mixture": dict(dilations=[1, 2, 4, 8], kernel_size=3, input_encoding="continuous",
                             output=DiscretizedLogisticMixture(4)),
}


def make(name: str) -> WaveNet:
    return WaveNet(12, 16, 14, **CONFIGS[name])


def inputs(net: WaveNet, batch: int, length: int) -> torch.Tensor:
    """Random previous values: codes, or amplitudes for a continuous output."""
    if net.input_encoding == "continuous":
        return net.output.encode(torch.rand(batch, length) * 2 - 1)
    return torch.randint(0, net.output.out_channels, (batch, length))


def conditioning(net: WaveNet, batch: int, length: int):
    local = global_ = None
    if net.local_upsampler is not None:
        hop = net.local_upsampler.hop_length
        local = torch.randn(batch, net.local_channels, -(-length // hop))
    if net.global_embedding is not None:
        global_ = torch.randint(0, net.global_classes, (batch,))
    elif net.global_channels is not None:
        global_ = torch.randn(batch, net.global_channels)
    return local, global_


@pytest.mark.parametrize("name", CONFIGS)
def test_shapes(name):
    net = make(name)
    x = inputs(net, 3, 100)
    out = net(x, *conditioning(net, 3, 100))
    assert out.shape == (3, net.output.out_channels, 100)


@pytest.mark.parametrize("name", CONFIGS)
def test_causal_perturbing_the_future_leaves_the_past_unchanged(name):
    net = make(name).eval()
    t = 37
    x = inputs(net, 2, 90)
    local, global_ = conditioning(net, 2, 90)
    y = net(x, local, global_)
    x2 = x.clone()
    x2[..., t:] = inputs(net, 2, 90 - t)
    y2 = net(x2, local, global_)
    torch.testing.assert_close(y2[..., :t], y[..., :t], rtol=0, atol=1e-6)
    assert not torch.allclose(y2[..., t:], y[..., t:])  # the test can fail: later steps did change


@pytest.mark.parametrize("name", ["k2_plain", "k3_onehot", "local_repeat", "logistic_mixture"])
def test_receptive_field_from_gradients(name):
    net = make(name).double()
    field = net.receptive_field
    length = field + 40
    local, _ = conditioning(net, 1, length)
    local = None if local is None else local.double()

    if net.input_encoding != "embedding":  # measure through the input conv too
        def fn(conv_input):  # one-hot vectors or amplitudes
            h = net.input_layer.mix(conv_input)
            return net.head(net.stack(h, net.upsample_local(local, length)).skip)
        channels = net.input_layer.in_channels
    else:  # an embedding is per step: measure from its output
        def fn(h):
            return net.head(net.stack(h, net.upsample_local(local, length)).skip)
        channels = net.stack.blocks[0].conv.in_channels
    extent = measure_receptive_field(fn, channels, length, position=length - 5)
    assert extent.size == field
    assert extent.future == 0


def test_receptive_field_of_presets():
    assert wavenet_small().receptive_field == 2047  # 1 + 2 * (1 + 2 + ... + 512)
    assert wavenet_medium().receptive_field == 1 + 2 * 4 * 63
    assert wavenet_tiny().receptive_field == 128


def test_shift_right_aligns_targets():
    net = make("k2_plain")
    codes = torch.tensor([[5, 6, 7]])
    assert net.shift_right(codes).tolist() == [[128, 5, 6]]


def test_spec_round_trip_rebuilds_the_same_function():
    net = make("local_linear").eval()
    clone = from_spec(to_spec(net)).eval()
    clone.load_state_dict(net.state_dict())
    x = torch.randint(0, 256, (2, 64))
    local = torch.randn(2, 10, 8)
    torch.testing.assert_close(clone(x, local), net(x, local))


def test_conditioning_errors_name_what_was_expected():
    net = make("global_ids")
    x = torch.randint(0, 256, (2, 20))
    with pytest.raises(ValueError, match=r"class ids in \[0, 4\)"):
        net(x)
    with pytest.raises(ValueError, match=r"class ids in \[0, 4\), but found \[0, 9\]"):
        net(x, global_cond=torch.tensor([0, 9]))
    local_net = make("local_repeat")
    with pytest.raises(ValueError, match=r"at least 2 conditioning frames"):
        local_net(x, local_cond=torch.randn(2, 10, 1))
    with pytest.raises(ValueError, match="local_hop_length"):
        WaveNet(8, 8, 8, dilations=[1], local_channels=4)
    with pytest.raises(ValueError, match="input_encoding"):
        WaveNet(8, 8, 8, dilations=[1], input_encoding="continuous")
    with pytest.raises(ValueError, match=r"dilations\[0\]"):
        WaveNet(8, 8, 8, dilations=[0, 1])
