"""The parallel WaveNet vocoder and its discriminator: lengths, batch independence,
receptive fields measured from gradients, clear refusals."""

from __future__ import annotations

import pytest
import torch

from wavedil.models.parallel import ParallelWaveNet, WaveDiscriminator


def small() -> ParallelWaveNet:
    torch.manual_seed(0)
    return ParallelWaveNet(20, 64, 8, 16, 8, dilations=[1, 2, 4, 8]).eval()


def test_the_output_is_frames_times_hop_and_does_not_depend_on_the_batch():
    net = small()
    frames = torch.randn(3, 20, 7)
    noise = net.noise(3, 7 * 64, torch.Generator().manual_seed(1))
    with torch.no_grad():
        together = net(frames, noise)
        alone = torch.cat([net(frames[i:i + 1], noise[i:i + 1]) for i in range(3)])
    assert together.shape == (3, 448)
    assert torch.allclose(together, alone, atol=1e-6)
    # the same generator, the same noise, the same audio
    a = net(frames, generator=torch.Generator().manual_seed(4))
    b = net(frames, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def test_the_receptive_field_measured_from_gradients_is_the_reported_one():
    net = small()
    noise = torch.randn(1, 640, requires_grad=True)
    out = net(torch.randn(1, 20, 10), noise)
    out[0, 320].backward()
    reached = (noise.grad[0] != 0).nonzero().flatten()
    assert int(reached.max() - reached.min()) + 1 == net.receptive_field == 31
    assert int(reached.min()) == 320 - 15  # centred: as far behind as ahead


def test_the_discriminator_scores_every_position_with_its_field():
    d = WaveDiscriminator(8, dilations=[1, 2, 4])
    audio = torch.randn(2, 300, requires_grad=True)
    scores = d(audio)
    assert scores.shape == (2, 1, 300)
    scores[0, 0, 150].backward()
    reached = (audio.grad[0] != 0).nonzero().flatten()
    assert int(reached.max() - reached.min()) + 1 == d.receptive_field == 15
    assert WaveDiscriminator().receptive_field == 1 + 2 * (1 + 255)  # ten layers by default


def test_bad_inputs_are_refused_by_name():
    net = small()
    bad = torch.zeros(1, 20, 4)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite mel frames"):
        net(bad)
    with pytest.raises(ValueError, match=r"\(B, 20, N\)"):
        net(torch.zeros(1, 32, 4))
    with pytest.raises(ValueError, match=r"noise of shape \(1, 256\)"):
        net(torch.zeros(1, 20, 4), torch.zeros(1, 200))
    with pytest.raises(ValueError, match="odd kernel_size"):
        ParallelWaveNet(20, 64, kernel_size=2)
    with pytest.raises(ValueError, match="sample_rate"):
        ParallelWaveNet(20, 64, highpass_hz=70.0)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        WaveDiscriminator()(torch.zeros(1, 1, 100))
    with pytest.raises(ValueError, match="envelope=True .* expected sample_rate and n_fft"):
        ParallelWaveNet(20, 64, envelope=True, sample_rate=8000)
    with pytest.raises(ValueError, match="hop_length <= n_fft / 2"):
        ParallelWaveNet(20, 64, envelope=True, sample_rate=8000, n_fft=100)
    shaped = ParallelWaveNet(20, 64, 8, 8, 8, dilations=[1], envelope=True, sample_rate=8000,
                             n_fft=256)
    assert shaped.min_frames == 3 and shaped(torch.zeros(1, 20, 3)).shape == (1, 192)
    with pytest.raises(ValueError, match="at least 3 mel frames"):
        shaped(torch.zeros(1, 20, 2))


def test_the_synthesis_highpass_can_be_set_and_cleared_as_the_tools_do():
    net = ParallelWaveNet(20, 64, 8, 8, 8, dilations=[1, 2], sample_rate=8000)
    audio = torch.sin(torch.arange(8000) * 2 * torch.pi * 30 / 8000)[None]  # 30 Hz hum
    assert torch.equal(net.filter_output(audio), audio)  # off by default
    net.set_highpass(100.0)
    assert net.filter_output(audio)[:, 4000:].abs().max() < 0.1  # the hum is gone
    net.set_highpass(None)
    assert net.highpass_hz is None and torch.equal(net.filter_output(audio), audio)
    with pytest.raises(ValueError, match="between 0 and 4000.0 Hz"):
        net.set_highpass(4000.0)


@pytest.mark.parametrize(("upsample", "envelope"),
                         [("repeat", False), ("linear", False), ("linear", True)])
def test_chunked_synthesis_equals_the_whole_clip_forward(upsample, envelope):
    torch.manual_seed(0)
    net = ParallelWaveNet(20, 16, 8, 16, 8, dilations=[1, 2, 4, 8, 16],
                          local_upsample=upsample, envelope=envelope, sample_rate=8000,
                          n_fft=48).eval()
    frames = torch.randn(2, 20, 50) - 4
    noise = net.noise(2, 800, torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = net(frames, noise)
        for chunk in (1, 7, 13, 49):
            pieces = net.synthesize(frames, noise, chunk_frames=chunk)
            assert torch.allclose(pieces, whole, atol=1e-5), chunk


def test_chunks_without_their_margin_would_change_the_output():
    class ShortMargin(ParallelWaveNet):
        @property
        def context_frames(self) -> int:
            return 0

    torch.manual_seed(0)
    net = ShortMargin(20, 16, 8, 16, 8, dilations=[1, 2, 4, 8, 16]).eval()
    frames, noise = torch.randn(1, 20, 50), torch.randn(1, 800)
    with torch.no_grad():
        assert not torch.allclose(net.synthesize(frames, noise, chunk_frames=7),
                                  net(frames, noise), atol=1e-5)


def test_the_envelope_gives_an_excitation_the_frames_envelope_and_energy():
    """White noise through :class:`SpectralEnvelope` comes out with the mel frames of
    the signal they came from (band by band, within the scatter of noise), where the
    noise alone is far from them; the excitation's own level hardly matters, unless it
    is far below the floor that keeps training stable."""
    from wavedil.data.features import mel_extractor
    from wavedil.models.parallel import SpectralEnvelope

    settings = {"n_mels": 20, "n_fft": 256, "hop_length": 64}
    mel = mel_extractor(8000, settings)
    t = torch.arange(16000) / 8000
    # a signal with a strong, moving envelope: a low tone, then a high one, 4 dB apart
    signal = torch.where(t < 1, 0.5 * torch.sin(2 * torch.pi * 300 * t),
                         0.3 * torch.sin(2 * torch.pi * 2500 * t))
    signal = signal + 0.01 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    frames = mel(signal[None]).features[..., :250]  # (1, 20, 250)
    env = SpectralEnvelope(8000, **settings)
    noise = torch.randn(1, 16000, generator=torch.Generator().manual_seed(1))
    shaped = env(noise, frames)
    # the excitation's level hardly matters above the floor; far below it, it does
    louder = env(10 * noise, frames)
    assert (louder - shaped).abs().max() < 0.02 * shaped.abs().max()
    quiet = env(1e-3 * noise, frames)
    assert quiet.abs().max() < 0.02 * shaped.abs().max()
    db = 10 / torch.log(torch.tensor(10.0))  # natural log power -> dB

    def distance(audio: torch.Tensor) -> float:
        got = mel(audio).features[..., 2:248]
        return float((db * (got - frames[..., 2:248])).abs().mean())

    assert distance(shaped) < 6.0 < 20.0 < distance(0.3 * noise)  # measured: 4.8, 26.6
