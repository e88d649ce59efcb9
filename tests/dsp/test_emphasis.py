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


def test_the_highpass_is_a_butterworth_of_its_order():
    import math

    from wavedil.dsp import butterworth_qs, highpass

    t = torch.arange(16000) / 8000
    for hz, expected_db in ((17.5, -48.2), (35.0, -24.1), (70.0, -3.0), (280.0, -0.0)):
        tone = torch.sin(2 * math.pi * hz * t)
        out = highpass(tone, 8000, 70.0, order=4)[8000:]
        gain = 20 * math.log10(float(out.pow(2).mean().sqrt() / tone[8000:].pow(2).mean().sqrt()))
        # |H|^2 = 1 / (1 + (fc / f)^8): an octave down loses 24 dB
        assert gain == pytest.approx(expected_db, abs=0.3), hz
    assert len(butterworth_qs(6)) == 3
    with pytest.raises(ValueError, match="even filter order"):
        butterworth_qs(3)
    with pytest.raises(ValueError, match="cutoff"):
        highpass(torch.zeros(10), 8000, 4000.0)
