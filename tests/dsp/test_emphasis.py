"""Pre-emphasis and de-emphasis: exact inverses, also across pieces."""

from __future__ import annotations

import pytest
import torch

from wavedil.dsp import deemphasis, preemphasis


@pytest.mark.parametrize("a", [0.0, 0.5, 0.85, 0.97])
def test_deemphasis_undoes_preemphasis_to_float_precision(a):
    x = torch.randn(3, 20000) * 0.3
    assert torch.allclose(deemphasis(preemphasis(x, a), a), x, atol=2e-6)
    x64 = x.double()
    assert torch.allclose(deemphasis(preemphasis(x64, a), a), x64, atol=1e-12)


def test_pieces_joined_with_the_previous_sample_equal_the_whole():
    x = torch.randn(2, 5000, dtype=torch.float64)
    y = preemphasis(x, 0.85)
    pieces = torch.cat([preemphasis(x[:, :1234], 0.85),
                        preemphasis(x[:, 1234:], 0.85, previous=x[:, 1233])], dim=-1)
    assert torch.equal(pieces, y)
    back = torch.cat([deemphasis(y[:, :1234], 0.85),
                      deemphasis(y[:, 1234:], 0.85, previous=x[:, 1233])], dim=-1)
    assert torch.allclose(back, x, atol=1e-12)


def test_preemphasis_is_the_first_difference_it_says():
    x = torch.tensor([[1.0, 2.0, 4.0]])
    assert preemphasis(x, 0.5).tolist() == [[1.0, 1.5, 3.0]]


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan"), "0.8", True])
def test_a_coefficient_outside_0_1_is_refused(bad):
    with pytest.raises(ValueError, match=r"pre-emphasis coefficient in \[0, 1\)"):
        preemphasis(torch.zeros(1, 4), bad)
