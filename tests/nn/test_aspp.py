"""The multi-rate (ASPP) block: branch fields, the clip-level branch, causality, masks."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import stream
from wavedil.nn import ASPP1d
from wavedil.receptive_field import layer_fields, measure_receptive_field


def test_shapes_and_defaults():
    block = ASPP1d(8, 12, rates=(2, 4), branch_channels=5)
    assert block(torch.randn(2, 8, 33)).shape == (2, 12, 33)
    assert len(block.branches) == 3  # the 1x1 and two dilated branches
    assert block.project.in_channels == 4 * 5  # + the pooled branch
    assert ASPP1d(8)(torch.randn(1, 8, 10)).shape == (1, 8, 10)


def test_without_pooling_the_field_is_the_widest_branch():
    block = ASPP1d(16, 16, rates=(3, 9), pooling=False).double()
    extent = measure_receptive_field(block, 16, 120)
    assert extent.size == block.receptive_field == 19
    assert not block.global_context
    sizes = {f.name: f.extent.size for f in layer_fields(block, length=120)}
    assert sizes["branches.0"] == 1 and sizes["branches.1"] == 7 and sizes["branches.2"] == 19


def test_the_pooled_branch_sees_the_whole_clip():
    block = ASPP1d(4, 4, rates=(2,)).double()
    extent = measure_receptive_field(block, 4, 100)
    assert block.global_context
    assert extent.size == 100


def test_causal_block_with_running_mean_ignores_the_future():
    block = ASPP1d(3, 5, rates=(2, 8), causal=True)
    x = torch.randn(2, 3, 80)
    y = block(x)
    x[..., 40:] = torch.randn(2, 3, 40)
    assert torch.equal(block(x)[..., :40], y[..., :40])
    assert (stream(block, x) - block(x)).abs().max() < 1e-5  # the running mean streams
    extent = measure_receptive_field(block.double(), 3, 80, position=60)
    assert extent.future == 0 and extent.past == 60  # everything so far


@pytest.mark.parametrize("causal", [False, True])
def test_padding_is_left_out_of_the_pooled_mean(causal):
    block = ASPP1d(3, 4, rates=(2, 4), causal=causal)
    clip = torch.randn(1, 3, 40)
    padded = torch.cat([clip, torch.zeros(1, 3, 25)], dim=-1)
    mask = torch.zeros(1, 1, 65)
    mask[..., :40] = 1
    alone = block(clip, torch.ones(1, 1, 40))
    # centred branches see the padding zeros as they would see conv padding
    assert torch.allclose(block(padded, mask)[..., :40], alone, atol=1e-6)
    assert torch.all(block(padded, mask)[..., 40:] == 0)


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match=r"dilations\[1\]"):
        ASPP1d(4, rates=(2, 0))
    with pytest.raises(ValueError, match="dropout"):
        ASPP1d(4, dropout=1.0)
    with pytest.raises(ValueError, match="in_channels"):
        ASPP1d(0)
