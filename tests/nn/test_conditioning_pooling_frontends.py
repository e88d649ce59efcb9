import pytest
import torch

from wavedil.nn import (
    LocalUpsampler,
    LogMelFrontend,
    MelWarp,
    MFCCFrontend,
    Pooling,
    SpecAugment,
    WaveformFrontend,
)
from wavedil.nn.pooling import lengths_to_mask


@pytest.mark.parametrize("mode", ["repeat", "linear"])
def test_upsampler_reaches_the_sample_rate(mode):
    up = LocalUpsampler(20, 6, hop_length=32, mode=mode)
    assert up(torch.randn(2, 20, 7)).shape == (2, 6, 224)


def test_repeat_upsampling_holds_each_frame_for_a_hop():
    up = LocalUpsampler(1, 1, hop_length=4, mode="repeat", frame_kernel_size=1,
                        sample_kernel_size=1)
    with torch.no_grad():
        for conv in (up.frame_conv, up.sample_conv):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    out = up(torch.tensor([[[1.0, 2.0]]]))
    assert out.flatten().tolist() == [1.0] * 4 + [2.0] * 4


def test_upsampler_refuses_even_kernels_and_unknown_modes():
    with pytest.raises(ValueError, match="odd"):
        LocalUpsampler(2, 2, 4, sample_kernel_size=4)
    with pytest.raises(ValueError, match="'repeat', 'linear'"):
        LocalUpsampler(2, 2, 4, mode="transposed")


@pytest.mark.parametrize("kind", ["mean", "max", "attention"])
def test_pooling_ignores_padding(kind):
    pool = Pooling(kind, 3)
    x = torch.randn(2, 3, 10)
    lengths = torch.tensor([6, 10])
    padded = x.clone()
    padded[0, :, 6:] = 1e3  # garbage beyond the valid length
    a = pool(x, lengths_to_mask(lengths, 10))
    b = pool(padded, lengths_to_mask(lengths, 10))
    torch.testing.assert_close(a, b)
    assert a.shape == (2, 3)
    with pytest.raises(ValueError, match="pooling"):
        Pooling("median", 3)


@pytest.mark.parametrize("frontend", [
    WaveformFrontend(mu_law=True), WaveformFrontend(mu_law=False),
    LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=40), MFCCFrontend(8000, n_mfcc=20)])
def test_frontends_shapes_and_lengths(frontend):
    audio = torch.randn(3, 1000) * 0.1
    lengths = torch.tensor([1000, 700, 300])
    feats, frames = frontend(audio, lengths)
    assert feats.shape[:2] == (3, frontend.out_channels)
    assert frames.tolist() == frontend.frame_lengths(lengths).tolist()
    assert int(frames.max()) == feats.shape[-1]


def test_spectral_normalisation_zeroes_padding_and_centres_valid_frames():
    frontend = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=16, normalize=True)
    audio = torch.randn(2, 2000) * 0.1
    lengths = torch.tensor([2000, 1000])
    feats, frames = frontend(audio, lengths)
    valid = int(frames[1])
    assert torch.all(feats[1, :, valid:] == 0)
    torch.testing.assert_close(feats[1, :, :valid].mean(-1), torch.zeros(16), atol=1e-4, rtol=0)


@pytest.mark.parametrize("make", [
    lambda: LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=16, deltas=2,
                           normalize_variance=True),
    lambda: MFCCFrontend(8000, n_mfcc=13, deltas=1),
    lambda: MFCCFrontend(8000, n_mfcc=13, compression="pcen"),
])
def test_deltas_and_variance_keep_padding_invariance(make):
    frontend = make().eval()
    clip = torch.randn(1, 900) * 0.2
    alone = frontend(clip, torch.tensor([900])).features
    batch = torch.cat([torch.cat([clip, torch.zeros(1, 700)], 1), torch.randn(1, 1600) * 0.2])
    together = frontend(batch, torch.tensor([900, 1600])).features
    frames = alone.shape[-1]
    assert together.shape[1] == frontend.out_channels == alone.shape[1]
    torch.testing.assert_close(together[:1, :, :frames], alone, atol=1e-4, rtol=1e-4)
    assert torch.all(together[0, :, frames:] == 0)


def test_delta_of_a_ramp_is_its_slope():
    from wavedil.nn.frontends import _delta
    ramp = torch.arange(20.0).view(1, 1, 20) * 0.5
    torch.testing.assert_close(_delta(ramp)[..., 2:-2], torch.full((1, 1, 16), 0.5))


def test_training_only_augmentations():
    frontend = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=20,
                              spec_augment=SpecAugment(2, 5, 2, 5), warp=MelWarp(0.2))
    audio = torch.randn(4, 3000) * 0.1
    frontend.eval()
    first = frontend(audio).features
    torch.testing.assert_close(frontend(audio).features, first)  # deterministic in eval
    frontend.train()
    torch.manual_seed(0)
    trained = frontend(audio).features
    assert not torch.allclose(trained, first)
    zero_rows = (trained == 0).all(dim=2).sum().item()  # whole masked mel bands
    assert zero_rows >= 1
    with pytest.raises(ValueError, match="warp amount"):
        MelWarp(0.7)
    with pytest.raises(ValueError, match="deltas"):
        LogMelFrontend(8000, deltas=3)
    with pytest.raises(ValueError, match="spec_augment to be a SpecAugment"):
        LogMelFrontend(8000, spec_augment=MelWarp(0.1))
    with pytest.raises(TypeError):  # everything after the rate by keyword
        LogMelFrontend(8000, 256, 64, 20)


