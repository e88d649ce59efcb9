"""Cached-queue sampling: step-by-step equals the full forward, seeds reproduce,
and the three steppers draw identical samples."""

from __future__ import annotations

import pytest
import torch

from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.inference import FastStepper, generate, make_stepper
from wavedil.models import WaveNet
from wavedil.nn import dilation_schedule

CONDITIONING = ["none", "global_ids", "global_vectors", "local_repeat", "local_linear", "both"]


def make(kernel_size: int, conditioning: str, **extra) -> WaveNet:
    kwargs: dict = dict(kernel_size=kernel_size, dilations=dilation_schedule(8, 2), **extra)
    if conditioning in ("global_ids", "both"):
        kwargs.update(global_classes=3, global_channels=4)
    if conditioning == "global_vectors":
        kwargs.update(global_channels=5)
    if conditioning in ("local_repeat", "both"):
        kwargs.update(local_channels=6, local_hop_length=8)
    if conditioning == "local_linear":
        kwargs.update(local_channels=6, local_hop_length=4, local_upsample="linear")
    torch.manual_seed(kernel_size)
    net = WaveNet(10, 12, 14, **kwargs).eval()
    with torch.no_grad():  # non-trivial biases, so that bias folding is exercised
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net


def conditioning_for(net: WaveNet, batch: int, length: int):
    g = torch.Generator().manual_seed(1)
    local = glob = None
    if net.local_upsampler is not None:
        frames = -(-length // net.local_upsampler.hop_length)
        local = torch.randn(batch, net.local_channels, frames, generator=g)
    if net.global_embedding is not None:
        glob = torch.arange(batch) % net.global_classes
    elif net.global_channels is not None:
        glob = torch.randn(batch, net.global_channels, generator=g)
    return local, glob


@pytest.mark.parametrize("method", ["fast", "cached", "naive"])
@pytest.mark.parametrize("conditioning", CONDITIONING)
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_teacher_forced_steps_equal_the_full_forward(method, conditioning, kernel_size):
    net = make(kernel_size, conditioning)
    batch, length = 3, 3 * net.receptive_field // 2  # past the receptive field: rings wrap
    x = torch.randint(0, 256, (batch, length))
    local_cond, global_cond = conditioning_for(net, batch, length)
    with torch.no_grad():
        full = net(x, local_cond, global_cond)  # (B, C, T)
        stepper = make_stepper(method, net, batch, net.global_vector(global_cond),
                               net.upsample_local(local_cond, length))
        steps = torch.stack([stepper(x[:, t]) for t in range(length)], dim=-1)
    assert (steps - full).abs().max() < 1e-4


@pytest.mark.parametrize("encoding", ["onehot"])
def test_fast_stepper_with_a_conv_input_layer_and_odd_dilations(encoding):
    # kernel 4, dilations whose ring lengths (3, 15, 21) have a large common period,
    # and a one-hot input conv: the general paths of the fast stepper
    torch.manual_seed(0)
    net = WaveNet(8, 8, 8, kernel_size=4, dilations=[1, 5, 7], input_encoding=encoding).eval()
    x = torch.randint(0, 256, (2, 90))
    with torch.no_grad():
        full = net(x)
        stepper = FastStepper(net, 2)
        steps = torch.stack([stepper(x[:, t]) for t in range(90)], dim=-1)
    assert (steps - full).abs().max() < 1e-4


@pytest.mark.parametrize("conditioning", ["none", "both"])
def test_fast_cached_and_naive_draw_identical_samples(conditioning):
    net = make(2, conditioning)
    local_cond, global_cond = conditioning_for(net, 2, 200)
    runs = {m: generate(net, 200, 2, method=m, seed=7, global_cond=global_cond,
                        local_cond=local_cond).values for m in ("fast", "cached", "naive")}
    assert torch.equal(runs["fast"], runs["cached"])
    assert torch.equal(runs["fast"], runs["naive"])
    assert len(torch.unique(runs["fast"])) > 10  # really sampled, not stuck on one value


def test_same_seed_same_audio_other_seed_other_audio():
    net = make(3, "global_ids")
    ids = torch.tensor([0, 2])
    a = generate(net, 150, method="fast", seed=3, global_cond=ids)
    b = generate(net, 150, method="fast", seed=3, global_cond=ids)
    c = generate(net, 150, method="fast", seed=4, global_cond=ids)
    assert torch.equal(a.audio, b.audio)
    assert not torch.equal(a.values, c.values)
    assert a.audio.shape == (2, 150) and a.audio.abs().max() <= 1.0


def test_streams_in_a_batch_are_independent():
    net = make(2, "global_ids")
    ids = torch.tensor([0, 1, 2])
    together = generate(net, 100, global_cond=ids, temperature=0.0).values
    for i in range(3):  # greedy decoding: a stream alone gives the same values as in the batch
        alone = generate(net, 100, global_cond=ids[i:i + 1], temperature=0.0).values
        assert torch.equal(alone[0], together[i])
    sampled = generate(net, 100, 2, global_cond=torch.tensor([1, 1]), seed=0).values
    assert not torch.equal(sampled[0], sampled[1])  # same conditioning, independent noise


def test_temperature_zero_is_greedy_and_low_temperature_narrows_the_samples():
    net = make(2, "none")
    greedy = [generate(net, 80, temperature=0.0, seed=s).values for s in (0, 1)]
    assert torch.equal(greedy[0], greedy[1])
    hot = generate(net, 400, 4, temperature=1.5, seed=0).values
    cold = generate(net, 400, 4, temperature=0.3, seed=0).values
    assert hot.float().std() > cold.float().std()


def test_priming_continues_given_audio():
    net = make(3, "local_repeat")
    prime = torch.sin(torch.linspace(0, 60, 120)).unsqueeze(0).repeat(2, 1) * 0.5
    local_cond, _ = conditioning_for(net, 2, 120 + 80)
    primed = {m: generate(net, 80, method=m, seed=1, prime=prime, local_cond=local_cond).values
              for m in ("fast", "naive")}
    assert torch.equal(primed["fast"], primed["naive"])
    assert primed["fast"].shape == (2, 80)
    unprimed = generate(net, 80, method="fast", seed=1, local_cond=local_cond).values
    assert not torch.equal(primed["fast"], unprimed)
    # the first generated step sees the prime: its logits are forward's last logits on it
    codes = net.output.encode(prime)
    stepper = FastStepper(net, 2, local=net.upsample_local(local_cond, 200))
    with torch.no_grad():
        expected = net(net.shift_right(codes), local_cond)[..., -1]
        stepper(torch.full((2,), 128))
        for t in range(119):
            stepper(codes[:, t])
        got = stepper(codes[:, 119])  # predicts the first sample after the prime
        reference = net(torch.cat([net.shift_right(codes), codes[:, -1:]], -1), local_cond)
    assert (got - reference[..., -1]).abs().max() < 1e-4
    assert not torch.allclose(got, expected)


def test_errors_name_the_problem():
    net = make(2, "local_repeat")
    with pytest.raises(ValueError, match=r"at least 13 conditioning frames"):
        generate(net, 100, local_cond=torch.randn(1, 6, 2))
    with pytest.raises(ValueError, match=r"one batch size across arguments, but found \[1, 2\]"):
        generate(net, 10, 2, local_cond=torch.randn(1, 6, 4))
    with pytest.raises(ValueError, match="method"):
        generate(net, 10, method="turbo", local_cond=torch.randn(1, 6, 4))
    with pytest.raises(ValueError, match="num_samples"):
        generate(net, 0, local_cond=torch.randn(1, 6, 4))
    for method in ("fast", "compiled"):  # checked before any method runs
        with pytest.raises(ValueError, match=r"temperature >= 0, but found -0.5"):
            generate(net, 10, method=method, temperature=-0.5, local_cond=torch.randn(1, 6, 4))
    stepper = FastStepper(net, 1, local=net.upsample_local(torch.randn(1, 6, 1), 8))
    for _ in range(8):
        stepper(torch.tensor([128]))
    with pytest.raises(ValueError, match="covers 8 steps"):
        stepper(torch.tensor([128]))


def make_mixture(kernel_size: int = 3, **extra) -> WaveNet:
    """A generator with a logistic-mixture output (amplitudes in, 16-bit values out)."""
    torch.manual_seed(5)
    net = WaveNet(10, 12, 14, kernel_size=kernel_size, dilations=dilation_schedule(8, 2),
                  input_encoding="continuous", output=DiscretizedLogisticMixture(3), **extra)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("method", ["fast", "cached", "naive"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_continuous_input_steps_equal_the_full_forward(method, kernel_size):
    net = make_mixture(kernel_size, global_classes=2, global_channels=3)
    batch, length = 2, 3 * net.receptive_field // 2
    x = net.output.encode(torch.rand(batch, length) * 2 - 1)
    ids = torch.tensor([0, 1])
    with torch.no_grad():
        full = net(x, global_cond=ids)  # (B, 9, T)
        stepper = make_stepper(method, net, batch, net.global_vector(ids))
        steps = torch.stack([stepper(x[:, t]) for t in range(length)], dim=-1)
    assert (steps - full).abs().max() < 1e-4


def test_mixture_samplers_agree_and_values_lie_on_the_16_bit_grid():
    # In float64 the steppers' parameters differ by ~1e-15, far too little to move a
    # value across a 16-bit step; in float32 a rare value can round the other way,
    # and the streams then part by a few steps (bounded below).
    net = make_mixture().double()
    runs = {m: generate(net, 300, 2, method=m, seed=4).values for m in ("fast", "cached", "naive")}
    assert torch.equal(runs["fast"], runs["cached"]) and torch.equal(runs["fast"], runs["naive"])
    values = runs["fast"]
    assert torch.equal(values * 32768, torch.round(values * 32768))
    assert len(torch.unique(values)) > 100  # really sampled, not stuck on one value
    single = {m: generate(net.float(), 300, 2, method=m, seed=4).values for m in ("fast", "naive")}
    assert (single["fast"] - single["naive"]).abs().max() < 0.01


def test_mixture_priming_and_temperature():
    net = make_mixture()
    prime = 0.5 * torch.sin(torch.linspace(0, 30, 100)).unsqueeze(0)
    a = generate(net, 50, method="fast", seed=1, prime=prime).values
    b = generate(net, 50, method="fast", seed=1).values
    assert not torch.equal(a, b)
    greedy = [generate(net, 60, temperature=0.0, seed=s).values for s in (0, 1)]
    assert torch.equal(greedy[0], greedy[1])


def test_ring_slots_by_arithmetic_equal_the_tables(monkeypatch):
    # periods above the table limit (a model with dilations 1..512 x 3 and kernel 3)
    # compute the slots on the device each step; both must read and write the same slots
    from wavedil.inference.generation import fast as fast_module

    net = make(3, "local_repeat")
    stepper = FastStepper(net, 2)
    rings = list(zip(stepper._starts, stepper._sizes, stepper._dilations, strict=True))
    for t in range(2 * stepper._period + 5):
        read = [start + (t - j * d) % size for start, size, d in rings for j in (1, 2)]
        write = [start + t % size for start, size, _ in rings]
        assert stepper._read_index(t).tolist() == read
        assert stepper._write_index(t).tolist() == write
        table_read, table_write = stepper.ring_rows(t)
        assert table_read.tolist() == read and table_write.tolist() == write
    local, _ = conditioning_for(net, 2, 150)
    tables = generate(net, 150, 2, seed=3, local_cond=local).values
    monkeypatch.setattr(fast_module, "_MAX_TABLE_PERIOD", 0)
    assert torch.equal(generate(net, 150, 2, seed=3, local_cond=local).values, tables)
