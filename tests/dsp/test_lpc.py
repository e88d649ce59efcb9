"""Linear prediction: Levinson-Durbin against closed forms and known autoregressive
processes, stability whatever the input, and the mel-frame path of a vocoder."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio

from wavedil.data.features import mel_extractor
from wavedil.dsp import (
    autocorrelation_from_power,
    lag_window,
    levinson_durbin,
    lpc_spectrum,
    mel_to_linear_power,
    prediction_gain_db,
)
from wavedil.nn import LinearPrediction
from wavedil.nn.linear_prediction import mulaw_boundaries

RATE = 8000
FINE = {"n_mels": 40, "n_fft": 256, "hop_length": 64}
TTS = {"n_mels": 32, "n_fft": 400, "hop_length": 100}


def resonator_polynomial(poles: list[tuple[float, float]]) -> torch.Tensor:
    """``A(z)`` with a conjugate pole pair of radius r at f Hz per entry: ``(1, a_1..a_p)``."""
    a = torch.ones(1, dtype=torch.float64)
    for radius, hz in poles:
        w = 2 * math.pi * hz / RATE
        section = torch.tensor([1.0, -2 * radius * math.cos(w), radius**2], dtype=torch.float64)
        a = torch.nn.functional.conv1d(a.view(1, 1, -1), section.flip(0).view(1, 1, -1),
                                       padding=2).view(-1)
    return a


TWO_FORMANTS = resonator_polynomial([(0.9, 500.0), (0.8, 1500.0)])  # order 4


def ar_process(a: torch.Tensor, samples: int, seed: int = 0) -> torch.Tensor:
    """White noise through the all-pole filter ``1 / A(z)``."""
    noise = torch.randn(samples, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed)) * 0.01
    b = torch.zeros_like(a)
    b[0] = 1.0
    return torchaudio.functional.lfilter(noise, a, b, clamp=False)


def poles_inside_unit_circle(a: torch.Tensor) -> bool:
    """Whether ``1 / A(z)`` is stable, by the step-down (Schur-Cohn) recursion from ``a``
    alone: every reflection coefficient it finds is inside (-1, 1). (Root finding is
    ill-conditioned for the clustered poles of near-singular spectra.)"""
    a = a.clone()
    for m in range(a.shape[-1], 0, -1):
        k = a[m - 1]
        if not abs(k) < 1:
            return False
        a = (a[:m - 1] - k * a[:m - 1].flip(0)) / (1 - k * k)
    return True


def test_levinson_solves_the_normal_equations_of_a_known_spectrum():
    # the autocorrelation of an AR process is the inverse DFT of its envelope 1/|A|^2
    r = autocorrelation_from_power(lpc_spectrum(TWO_FORMANTS[1:], 8192), 4)
    solved = levinson_durbin(r)
    assert torch.allclose(solved.a, TWO_FORMANTS[1:], atol=1e-9)
    assert (solved.reflection.abs() < 1).all()
    # the prediction error power of a unit-variance driving noise: 1
    assert solved.error.item() == pytest.approx(1.0, rel=1e-6)
    toeplitz = torch.stack([r[(torch.arange(4) - i).abs()] for i in range(4)])
    assert torch.allclose(toeplitz @ solved.a, -r[1:], atol=1e-9)


@pytest.mark.parametrize("settings", [FINE, TTS], ids=["fine", "tts"])
def test_the_coefficients_of_an_ar_process_come_back_from_its_own_mel_frames(settings):
    x = ar_process(TWO_FORMANTS, 2 * RATE)
    frames = mel_extractor(RATE, settings)(x.float()[None]).features  # (1, F, N)
    lp = LinearPrediction(RATE, residual_channels=2, order=4, lag_bandwidth_hz=0.0,
                          white_noise=0.0, **settings)
    c = lp.coefficients(frames, x.shape[-1])  # (1, 4, T)
    estimate = -c[0].mean(-1)  # a = -c, averaged over the clip
    assert (estimate - TWO_FORMANTS[1:]).abs().max() < 0.03
    # and it predicts: most of the process's power is removed
    residual = x - lp.predict(x[None], c)[0]
    assert prediction_gain_db(x, residual) > 10


@pytest.mark.parametrize("kind", ["random", "silence", "tone", "clipped", "impulse"])
def test_every_per_sample_filter_is_stable(kind):
    t = torch.arange(4000, dtype=torch.float64) / RATE
    audio = {
        "random": torch.randn(4000, dtype=torch.float64) * 0.3,
        "silence": torch.zeros(4000, dtype=torch.float64),
        "tone": 0.9 * torch.sin(2 * math.pi * 440 * t),
        "clipped": (3 * torch.sin(2 * math.pi * 200 * t)).clamp(-1, 1),
        "impulse": torch.nn.functional.one_hot(torch.tensor(2000), 4000).double(),
    }[kind]
    frames = mel_extractor(RATE, FINE)(audio.float()[None]).features
    for settings in ({"lag_bandwidth_hz": 0.0, "white_noise": 0.0}, {}):
        lp = LinearPrediction(RATE, residual_channels=2, order=12, **FINE, **settings)
        c = lp.coefficients(frames, 4000)  # (1, 12, T)
        assert torch.isfinite(c).all()
        for t_ in range(0, 4000, 97):
            assert poles_inside_unit_circle(-c[0, :, t_]), (kind, t_)


def test_levinson_keeps_any_autocorrelation_stable():
    gen = torch.Generator().manual_seed(3)
    r = torch.randn(200, 9, dtype=torch.float64, generator=gen)  # mostly not positive definite
    r[:, 0] = r[:, 0].abs() + 0.1
    solved = levinson_durbin(r)
    # stable by construction: a is the step-up of reflection coefficients inside (-1, 1)
    # (a step-down check from a alone divides by 1 - k^2 ~ 2e-4 per order here, so the
    # near-singular inputs are checked this way; realistic ones are checked above)
    assert (solved.reflection.abs() < 1).all() and (solved.error >= 0).all()
    for a, k in zip(solved.a, solved.reflection, strict=True):
        built = torch.zeros(0, dtype=torch.float64)
        for km in k:
            built = torch.cat([built + km * built.flip(0), km.view(1)])
        assert torch.allclose(built, a, atol=1e-12)
    assert not poles_inside_unit_circle(torch.tensor([0.0, -1.5], dtype=torch.float64))
    zero = levinson_durbin(torch.zeros(3, 5, dtype=torch.float64))
    assert torch.equal(zero.a, torch.zeros(3, 4, dtype=torch.float64))


def test_autocorrelation_and_lag_window_closed_forms():
    assert torch.allclose(autocorrelation_from_power(torch.ones(129, dtype=torch.float64), 3),
                          torch.tensor([1.0, 0, 0, 0], dtype=torch.float64))
    w = lag_window(3, 8000, bandwidth_hz=100.0, white_noise=1e-4)
    assert w[0] == 1 + 1e-4
    assert w[2].item() == pytest.approx(math.exp(-0.5 * (2 * math.pi * 100 * 2 / 8000) ** 2))


def test_pinv_inverts_the_filterbank_of_a_smooth_spectrum():
    lp = LinearPrediction(RATE, residual_channels=2, **FINE)
    smooth = lpc_spectrum(TWO_FORMANTS[1:], 256)  # (129,)
    mel = smooth @ lp.filterbank  # (40,)
    for method, tolerance in (("pinv", 0.05), ("interpolate", 0.25)):
        back = mel_to_linear_power(mel, lp.filterbank, method)
        assert (back >= 0).all()
        # compare what the mel bands see, relative to its power
        assert ((back @ lp.filterbank - mel).abs().sum() / mel.sum()) < tolerance, method


def test_predict_is_the_sum_it_says():
    gen = torch.Generator().manual_seed(1)
    y = torch.randn(2, 50, dtype=torch.float64, generator=gen)
    c = torch.randn(2, 3, 50, dtype=torch.float64, generator=gen)
    got = LinearPrediction.predict(y, c)
    for b in range(2):
        for t in range(50):
            want = sum(c[b, k - 1, t] * y[b, t - k] for k in range(1, 4) if t - k >= 0)
            assert float(got[b, t]) == pytest.approx(float(want), abs=1e-12)


def test_mulaw_boundaries_give_torchaudios_codes():
    x = torch.linspace(-1.2, 1.2, 200001, dtype=torch.float64)
    ours = torch.bucketize(x, mulaw_boundaries(256), right=True)
    theirs = torchaudio.functional.mu_law_encoding(x.clamp(-1, 1), 256)
    assert (ours != theirs).sum() == 0


@pytest.mark.parametrize("order", [0, 128, 300])
def test_an_order_of_zero_or_beyond_the_frame_is_refused(order):
    with pytest.raises(ValueError, match="order"):
        LinearPrediction(RATE, residual_channels=2, order=order, **FINE)
    with pytest.raises(ValueError, match="order"):
        levinson_durbin(torch.ones(5, dtype=torch.float64), order=order)


def test_bad_frames_are_refused_by_name():
    lp = LinearPrediction(RATE, residual_channels=2, **FINE)
    frames = torch.zeros(1, 40, 10)
    frames[0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="finite log-mel frames"):
        lp.coefficients(frames, 600)
    with pytest.raises(ValueError, match=r"\(B, 40, N\)"):
        lp.coefficients(torch.zeros(1, 32, 10), 600)
    with pytest.raises(ValueError, match="mel_inversion"):
        LinearPrediction(RATE, residual_channels=2, mel_inversion="magic", **FINE)


def test_mel_power_interpolated_back_stays_finite_when_narrow_bands_share_a_centre():
    """20 bands over the 33 bins of a 64-point FFT at 8 kHz: the narrowest low bands
    have the same centre of mass; interpolating between them must not divide by 0."""
    fb = torchaudio.functional.melscale_fbanks(33, 0.0, 4000.0, 20, 8000)
    power = mel_to_linear_power(torch.ones(3, 20), fb, "interpolate")
    assert power.shape == (3, 33) and torch.isfinite(power).all() and (power > 0).all()
