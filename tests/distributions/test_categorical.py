import math

import pytest
import torch

from wavedil.distributions import MuLawCategorical, gumbel_argmax


def test_encode_decode_round_trip_within_a_quantisation_step():
    dist = MuLawCategorical(256)
    audio = torch.linspace(-1, 1, 1001).unsqueeze(0)
    codes = dist.encode(audio)
    assert codes.dtype == torch.long and int(codes.min()) == 0 and int(codes.max()) == 255
    error = (dist.decode(codes) - audio).abs()
    # Quantising the companded value y (steps of 2/mu) moves x by at most half a step
    # of dx/dy = (1 + mu|x|) ln(1 + mu) / mu: finest near 0, coarsest at full scale.
    mu = 255
    step = 2 / mu * (1 + mu * audio.abs()) * math.log1p(mu) / mu
    assert torch.all(error <= 0.5 * step * 1.1 + 1e-6)
    assert float(error[..., 495:506].max()) < 1e-3  # |x| <= 0.01
    assert dist.silence() == 128


def test_nll_of_uniform_logits_is_log_classes():
    dist = MuLawCategorical(64)
    nll = dist.nll(torch.zeros(2, 64, 5), torch.randint(0, 64, (2, 5)))
    torch.testing.assert_close(nll, torch.full((2, 5), math.log(64)))


def test_sampling_follows_the_softmax_and_temperature():
    logits = torch.log(torch.tensor([0.7, 0.2, 0.1])).view(1, 3, 1).expand(1, 3, 20000)
    g = torch.Generator().manual_seed(0)
    draws = gumbel_argmax(logits.contiguous(), 1.0, g).flatten()
    freq = torch.bincount(draws, minlength=3).float() / draws.numel()
    torch.testing.assert_close(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.015, rtol=0)
    cold = gumbel_argmax(logits.contiguous(), 0.25, g).flatten()
    assert (cold == 0).float().mean() > 0.95  # 0.7^4 vs 0.2^4: almost always the mode
    assert torch.all(gumbel_argmax(logits.contiguous(), 0.0) == 0)
    with pytest.raises(ValueError, match="temperature"):
        gumbel_argmax(logits, -1.0)


def test_same_generator_seed_same_samples():
    logits = torch.randn(4, 256, 10)
    a = gumbel_argmax(logits, 1.0, torch.Generator().manual_seed(3))
    b = gumbel_argmax(logits, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
