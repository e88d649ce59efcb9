"""The compiled sampling loop: the same samples for a seed as the fast path, for
every input layer, output, conditioning and prime, and a fallback that says why."""

from __future__ import annotations

import pytest
import torch

from tests.inference.generation.test_sampler import conditioning_for, make, make_mixture
from wavedil.inference import CompiledSampler, generate
from wavedil.inference.generation import compiled as compiled_module
from wavedil.models import WaveNet
from wavedil.nn import ContextModule


def both(net: WaveNet, length: int, batch: int, **kwargs) -> dict[str, torch.Tensor]:
    return {m: generate(net, length, batch, method=m, **kwargs).values
            for m in ("fast", "compiled")}


@pytest.mark.parametrize("conditioning", ["none", "global_ids", "global_vectors",
                                          "local_repeat", "local_linear", "both"])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_compiled_draws_the_fast_paths_samples(conditioning, kernel_size):
    net = make(kernel_size, conditioning)
    length = 300  # past the receptive field (rings wrap) and across a chunk boundary (256)
    local_cond, global_cond = conditioning_for(net, 2, length)
    runs = both(net, length, 2, seed=11, local_cond=local_cond, global_cond=global_cond)
    assert runs["compiled"].dtype == runs["fast"].dtype == torch.long
    assert torch.equal(runs["compiled"], runs["fast"])
    assert len(torch.unique(runs["compiled"])) > 10  # really sampled


@pytest.mark.parametrize("temperature", [0.0, 0.6, 1.0])
def test_temperatures_and_a_prime_across_chunks(temperature):
    net = make(3, "local_repeat")
    prime = 0.5 * torch.sin(torch.linspace(0, 90, 280)).unsqueeze(0).repeat(2, 1)
    local_cond, _ = conditioning_for(net, 2, 280 + 120)
    runs = both(net, 120, 2, seed=2, prime=prime, local_cond=local_cond,
                temperature=temperature)
    assert runs["compiled"].shape == (2, 120)
    assert torch.equal(runs["compiled"], runs["fast"])


def test_one_hot_input_odd_dilations_kernel_4_and_float64():
    torch.manual_seed(0)
    net = WaveNet(8, 8, 8, kernel_size=4, dilations=[1, 5, 7], input_encoding="onehot").eval()
    runs = both(net, 200, 3, seed=5)
    assert torch.equal(runs["compiled"], runs["fast"])
    runs = both(net.double(), 200, 1, seed=6)
    assert torch.equal(runs["compiled"], runs["fast"])


def test_a_mixture_draws_the_same_16_bit_values():
    # float64: exactly the fast path's values; float32: the paths' rounding can put a
    # rare value on the other side of a 16-bit step (as between the other samplers)
    net = make_mixture(global_classes=2, global_channels=3)
    ids = torch.tensor([0, 1])
    runs = both(net.double(), 300, 2, seed=4, global_cond=ids)
    assert torch.equal(runs["compiled"], runs["fast"])
    assert runs["compiled"].dtype == torch.float64
    assert len(torch.unique(runs["compiled"])) > 100
    single = both(net.float(), 300, 2, seed=4, global_cond=ids)
    assert single["compiled"].dtype == torch.float32
    assert (single["compiled"] - single["fast"]).abs().max() < 0.01
    greedy = both(net.double(), 80, 1, temperature=0.0, global_cond=ids[:1])
    assert torch.equal(greedy["compiled"], greedy["fast"])


def test_a_sampler_continues_where_its_last_run_stopped():
    net = make(2, "global_ids")
    gvec = net.global_vector(torch.tensor([2]))
    whole = CompiledSampler(net, 1, gvec).run(torch.full((1,), 128), 90,
                                              generator=torch.Generator().manual_seed(1))
    sampler, generator = CompiledSampler(net, 1, gvec, chunk=7), torch.Generator().manual_seed(1)
    first = sampler.run(torch.full((1,), 128), 40, generator=generator)
    rest = sampler.run(first[:, -1], 50, generator=generator)
    assert torch.equal(torch.cat([first, rest], -1), whole)


