"""Causal dilated blocks after the generator's stack: identity at initialisation,
exact in every sampler, fields as measured."""

from __future__ import annotations

import pytest
import torch

from wavedil.inference import make_stepper
from wavedil.models import WaveNet
from wavedil.nn import ASPP1d, ContextModule
from wavedil.receptive_field import layer_fields
from wavedil.spec import from_spec, to_spec


def make(context: str | None, seed: int = 0) -> WaveNet:
    torch.manual_seed(seed)
    block = {None: None,
             "context": ContextModule(12, causal=True, dilations=(1, 2, 4)),
             "aspp": ASPP1d(12, 12, rates=(2, 3), branch_channels=6, causal=True)}[context]
    return WaveNet(10, 12, 12, kernel_size=2, dilations=[1, 2, 4, 8], global_classes=2,
                   global_channels=3, context=block).eval()


def test_an_identity_context_module_leaves_the_untrained_output_unchanged():
    plain, with_context = make(None), make("context")
    missing = with_context.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("context.") for k in missing)
    x, g = torch.randint(0, 256, (2, 80)), torch.tensor([0, 1])
    assert torch.allclose(plain(x, global_cond=g), with_context(x, global_cond=g), atol=1e-6)
    assert with_context.receptive_field == plain.receptive_field + 2 * (1 + 2 + 4)


@pytest.mark.parametrize("context", ["context", "aspp"])
@pytest.mark.parametrize("method", ["fast", "cached", "naive"])
def test_steps_equal_the_full_forward(context, method):
    net = make(context, seed=3)
    with torch.no_grad():  # away from the identity, so the block matters
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    batch, length = 2, 60
    x, g = torch.randint(0, 256, (batch, length)), torch.tensor([1, 0])
    if context == "aspp" and method == "naive":
        # the pooled branch averages over the whole past: no finite window reproduces it
        with pytest.raises(ValueError, match="whole past"):
            make_stepper(method, net, batch, net.global_vector(g), None)
        return
    with torch.no_grad():
        full = net(x, global_cond=g)
        stepper = make_stepper(method, net, batch, net.global_vector(g), None)
        steps = torch.stack([stepper(x[:, t]) for t in range(length)], dim=-1)
    assert (steps - full).abs().max() < 1e-4


def test_fields_and_spec():
    net = make("context")
    fields = layer_fields(net, random_weights=True)
    assert fields[-1].extent.size == net.receptive_field
    assert all(f.extent.future == 0 for f in fields)
    clone = from_spec(to_spec(net))
    assert isinstance(clone.context, ContextModule)


def test_a_non_causal_or_mis_sized_context_is_refused():
    with pytest.raises(ValueError, match="causal"):
        WaveNet(8, 8, 8, dilations=[1, 2], context=ContextModule(8))
    with pytest.raises(ValueError, match="skip_channels=8"):
        WaveNet(8, 8, 8, dilations=[1, 2], context=ContextModule(4, causal=True))
