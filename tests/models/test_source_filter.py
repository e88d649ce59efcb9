"""Noise shaping and the source-filter generator: teacher forcing equals every
sampler's steps, every method draws the same samples for a seed, primes continue,
and impossible combinations are refused by name."""

from __future__ import annotations

import pytest
import torch

from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.inference import generate, make_stepper
from wavedil.inference.generation.source_filter import SignalLoop
from wavedil.models import WaveNet
from wavedil.nn import LinearPrediction, dilation_schedule

MEL = {"n_mels": 12, "n_fft": 64, "hop_length": 16}


def source_filter(order: int = 6, preemphasis: float = 0.85, **extra) -> WaveNet:
    torch.manual_seed(order)
    lp = LinearPrediction(8000, residual_channels=10, order=order, **MEL)
    net = WaveNet(10, 12, 14, dilations=dilation_schedule(8, 2), local_channels=12,
                  local_hop_length=16, preemphasis=preemphasis, linear_prediction=lp,
                  **extra).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net


def frames(batch: int, samples: int, seed: int = 1) -> torch.Tensor:
    """Log-mel frames with an envelope that falls with frequency (speech-like), varying."""
    g = torch.Generator().manual_seed(seed)
    n = -(-samples // 16) + 1
    tilt = torch.linspace(0, -6, 12)[None, :, None]
    return -4 + tilt + torch.randn(batch, 12, n, generator=g)


def test_teacher_forcing_models_the_excitation_of_the_true_past():
    net = source_filter()
    audio = 0.3 * torch.sin(torch.arange(400) * 0.3).repeat(2, 1) + 0.01 * torch.randn(2, 400)
    local = frames(2, 400)
    inputs, target, side = net.teacher_forcing(audio, local)
    y = net.emphasize(audio).double()
    coefficients = net.prediction_coefficients(local, 400)
    prediction = LinearPrediction.predict(y, coefficients)
    assert torch.equal(side[:, 1], prediction)
    assert torch.equal(side[:, 0, 1:], y[:, :-1]) and (side[:, 0, 0] == 0).all()
    assert torch.equal(target, net.linear_prediction.codes(y - prediction))
    assert torch.equal(inputs[:, 1:], target[:, :-1]) and (inputs[:, 0] == 128).all()


@pytest.mark.parametrize("method", ["fast", "cached", "naive"])
def test_the_forward_on_a_generated_signal_equals_every_samplers_steps(method):
    net = source_filter()
    length, local = 100, frames(2, 100)  # over three receptive fields: the rings wrap
    drawn = generate(net, length, method="fast", seed=3, local_cond=local)
    assert drawn.signal is not None and drawn.signal.dtype == torch.float64
    coefficients = net.prediction_coefficients(local, length)
    prediction = LinearPrediction.predict(drawn.signal, coefficients)
    previous = torch.nn.functional.pad(drawn.signal, (1, 0))[..., :-1]
    with torch.no_grad():
        full = net(net.shift_right(drawn.values), local,
                   side=torch.stack([previous, prediction], 1))  # (B, C, T)
        stepper = make_stepper(method, net, 2, None, net.upsample_local(local, length))
        loop, x, steps = SignalLoop(net, coefficients), net.output.silence_values(2), []
        for t in range(length):
            steps.append(stepper(x, loop.side(t)))
            x = drawn.values[:, t]
            loop.draw(t, x)
    assert torch.allclose(torch.stack(steps, -1), full, atol=1e-4)
    assert torch.allclose(loop.signal, drawn.signal, atol=1e-12)


@pytest.mark.parametrize(("temperature", "length", "methods"), [
    (1.0, 270, ("naive", "cached", "fast", "compiled")),  # across a compiled chunk (256)
    (0.7, 100, ("cached", "fast", "compiled")),
    (0.0, 100, ("fast", "compiled")),
])
def test_every_method_draws_the_same_samples_for_a_seed(temperature, length, methods):
    net = source_filter()
    local = frames(3, length)
    runs = {m: generate(net, length, method=m, seed=5, local_cond=local,
                        temperature=temperature) for m in methods}
    assert runs["compiled"].method == "compiled"
    for name, run in runs.items():
        assert torch.equal(run.values, runs["fast"].values), name
        assert torch.allclose(run.signal, runs["fast"].signal, atol=1e-12), name
        assert torch.allclose(run.audio, runs["fast"].audio, atol=1e-6), name
    if temperature:
        assert len(torch.unique(runs["fast"].values)) > 20  # really sampled
    # the audio is the signal de-emphasised, y = p + e within the emphasised range
    audio = net.deemphasize(runs["fast"].signal).clamp(-1, 1).float()
    assert torch.allclose(runs["fast"].audio, audio)
    assert runs["fast"].signal.abs().max() <= 1.85


def test_the_graph_method_falls_back_naming_linear_prediction():
    net = source_filter()
    local = frames(1, 60)
    with pytest.warns(UserWarning, match="linear prediction"):
        got = generate(net, 60, method="graph", seed=1, local_cond=local)
    assert got.method == "fast"
    assert torch.equal(got.values, generate(net, 60, seed=1, local_cond=local).values)


def test_a_prime_is_forced_and_generation_continues_it():
    net = source_filter()
    prime = 0.2 * torch.sin(torch.arange(280) * 0.2).repeat(2, 1)  # across a chunk (256)
    local = frames(2, 280 + 40)
    runs = {m: generate(net, 40, method=m, seed=2, local_cond=local, prime=prime)
            for m in ("fast", "compiled")}
    for name, run in runs.items():
        assert run.values.shape == (2, 40)
        assert torch.equal(run.values, runs["fast"].values), name
    # the prime's excitation codes are what teacher forcing computes for it
    loop = SignalLoop(net, net.prediction_coefficients(local, 320))
    forced = torch.stack([loop.force(t, net.emphasize(prime.double())[:, t])
                          for t in range(280) if loop.side(t) is not None], -1)
    _, target, _ = net.teacher_forcing(prime, local)
    assert torch.equal(forced, target)


@pytest.mark.parametrize("a", [0.0, 0.85])
def test_noise_shaping_alone_for_a_plain_generator(a):
    torch.manual_seed(0)
    net = WaveNet(8, 8, 8, dilations=[1, 2, 4], preemphasis=a).eval()
    runs = {m: generate(net, 300, 2, method=m, seed=4) for m in ("fast", "cached", "compiled")}
    for run in runs.values():
        assert torch.equal(run.values, runs["fast"].values)
        assert torch.allclose(run.audio, runs["fast"].audio)
    decoded = net.output.decode(runs["fast"].values)
    expected = net.deemphasize(decoded.double()).clamp(-1, 1).float() if a else decoded
    assert torch.allclose(runs["fast"].audio, expected)
    # training targets are the pre-emphasised audio's codes
    audio = 0.5 * torch.sin(torch.arange(100) * 0.1)[None]
    _, target, side = net.teacher_forcing(audio)
    assert side is None
    assert torch.equal(target, net.output.encode(net.emphasize(audio)))


def test_a_primed_noise_shaped_generation_continues_the_prime_smoothly():
    torch.manual_seed(0)
    net = WaveNet(8, 8, 8, dilations=[1, 2, 4], preemphasis=0.85).eval()
    prime = torch.full((1, 50), 0.5)
    got = generate(net, 40, seed=1, prime=prime, temperature=0.0)
    # de-emphasis continues from the prime's last sample: s_0 = y_0 + a * 0.5
    first = net.output.decode(got.values[:, :1]).double() + 0.85 * 0.5
    assert torch.allclose(got.audio[:, :1].double(), first.clamp(-1, 1), atol=1e-6)


def test_impossible_combinations_are_refused_by_name():
    lp = LinearPrediction(8000, residual_channels=10, **MEL)
    with pytest.raises(ValueError, match="MuLawCategorical"):
        WaveNet(10, 12, 14, dilations=[1, 2], local_channels=12, local_hop_length=16,
                output=DiscretizedLogisticMixture(), input_encoding="continuous",
                linear_prediction=lp)
    with pytest.raises(ValueError, match="input_encoding 'embedding'"):
        WaveNet(10, 12, 14, dilations=[1, 2], local_channels=12, local_hop_length=16,
                input_encoding="onehot", linear_prediction=lp)
    with pytest.raises(ValueError, match="12 bands every 16 samples"):
        WaveNet(10, 12, 14, dilations=[1, 2], local_channels=12, local_hop_length=32,
                linear_prediction=lp)
    with pytest.raises(ValueError, match="residual_channels"):
        WaveNet(16, 12, 14, dilations=[1, 2], local_channels=12, local_hop_length=16,
                linear_prediction=lp)
    with pytest.raises(ValueError, match="pre-emphasis"):
        WaveNet(10, 12, 14, dilations=[1, 2], preemphasis=1.2)
    net = source_filter()
    with pytest.raises(ValueError, match="side inputs"):
        net(torch.zeros(1, 32, dtype=torch.long), frames(1, 32))
    with pytest.raises(ValueError, match="local_cond"):
        net.teacher_forcing(torch.zeros(1, 32))


def test_a_checkpoint_alone_rebuilds_a_source_filter_vocoder(tmp_path):
    from tests.conftest import save_checkpoint
    from wavedil.checkpoint import load_model
    from wavedil.data.sources import DataInfo

    net = source_filter()
    path = save_checkpoint(net, DataInfo(8000, local_features=MEL), tmp_path / "lpc.ckpt")
    loaded = load_model(path, kind="generator").model
    assert loaded.preemphasis == 0.85 and loaded.linear_prediction.order == 6
    local = frames(1, 64)
    a = generate(net, 64, seed=1, local_cond=local)
    b = generate(loaded, 64, seed=1, local_cond=local)
    assert torch.equal(a.values, b.values) and torch.equal(a.audio, b.audio)


def test_export_refuses_a_source_filter_generator_by_name():
    from wavedil.inference.generation.export import StepProgram

    with pytest.raises(ValueError, match="source-filter generator"):
        StepProgram(source_filter())


def test_noise_injection_feeds_a_synthesised_past_and_targets_the_true_signal():
    net = source_filter()
    audio = 0.3 * torch.sin(torch.arange(300) * 0.3).repeat(2, 1)
    local = frames(2, 300)
    g = torch.Generator().manual_seed(0)
    inputs, target, side = net.teacher_forcing(audio, local, noise=2.0, generator=g)
    y = net.emphasize(audio).double()
    coefficients = net.prediction_coefficients(local, 300)
    # y~_t from the fed y~_{t-1} (the last sample is never fed, and nothing here reads it)
    past = torch.cat([side[:, 0, 1:], torch.zeros(2, 1, dtype=torch.float64)], -1)
    # the prediction is made from the synthesised past, the target is the true sample's
    assert torch.allclose(side[:, 1], LinearPrediction.predict(past, coefficients), atol=1e-12)
    assert torch.equal(target, net.linear_prediction.codes(y - side[:, 1]))
    assert not torch.equal(side[:, 0, 1:], y[:, :-1])  # the past is not the true one
    assert (side[:, 0, 1:] - y[:, :-1]).abs().max() < 0.2  # but near it
    # the fed excitation codes are the synthesised past's
    fed = net.linear_prediction.codes(past - side[:, 1])
    assert torch.equal(inputs[:, 1:], fed[:, :-1])
    # the same generator, the same noise; validation (noise 0) the true past
    again = net.teacher_forcing(audio, local, noise=2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.side, side)
    assert torch.equal(net.teacher_forcing(audio, local).side[:, 0, 1:], y[:, :-1])


def test_the_task_injects_noise_in_training_only():
    from wavedil.tasks import GenerationTask

    net = source_filter()
    task = GenerationTask(net, optimizer=torch.optim.Adam, excitation_noise=3.0)
    batch = {"audio": 0.2 * torch.randn(2, 96), "local_cond": frames(2, 96)}
    torch.manual_seed(1)
    val = [float(task.step(batch, "val")) for _ in range(2)]
    train = [float(task.step(batch, "train")) for _ in range(2)]
    assert val[0] == val[1] and train[0] != train[1]  # only training draws noise
    with pytest.raises(ValueError, match="excitation_noise"):
        GenerationTask(net, optimizer=torch.optim.Adam, excitation_noise=-1.0)


def test_the_synthesis_highpass_filters_generated_audio_and_continues_a_prime():
    from wavedil.dsp import highpass

    torch.manual_seed(0)
    plain = WaveNet(8, 8, 8, dilations=[1, 2, 4]).eval()
    filtered = WaveNet(8, 8, 8, dilations=[1, 2, 4], highpass_hz=70.0, sample_rate=8000).eval()
    filtered.load_state_dict(plain.state_dict())
    prime = 0.3 * torch.sin(torch.arange(200) * 0.05)[None]
    a = generate(plain, 400, seed=1, prime=prime)
    b = generate(filtered, 400, seed=1, prime=prime, method="compiled")
    assert torch.equal(a.values, b.values)  # the same samples, only the audio is filtered
    whole = highpass(torch.cat([prime, a.audio], -1).double(), 8000, 70.0)[:, 200:]
    assert torch.allclose(b.audio, whole.clamp(-1, 1).float(), atol=1e-6)
    filtered.set_highpass(None)
    assert torch.equal(generate(filtered, 50, seed=2).audio, generate(plain, 50, seed=2).audio)
    with pytest.raises(ValueError, match="sample_rate"):
        WaveNet(8, 8, 8, dilations=[1], highpass_hz=70.0)
    with pytest.raises(ValueError, match="between 0 and 4000.0 Hz"):
        WaveNet(8, 8, 8, dilations=[1], highpass_hz=5000.0, sample_rate=8000)