def test_falls_back_to_the_fast_path_with_the_reason(monkeypatch):
    torch.manual_seed(0)
    net = WaveNet(10, 12, 12, kernel_size=2, dilations=[1, 2, 4],
                  context=ContextModule(12, causal=True, dilations=(1, 2))).eval()
    with pytest.warns(UserWarning, match="context block.*using method='fast'"):
        got = generate(net, 50, method="compiled", seed=1).values
    assert torch.equal(got, generate(net, 50, method="fast", seed=1).values)

    def no_numba():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(compiled_module, "kernel", no_numba)
    net = make(2, "none")
    with pytest.warns(UserWarning, match="numba could not compile.*No module named 'numba'"):
        got = generate(net, 50, method="compiled", seed=1).values
    assert torch.equal(got, generate(net, 50, method="fast", seed=1).values)
    with pytest.warns(UserWarning, match=r"float32/float64 models.*torch.bfloat16"):
        generate(net.bfloat16(), 5, method="compiled", seed=1)


def test_auto_takes_the_compiled_loop_for_small_models_at_small_batches(monkeypatch):
    from wavedil.inference.generation.sampler import AUTO_MAX_BATCH, auto_method
    from wavedil.models import wavenet_medium

    net = make(2, "none")
    assert auto_method(net, 1) == auto_method(net, AUTO_MAX_BATCH) == "compiled"
    assert auto_method(net, AUTO_MAX_BATCH + 1) == "fast"
    assert auto_method(wavenet_medium(), 1) == "fast"  # 25 MB of weights: memory-bound
    auto = generate(net, 60, 2, method="auto", seed=3)
    assert auto.method == "compiled"
    assert torch.equal(auto.values, generate(net, 60, 2, method="fast", seed=3).values)
    assert generate(net, 60, 8, method="auto", seed=3).method == "fast"

    def no_numba():
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(compiled_module, "kernel", no_numba)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back without a word
        assert generate(net, 20, method="auto", seed=3).method == "fast"


def test_a_loop_that_fails_to_compile_falls_back_at_once(monkeypatch):
    # numba compiles at the first call: a kernel whose typing fails must fail while the
    # sampler is built (and be caught), not mid-generation
    import numba

    def broken(*args):  # pragma: no cover - never runs: typing fails first
        return args[0] + "a string"

    monkeypatch.setattr(compiled_module, "_KERNEL", numba.njit(broken))
    net = make(2, "local_repeat")
    local, _ = conditioning_for(net, 2, 80)
    with pytest.warns(UserWarning, match="numba could not compile the loop.*Typing"):
        got = generate(net, 80, 2, method="compiled", seed=1, local_cond=local)
    assert got.method == "fast"
    assert torch.equal(got.values, generate(net, 80, 2, seed=1, local_cond=local).values)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto falls back without a word
        auto = generate(net, 80, 2, method="auto", seed=1, local_cond=local)
    assert auto.method == "fast" and torch.equal(auto.values, got.values)


def test_warm_up_compiles_without_drawing_or_stepping():
    net = make(2, "global_ids")
    gvec = net.global_vector(torch.tensor([1]))
    sampler = CompiledSampler(net, 1, gvec)
    history = sampler.fast.history.clone()
    generator = torch.Generator().manual_seed(1)
    state = generator.get_state()
    sampler.warm_up()
    assert sampler.t == 0 and torch.equal(sampler.fast.history, history)
    assert torch.equal(generator.get_state(), state)
    fresh = CompiledSampler(net, 1, gvec).run(torch.full((1,), 128), 30,
                                             generator=torch.Generator().manual_seed(1))
    assert torch.equal(sampler.run(torch.full((1,), 128), 30, generator=generator), fresh)
