"""The discretised mixture of logistics: a proper distribution on the PCM grid,
exact in float32, sampled as it says, and trainable."""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
import soundfile as sf
import torch

from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.distributions.logistic import log1mexp


def grid(bits: int, dtype=torch.float64) -> torch.Tensor:
    levels = 2 ** (bits - 1)
    return torch.arange(-levels, levels, dtype=dtype) / levels


def mixture_params(components: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(1, components, 1, generator=g, dtype=torch.float64)
    means = torch.rand(1, components, 1, generator=g, dtype=torch.float64) * 1.6 - 0.8
    log_scales = torch.rand(1, components, 1, generator=g, dtype=torch.float64) * 2 - 4.5
    return torch.cat([logits, means, log_scales], 1).expand(1, 3 * components, length)


def test_masses_over_the_grid_sum_to_one():
    for bits, components in ((6, 1), (8, 3), (10, 5)):
        dist = DiscretizedLogisticMixture(components, bits=bits)
        values = grid(bits)
        mass = dist.log_prob(mixture_params(components, len(values)), values[None]).exp()
        assert abs(float(mass.sum()) - 1.0) < 1e-9, bits


def test_bin_masses_equal_differences_of_the_mixture_cdf():
    dist = DiscretizedLogisticMixture(3, bits=8)
    values = grid(8)
    params = mixture_params(3, len(values), seed=1)
    logits, means, log_scales = dist.split(params)
    weights = logits.softmax(1)

    def cdf(y):  # (T,) -> (1, T): the mixture CDF
        return (weights * torch.sigmoid((y - means) / log_scales.exp())).sum(1)

    top = torch.where(values >= 127 / 128, torch.ones(()), cdf(values + 1 / 256)[0])
    bottom = torch.where(values <= -1, torch.zeros(()), cdf(values - 1 / 256)[0])
    expected = top - bottom  # (T,)
    got = dist.log_prob(params, values[None]).exp()[0]
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-15)


def test_float32_log_probability_is_accurate_where_the_cdf_difference_is_not():
    # A 16-bit bin in a component's far tail, and a component 1000 times narrower
    # than the bin: float32 CDF differences give -inf and rounding noise there.
    dist = DiscretizedLogisticMixture(1, bits=16)
    params = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [-3.0, -7.0, -7.0]]])  # (1, 3, 3)
    values = torch.tensor([[0.9, 0.5, 0.5 + 2 / 32768]])
    got = dist.log_prob(params, values)
    reference = dist.log_prob(params.double(), values.double())
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), reference, rtol=1e-5, atol=1e-5)
    # a component 1000 times narrower than its bin (floor lowered) holds it all ...
    sharp = DiscretizedLogisticMixture(1, bits=16, log_scale_min=-20.0)
    narrow = sharp.log_prob(torch.tensor([[[0.0], [0.5], [-17.0]]]), torch.tensor([[0.5]]))
    assert -1e-5 < float(narrow) <= 0.0
    # ... and the tail bin's mass is the logistic density times the bin width
    scale = math.exp(-3.0)
    z = (0.9 - 0.0) / scale  # 18 scales out: float32 sigmoids there are both 1.0
    density = math.exp(-z) / (1 + math.exp(-z)) ** 2 / scale
    assert abs(float(got[0, 0]) - math.log(density / 32768)) < 1e-4


def test_log1mexp_is_accurate_across_scales():
    z = torch.tensor([1e-30, 1e-8, 0.1, math.log(2), 5.0, 60.0], dtype=torch.float64)
    getcontext().prec = 60
    expected = torch.tensor([float((1 - (-Decimal(v)).exp()).ln()) for v in z.tolist()],
                            dtype=torch.float64)
    torch.testing.assert_close(log1mexp(z), expected, rtol=1e-12, atol=0)


def test_gradients_stay_finite_for_extreme_parameters():
    dist = DiscretizedLogisticMixture(4, bits=16)
    params = (torch.randn(3, 12, 40) * torch.tensor([1, 1, 1, 1, 30, 30, 30, 30, 40, 40, 40, 40]
                                                     ).view(1, 12, 1)).requires_grad_(True)
    values = dist.encode(torch.rand(3, 40) * 2.4 - 1.2)  # edges included
    loss = dist.nll(params, values)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(params.grad).all()


