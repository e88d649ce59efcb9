"""The context module: identity at initialisation, causality, receptive field, masks."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import stream
from wavedil.nn import ContextModule
from wavedil.receptive_field import layer_fields, measure_receptive_field


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn_like(p))
    return module


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_basic_module_starts_as_the_identity(causal, kernel_size):
    module = ContextModule(6, kernel_size=kernel_size, causal=causal)
    x = torch.rand(3, 6, 90)  # non-negative, as the ReLUs require
    assert torch.equal(module(x), x)
    assert not torch.equal(randomize(module)(x), x)  # a trained module is not


def test_widening_module_starts_as_the_identity():
    exact = ContextModule(4, variant="widening", widths=[2, 2, 4, 4, 8, 8, 8], init_noise=0.0)
    assert [layer.out_channels for layer in exact.layers] == [8, 8, 16, 16, 32, 32, 32]
    x = torch.rand(2, 4, 70)
    assert torch.allclose(exact(x), x, atol=1e-6)
    noisy = ContextModule(4, variant="widening", widths=[2, 2, 4, 4, 8, 8, 8])
    assert torch.allclose(noisy(x), x, atol=0.05)
    assert not torch.equal(noisy(x), x)  # the noise breaks the symmetry within groups


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_receptive_field_matches_gradients(kernel_size):
    module = randomize(ContextModule(16, kernel_size=kernel_size)).double()
    length = 3 * module.receptive_field
    extent = measure_receptive_field(module, 16, length)
    assert extent.size == module.receptive_field == 1 + (kernel_size - 1) * 33
    assert extent.past == extent.future

    causal = randomize(ContextModule(16, kernel_size=kernel_size, causal=True)).double()
    extent = measure_receptive_field(causal, 16, length, position=length - 3)
    assert extent.size == causal.receptive_field
    assert extent.future == 0


def test_fields_grow_layer_by_layer():
    fields = layer_fields(ContextModule(16), random_weights=True)
    sizes = [f.extent.size for f in fields]
    assert sizes == [3, 5, 9, 17, 33, 65, 67, 67, 67]  # 7 layers, the 1x1, the output


def test_causal_module_ignores_the_future():
    module = randomize(ContextModule(3, causal=True))
    x = torch.randn(1, 3, 120)
    y = module(x)
    x[..., 60:] = torch.randn(1, 3, 60)
    assert torch.equal(module(x)[..., :60], y[..., :60])
    assert (stream(module, x) - module(x)).abs().max() < 1e-5  # and it streams


def test_mask_makes_a_padded_clip_equal_to_the_clip_alone():
    module = randomize(ContextModule(3))
    clip = torch.randn(1, 3, 50)
    padded = torch.cat([clip, torch.zeros(1, 3, 30)], dim=-1)
    mask = torch.zeros(1, 1, 80)
    mask[..., :50] = 1
    assert torch.allclose(module(padded, mask)[..., :50], module(clip), atol=1e-6)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="variant"):
        ContextModule(4, variant="huge")
    with pytest.raises(ValueError, match="one width per dilation"):
        ContextModule(4, variant="widening", widths=[2, 2])
    with pytest.raises(ValueError, match="widths applies"):
        ContextModule(4, widths=[1] * 7)
    with pytest.raises(ValueError, match=r"dilations\[2\]"):
        ContextModule(4, dilations=[1, 2, 0])
    with pytest.raises(ValueError, match="odd kernel_size"):
        ContextModule(4, kernel_size=2, dilations=[2])