def test_spec_augment_masks_bands_of_channels_and_frames_within_the_valid_frames():
    torch.manual_seed(0)
    masks = SpecAugment(freq_masks=1, freq_mask_width=3, time_masks=2, time_mask_width=4).train()
    feats = torch.ones(64, 12, 30)
    lengths = torch.full((64,), 20)
    out = masks(feats, lengths)
    blank_channels = (out == 0).all(dim=2).sum(1)  # (B,) whole channels blanked
    assert blank_channels.max() <= 3 and blank_channels.sum() > 0
    blank_frames = (out == 0).all(dim=1)  # (B, N) whole frames blanked
    assert not blank_frames[:, 20:].any()  # padding frames are never chosen
    blank_frames = blank_frames.sum(1)
    assert blank_frames.max() <= 2 * 4 and blank_frames.sum() > 0
    assert torch.equal(masks.eval()(feats, lengths), feats)
    with pytest.raises(ValueError, match="freq_mask_width"):
        SpecAugment(freq_mask_width=0)


@pytest.mark.parametrize("segments", [1, 2, 3])
def test_frequency_warp_stretches_each_segment_by_its_own_factor(segments):
    """Warping a ramp (channel c holds the value c) reads back where each output
    channel was taken from: a monotone map that starts at channel 0, whose step is
    one factor within 1 +- amount over each of the ``segments`` equal stretches."""
    torch.manual_seed(0)
    channels, amount = 40, 0.2
    ramp = torch.arange(float(channels)).view(1, channels, 1).expand(64, channels, 3)
    source = MelWarp(amount, segments).train()(ramp.contiguous())[..., 0]  # (64, C)
    assert torch.all(source[:, 0] == 0)
    assert torch.all(source <= channels - 1)
    inside = source[:, 1:] < channels - 1  # steps not held at the top edge
    step = source[:, 1:] - source[:, :-1]
    assert torch.all(step[inside] >= 1 - amount - 1e-5)
    assert torch.all(step[inside] <= 1 + amount + 1e-5)
    segment = torch.arange(channels - 1) * segments // channels  # segment of each step
    factors = []
    for k in range(segments):
        part = step[:, segment == k]
        whole = inside[:, segment == k].all(1)  # clips whose segment k is not clipped
        torch.testing.assert_close(part[whole], part[whole, :1].expand_as(part[whole]))
        factors.append(part[:, 0])
    if segments > 1:  # the segments draw different factors
        assert (factors[0] - factors[1]).abs().max() > 0.05
    with pytest.raises(ValueError, match="segments"):
        MelWarp(0.1, segments=0)


@pytest.mark.parametrize("frontend_cls", [LogMelFrontend, MFCCFrontend])
def test_frontends_warp_their_mel_bands_in_segments_only_in_training(frontend_cls):
    calls = []

    class Spy(MelWarp):
        def forward(self, bands):
            calls.append((bands.shape[1], self.training))
            return super().forward(bands)

    frontend = frontend_cls(8000, n_mels=30, warp=Spy(0.15, segments=2))
    frontend.train()(torch.randn(2, 2000))
    assert calls == [(30, True)]  # on the mel bands (before any DCT)
    frontend.eval()(torch.randn(2, 2000))
    assert calls[1] == (30, False)
    torch.manual_seed(0)
    warped = frontend.train()(torch.randn(2, 2000)).features
    torch.manual_seed(0)
    plain = frontend_cls(8000, n_mels=30).train()(torch.randn(2, 2000)).features
    assert not torch.allclose(warped, plain)


def test_pcen_matches_a_one_pole_smoother_started_at_the_first_frame():
    scipy_signal = pytest.importorskip("scipy.signal")
    from wavedil.nn.frontends import pcen
    torch.manual_seed(0)
    energy = torch.rand(2, 5, 120, dtype=torch.float64) * 1e6 + 1
    s = 0.05
    start = scipy_signal.lfilter_zi([s], [1, s - 1]) * energy[..., :1].numpy()
    level, _ = scipy_signal.lfilter([s], [1, s - 1], energy.numpy(), axis=-1, zi=start)
    expected = (energy / (1e-6 + torch.from_numpy(level)) ** 0.98 + 2) ** 0.5 - 2**0.5
    torch.testing.assert_close(pcen(energy, s), expected)
    with pytest.raises(ValueError, match="smoothing"):
        pcen(energy, 0.0)


def test_pcen_frontend_takes_out_a_band_gain_that_log_mel_keeps():
    """A speaker's or microphone's fixed loudness: PCEN's per-band gain control
    leaves the features nearly unchanged, an unnormalised log-mel shifts them by
    the log of the gain."""
    torch.manual_seed(0)
    audio = torch.randn(1, 4000) * 0.05
    pcen = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=20, normalize=False,
                          compression="pcen").eval()
    log = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=20, normalize=False).eval()
    def change(frontend):
        a, b = frontend(audio).features, frontend(audio * 8).features
        return ((a - b).abs().mean() / a.abs().mean()).item()
    assert change(pcen) < 0.1 < change(log)
    with pytest.raises(ValueError, match="compression"):
        MFCCFrontend(8000, compression="cube")
    with pytest.raises(ValueError, match="pcen_time_constant"):
        LogMelFrontend(8000, compression="pcen", pcen_time_constant=0.0)
