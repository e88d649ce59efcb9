"""Vocoding (:mod:`wavedil.inference.vocoding`): batched resynthesis, Griffin-Lim, the
alignment of mel frames with the audio, and a tiny vocoder that beats Griffin-Lim
on the clip it learnt."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wavedil.data.features import LOG_MEL_FLOOR
from wavedil.inference import generate
from wavedil.inference.vocoding import (
    VocoderClip,
    check_vocoder,
    evaluate_vocoder,
    griffin_lim,
    mel_frames,
    perceptual_scores,
    resynthesize,
)
from wavedil.metrics import (
    analysis_settings,
    log_mel_distance,
    mel_cepstral_distortion,
    perceptual_available,
)
from wavedil.models import WaveNet

RATE = 8000
MEL = {"n_mels": 20, "hop_length": 64, "n_fft": 256}
HOP = MEL["hop_length"]


def vowel(samples: int = 2048, f0: tuple[float, float] = (140.0, 180.0), seed: int = 0
          ) -> torch.Tensor:
    """A voiced, vowel-like clip: a gliding harmonic series with a formant-like
    envelope, over a faint noise floor (as a recording has)."""
    t = torch.arange(samples, dtype=torch.float64) / RATE
    pitch = f0[0] + (f0[1] - f0[0]) * t / t[-1]
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / RATE
    x = sum((0.5 / k) * (1.0 if k in (3, 4, 8) else 0.4) * torch.sin(k * phase)
            for k in range(1, 12))
    x = x * torch.sin(math.pi * t / t[-1]).sqrt() * 0.3 / x.abs().max()
    noise = torch.randn(samples, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (x + 0.003 * noise).float()


def train_vocoder(clip: torch.Tensor, steps: int = 300, seed: int = 0) -> WaveNet:
    """A tiny vocoder taught one clip by teacher forcing."""
    torch.manual_seed(seed)
    model = WaveNet(16, 16, 16, dilations=[1, 2, 4, 8, 16, 32], local_channels=MEL["n_mels"],
                    local_hop_length=HOP)
    frames = mel_frames(clip, RATE, MEL).unsqueeze(0)
    codes = model.output.encode(clip.unsqueeze(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model.output.nll(model(model.shift_right(codes), frames), codes).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def learnt() -> tuple[WaveNet, torch.Tensor]:
    clip = vowel()
    return train_vocoder(clip), clip


def test_a_tiny_vocoder_that_learnt_a_clip_beats_griffin_lim_on_it(learnt):
    model, clip = learnt
    frames = mel_frames(clip, RATE, MEL)
    out = resynthesize(model, [frames], [len(clip)], temperature=0.0).audio[0]
    gl = griffin_lim(frames, RATE, MEL, length=len(clip))
    assert out.shape == gl.shape == clip.shape
    assert log_mel_distance(clip, out, RATE, MEL) < log_mel_distance(clip, gl, RATE, MEL)
    assert (mel_cepstral_distortion(clip, out, RATE, MEL)
            < mel_cepstral_distortion(clip, gl, RATE, MEL))
    # sample-aligned with the original: the best lag of the cross-correlation is 0
    xcorr = np.correlate(out.numpy(), clip.numpy(), mode="full")
    assert int(np.argmax(xcorr)) - (len(clip) - 1) == 0


def test_a_tiny_parallel_vocoder_trained_briefly_on_a_clip_beats_griffin_lim_on_it():
    """The source-filter parallel vocoder (``envelope=True``: the frames' envelope
    shapes what the network makes) taught a vowel for 150 updates of the STFT loss, from
    frames coarse enough that Griffin-Lim is far from lossless (16 bands every 128
    samples): its log-mel distance from the clip ends below Griffin-Lim's from the same
    frames (measured: 7.4 dB against 8.3), and below its own before training."""
    from wavedil.losses import MultiResolutionSTFTLoss
    from wavedil.metrics import analysis_settings
    from wavedil.models import ParallelWaveNet

    coarse = {"n_mels": 16, "hop_length": 128, "n_fft": 512}
    clip = vowel(4096)
    frames = mel_frames(clip, RATE, coarse)[None]  # (1, F, N)
    n, hop = frames.shape[-1], coarse["hop_length"]
    target = torch.nn.functional.pad(clip, (0, n * hop - len(clip)))[None]
    analysis = analysis_settings(RATE)
    torch.manual_seed(0)
    net = ParallelWaveNet(16, hop, 16, 16, 16, dilations=[1, 2, 4, 8, 16] * 2, envelope=True,
                          sample_rate=RATE, n_fft=coarse["n_fft"])
    fixed = torch.randn(1, n * hop, generator=torch.Generator().manual_seed(1))

    def distance() -> float:
        with torch.no_grad():
            return log_mel_distance(clip, net(frames, fixed)[0, :len(clip)], RATE, analysis)

    before = distance()
    loss_fn = MultiResolutionSTFTLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-4)
    for _ in range(150):
        loss = loss_fn(net(frames), target).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    gl = log_mel_distance(clip, griffin_lim(frames[0], RATE, coarse, length=len(clip)), RATE,
                          analysis)
    after = distance()
    assert after < gl - 0.3 and after < before - 0.5, (before, after, gl)


def _history_blind(seed: int = 0) -> WaveNet:
    """A vocoder whose greedy output follows its mel frames only: the previous values'
    embedding is zero (nothing feeds back), and the last layer reads one direction
    of the skip activations as an amplitude (logits ``z x_k - beta x_k^2`` over the
    codes' positions ``x_k``, so the likeliest code moves smoothly with ``z``)."""
    torch.manual_seed(seed)
    model = WaveNet(8, 8, 8, dilations=[1, 2, 4, 8], local_channels=MEL["n_mels"],
                    local_hop_length=HOP, local_upsample="linear").eval()
    last = model.head[-1]
    seen: list[torch.Tensor] = []
    hook = last.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        model.input_layer.weight.zero_()
        model(torch.zeros(1, 2048, dtype=torch.long), mel_frames(vowel(), RATE, MEL)[None])
        hook.remove()
        position = (torch.arange(256) - 127.5) / 128  # (256,)
        direction = torch.randn(last.in_channels)
        z = torch.einsum("bct,c->bt", seen[0], direction)  # (1, T)
        middle, spread = z.mean(), (z - z.mean()).abs().max()
        last.weight.copy_(position[:, None, None] * direction[None, :, None])
        last.bias.copy_(-spread * position**2 - middle * position)
    return model


def test_delaying_the_mel_frames_by_one_hop_delays_the_output_by_one_hop():
    model = _history_blind()
    clip = vowel(1536)
    frames = mel_frames(clip, RATE, MEL)  # (F, N)
    delayed = torch.cat([torch.full((MEL["n_mels"], 1), LOG_MEL_FLOOR), frames], dim=-1)
    n = len(clip)
    out = resynthesize(model, [frames], [n], temperature=0.0).audio[0]
    late = resynthesize(model, [delayed], [n + HOP], temperature=0.0).audio[0]
    changes = int((out[1:] != out[:-1]).sum())
    assert len(np.unique(out.numpy())) > 2 and changes > 50  # not idle on a constant
    edge = model.receptive_field + 3 * HOP  # the upsampler's convs see the start padding
    torch.testing.assert_close(late[HOP + edge:], out[edge:])
    assert not torch.equal(late[edge:-HOP], out[edge:])  # a shift, not a copy


def test_a_recording_delayed_by_one_hop_has_its_frames_delayed_by_one_frame():
    clip = vowel(2048)
    late = torch.cat([torch.zeros(HOP), clip])
    a, b = mel_frames(clip, RATE, MEL), mel_frames(late, RATE, MEL)
    reach = MEL["n_fft"] // HOP  # frames whose window reaches the start
    torch.testing.assert_close(b[:, 1 + reach:], a[:, reach:], atol=1e-4, rtol=1e-4)


def test_batched_resynthesis_keeps_input_order_and_lengths_and_matches_one_by_one():
    model = _history_blind(1)
    clips = [vowel(n, seed=i) for i, n in enumerate((700, 1500, 300, 1100, 64))]
    frames = [mel_frames(c, RATE, MEL) for c in clips]
    lengths = [len(c) for c in clips]
    batched = resynthesize(model, frames, lengths, batch_size=2, temperature=0.0)
    assert [len(a) for a in batched.audio] == lengths
    assert batched.samples == 1500 * 2 + 700 * 2 + 64  # longest of each batch, per stream
    one_by_one = resynthesize(model, frames, lengths, batch_size=1, temperature=0.0)
    for f, n, a, alone in zip(frames, lengths, batched.audio, one_by_one.audio, strict=True):
        # the same up to float rounding: now and then a near tie goes the other way
        assert (a != alone).float().mean() < 0.01
        # and as generate() makes it, given the clip's frames and two silent ones
        padded = torch.cat([f, torch.full((f.shape[0], 2), LOG_MEL_FLOOR)], -1)
        direct = generate(model, n, 1, temperature=0.0, local_cond=padded[None]).audio[0]
        assert (alone != direct).float().mean() < 0.01


def test_resynthesis_with_sampling_repeats_for_a_seed():
    model = _history_blind(2)
    frames = [mel_frames(vowel(500, seed=i), RATE, MEL) for i in range(3)]
    runs = [resynthesize(model, frames, [500] * 3, batch_size=2, seed=s).audio for s in (4, 4, 5)]
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert not torch.equal(runs[0][0], runs[2][0])


def test_bad_inputs_are_refused_with_what_was_expected():
    model = _history_blind()
    frames = mel_frames(vowel(640), RATE, MEL)
    with pytest.raises(ValueError, match=r"frames of shape \(20, N\) for clip 0"):
        resynthesize(model, [frames[:10]], [640])
    nan = frames.clone()
    nan[3, 4] = float("nan")
    with pytest.raises(ValueError, match="finite mel frames for clip 0, but found NaN"):
        resynthesize(model, [nan], [640])
    with pytest.raises(ValueError, match=r"Expected 1 to 704 samples for clip 0"):
        resynthesize(model, [frames], [705])
    with pytest.raises(ValueError, match="one length per clip"):
        resynthesize(model, [frames], [64, 64])
    plain = WaveNet(8, 8, 8, dilations=[1, 2])
    with pytest.raises(ValueError, match="Expected a vocoder .* has none"):
        resynthesize(plain, [frames], [640])
    with pytest.raises(ValueError, match="does not record the mel settings"):
        check_vocoder(model, None)
    with pytest.raises(ValueError, match="bands and a hop of 64"):
        check_vocoder(model, {**MEL, "n_mels": 40})


def test_griffin_lim_comes_near_the_frames_it_was_given():
    clip = vowel(2048)
    frames = mel_frames(clip, RATE, MEL)
    gl = griffin_lim(frames, RATE, MEL, length=2048)
    assert gl.shape == (2048,) and torch.equal(gl, griffin_lim(frames, RATE, MEL, length=2048))
    noise = torch.randn(2048) * clip.std()
    assert log_mel_distance(clip, gl, RATE, MEL) < 0.5 * log_mel_distance(clip, noise, RATE, MEL)
    assert griffin_lim(frames.unsqueeze(0).expand(2, -1, -1), RATE, MEL).shape[0] == 2


def test_perceptual_scores_of_the_originals_are_the_maxima():
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    clips = [vowel(4000) * (0.5 + 0.1 * i) for i in range(4)]
    scores = perceptual_scores(clips, clips, RATE, seconds=1.0)
    assert scores["perceptual_segments"] == 2
    assert scores["pesq"] == pytest.approx(4.549, abs=0.01)
    assert scores["stoi"] == pytest.approx(1.0, abs=1e-6)
    noisy = [c + 0.05 * torch.randn_like(c) for c in clips]
    worse = perceptual_scores(clips, noisy, RATE, seconds=1.0)
    assert worse["pesq"] < scores["pesq"] and worse["stoi"] < scores["stoi"]


def test_evaluation_scores_both_methods_and_the_classifier(learnt):
    model, clip = learnt

    class Loudness(torch.nn.Module):  # class 1 when a clip is loud
        def forward(self, audio, lengths=None):
            loud = (audio.abs().amax(-1) > 0.05).float()
            return torch.stack([1 - loud, loud], -1)

    clips = [VocoderClip("a", clip, 1), VocoderClip("b", clip * 0.5, 1)]
    result = evaluate_vocoder(model, MEL, RATE, clips, Loudness(), temperature=0.0,
                              griffin_lim_iters=16)
    summary = result["summary"]
    assert summary["files"] == 2 and summary["accuracy"]["original"] == 1.0
    for method in ("vocoder", "griffin_lim"):
        assert summary[method]["relative_accuracy"] == summary["accuracy"][method]
        assert summary[method]["mcd_db"] > 0 and summary[method]["real_time_factor"] > 0
        assert len(result["audio"][method]) == 2
        if perceptual_available():  # PESQ and STOI on the two clips joined into one segment
            assert summary[method]["perceptual_segments"] == 1
            assert 1.0 <= summary[method]["pesq"] <= 4.55
            assert 0.0 < summary[method]["stoi"] <= 1.0
    assert summary["analysis"] == analysis_settings(RATE)
    row = result["files"][0]
    assert set(row["vocoder"]) == {"mcd_db", "log_mel_distance_db", "f0_rmse_cents",
                                   "f0_rmse_hz", "voicing_error"}
    assert row["vocoder"]["log_mel_distance_db"] < row["griffin_lim"]["log_mel_distance_db"]
    assert row["predicted"]["original"] == 1 and row["label"] == 1


def train_tiny(clip: torch.Tensor, source_filter: bool, steps: int, seed: int = 0) -> WaveNet:
    """A tiny vocoder, plain or source-filter (pre-emphasis 0.85 and linear prediction
    of order 8 on the same frames), taught one clip by teacher forcing."""
    from wavedil.nn import LinearPrediction

    torch.manual_seed(seed)
    extra = {} if not source_filter else {
        "preemphasis": 0.85,
        "linear_prediction": LinearPrediction(RATE, residual_channels=16, order=8, **MEL)}
    model = WaveNet(16, 16, 16, dilations=[1, 2, 4, 8, 16, 32], local_channels=MEL["n_mels"],
                    local_hop_length=HOP, **extra)
    frames = mel_frames(clip, RATE, MEL).unsqueeze(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        inputs, target, side = model.teacher_forcing(clip.unsqueeze(0), frames)
        loss = model.output.nll(model(inputs, frames, side=side), target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_a_tiny_source_filter_vocoder_is_nearer_the_clip_than_the_plain_one_at_once():
    # 60 steps on one clip: the plain vocoder still samples noise that fills the spectrum
    # (about 17 dB of log-mel distance when measured), the source-filter one's noise
    # follows the envelope the frames give (about 8.5 dB)
    clip = vowel()
    frames = mel_frames(clip, RATE, MEL)
    distance = {}
    for source_filter in (False, True):
        model = train_tiny(clip, source_filter, steps=60)
        runs = [resynthesize(model, [frames], [len(clip)], seed=s).audio[0] for s in (0, 1)]
        distance[source_filter] = sum(log_mel_distance(clip, r, RATE, analysis_settings(RATE))
                                      for r in runs) / len(runs)
    assert distance[True] < 0.75 * distance[False], distance