def test_gradcheck():
    dist = DiscretizedLogisticMixture(2, bits=6)
    params = (torch.randn(2, 6, 5, dtype=torch.float64) * 0.5).requires_grad_(True)
    values = dist.encode(torch.rand(2, 5, dtype=torch.float64) * 2 - 1)
    assert torch.autograd.gradcheck(lambda p: dist.nll(p, values), (params,))


def test_encode_is_the_pcm_grid_and_leaves_16_bit_audio_unchanged(tmp_path):
    dist = DiscretizedLogisticMixture(bits=16)
    pcm = np.array([-32768, -12345, -1, 0, 1, 20000, 32767], dtype=np.int16)
    sf.write(tmp_path / "a.wav", pcm, 8000, subtype="PCM_16")
    audio = torch.from_numpy(sf.read(tmp_path / "a.wav", dtype="float32")[0])
    assert torch.equal(dist.encode(audio), audio)
    assert dist.encode(torch.tensor([1.5, -3.0, 1e-6])).tolist() == [32767 / 32768, -1.0, 0.0]
    assert dist.silence() == 0.0 and dist.out_channels == 30


def test_samples_follow_the_probabilities():
    dist = DiscretizedLogisticMixture(3, bits=6)
    values = grid(6)
    params = mixture_params(3, 1).float()
    pmf = dist.log_prob(params.double().expand(1, 9, 64), values[None]).exp()[0]
    draws = dist.sample(params.expand(1, 9, 100_000).contiguous(), 1.0,
                        torch.Generator().manual_seed(0))[0]
    index = torch.round(draws.double() * 32).long() + 32
    assert torch.equal(draws.double(), index.double() / 32 - 1)  # on the grid
    freq = torch.bincount(index, minlength=64).double() / draws.numel()
    assert 0.5 * float((freq - pmf).abs().sum()) < 0.01  # total variation


def test_temperature_zero_takes_the_likeliest_component_and_low_temperature_narrows():
    dist = DiscretizedLogisticMixture(2, bits=16)
    params = torch.tensor([[[0.0], [2.0], [-0.5], [0.3], [-3.0], [-3.0]]])  # (1, 6, 1)
    assert dist.sample(params, 0.0).item() == dist.encode(torch.tensor(0.3)).item()
    many = params.expand(1, 6, 20_000).contiguous()
    g = torch.Generator().manual_seed(1)
    warm, cold = dist.sample(many, 1.0, g), dist.sample(many, 0.25, g)
    assert (warm < 0).float().mean() > 0.05  # the weaker component is drawn at 1 ...
    assert (cold < 0).float().mean() < 0.01  # ... and hardly at all at 0.25
    assert cold[cold > 0].std() < 0.5 * warm[warm > 0].std()
    a = dist.sample(many, 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(a, dist.sample(many, 1.0, torch.Generator().manual_seed(2)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(components=0), "components"),
    (dict(bits=1), "bits"),
    (dict(bits=32), "bits <= 24"),
    (dict(log_scale_min=float("nan")), "log_scale_min"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DiscretizedLogisticMixture(**kwargs)


def test_wrong_number_of_parameter_channels_is_refused():
    dist = DiscretizedLogisticMixture(10)
    with pytest.raises(ValueError, match=r"\(B, 30, \.\.\.\).*\(2, 256, 7\)"):
        dist.nll(torch.zeros(2, 256, 7), torch.zeros(2, 7))


def test_half_precision_parameters_are_scored_in_float32():
    dist = DiscretizedLogisticMixture(2, bits=16)
    params = torch.randn(2, 6, 30) * 0.5
    values = dist.encode(torch.rand(2, 30) * 2 - 1)
    for dtype in (torch.bfloat16, torch.float16):
        low = dist.log_prob(params.to(dtype), values)
        assert low.dtype == torch.float32
        # the same as float32 on the rounded parameters: the values keep all 16 bits
        torch.testing.assert_close(low, dist.log_prob(params.to(dtype).float(), values))
        drawn = dist.sample(params.to(dtype), 1.0, torch.Generator().manual_seed(0))
        assert drawn.dtype == torch.float32
        assert torch.equal(drawn, dist.sample(params.to(dtype).float(), 1.0,
                                              torch.Generator().manual_seed(0)))
