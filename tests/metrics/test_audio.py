"""Vocoder quality measures (:mod:`wavedil.metrics.audio`) on signals whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wavedil.metrics import (
    PitchTrack,
    analysis_settings,
    cepstrum_from_log_mel,
    f0_errors,
    log_mel_distance,
    mel_cepstral_distortion,
    mel_cepstrum,
    pitch_track,
)

MEL = {"n_mels": 40, "hop_length": 64, "n_fft": 256}
RATE = 8000


def _noise(seconds: float = 0.5, seed: int = 0) -> torch.Tensor:
    return torch.randn(int(seconds * RATE), generator=torch.Generator().manual_seed(seed)) * 0.1


def _tone(freq: float, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE), dtype=torch.float64) / RATE
    # a few harmonics, as voiced speech has
    return sum(0.3 / k * torch.sin(2 * math.pi * k * freq * t) for k in (1, 2, 3)).float()


def test_identical_audio_scores_zero():
    x = _noise()
    assert log_mel_distance(x, x, RATE, MEL) == 0.0
    assert mel_cepstral_distortion(x, x, RATE, MEL) == 0.0
    assert mel_cepstral_distortion(x, x, RATE, MEL, align=False) == 0.0


@pytest.mark.parametrize("gain", [0.5, 2.0, 0.1])
def test_a_gain_gives_its_log_mel_distance_and_no_cepstral_distortion(gain):
    x = _noise()
    assert log_mel_distance(x, gain * x, RATE, MEL) == pytest.approx(
        abs(20 * math.log10(gain)), abs=1e-6)
    # a gain moves c_0 only, which the distortion leaves out
    assert mel_cepstral_distortion(x, gain * x, RATE, MEL) == pytest.approx(0.0, abs=1e-5)


def test_a_different_spectrum_is_far_and_farther_than_a_near_one():
    x = _noise()
    lowpassed = torch.from_numpy(np.convolve(x.numpy(), np.ones(4) / 4, mode="same"))
    other = _tone(200.0)
    near = mel_cepstral_distortion(x, lowpassed, RATE, MEL)
    far = mel_cepstral_distortion(x, other, RATE, MEL)
    assert 0 < near < far
    assert 0 < log_mel_distance(x, lowpassed, RATE, MEL) < log_mel_distance(x, other, RATE, MEL)


def test_dtw_alignment_forgives_a_delay_that_frame_pairing_does_not():
    x = _tone(150.0) * torch.hann_window(4000, dtype=torch.float32)
    late = torch.cat([torch.zeros(256), x[:-256]])
    aligned = mel_cepstral_distortion(x, late, RATE, MEL, align=True)
    paired = mel_cepstral_distortion(x, late, RATE, MEL)  # the default: frame i with frame i
    assert aligned < paired


def test_the_cepstrum_of_a_known_log_spectrum_comes_back_on_the_usual_scale():
    bands = 40
    w = np.pi * (np.arange(bands) + 0.5) / bands
    c = np.array([0.4, -0.2, 0.1, 0.05])
    log_x = 1.5 + 2 * sum(c[d] * np.cos((d + 1) * w) for d in range(4))  # (F,)
    got = cepstrum_from_log_mel(np.stack([log_x, log_x + 0.3], axis=1), 13)  # (13, 2)
    assert np.allclose(got[:4, 0], c) and np.allclose(got[4:, 0], 0, atol=1e-12)
    assert np.allclose(got[:, 1], got[:, 0])  # a level moves c_0 only
    # the orthonormal DCT (librosa, the old scale) reads sqrt(2F) = 8.94 times more
    import librosa

    ortho = librosa.feature.mfcc(S=log_x[:, None], n_mfcc=5, dct_type=2, norm="ortho")[1:, 0]
    assert np.allclose(ortho / math.sqrt(2 * bands), c)


def test_mcd_of_a_known_cepstral_difference():
    # two log-mel amplitudes whose cepstra differ by 0.1 in c_1 and 0.05 in c_2:
    # MCD = 10 / ln 10 * sqrt(2 (0.1^2 + 0.05^2)) = 0.6866 dB, whatever the band count
    for bands in (20, 40, 80):
        w = np.pi * (np.arange(bands) + 0.5) / bands
        a = 0.3 * np.cos(w)
        b = a + 2 * (0.1 * np.cos(w) + 0.05 * np.cos(2 * w))
        diff = cepstrum_from_log_mel(a[:, None]) - cepstrum_from_log_mel(b[:, None])
        mcd = 10 / math.log(10) * math.sqrt(2 * (diff**2).sum())
        assert mcd == pytest.approx(10 / math.log(10) * math.sqrt(2 * 0.0125), rel=1e-9)
    # and through audio: a spectral tilt by a first-order filter scores a few dB, not tens
    x = _noise(1.0)
    tilted = torch.from_numpy(np.convolve(x.numpy(), [1.0, -0.5], mode="same")).float()
    assert 0.5 < mel_cepstral_distortion(x, tilted, RATE, MEL) < 5.0


def test_analysis_settings_scale_with_the_rate():
    assert analysis_settings(8000) == MEL
    for rate in (16000, 22050, 24000, 44100):
        settings = analysis_settings(rate)
        assert 0.02 <= settings["n_fft"] / rate <= 0.05
        assert settings["hop_length"] * 4 == settings["n_fft"]


def test_mel_cepstrum_shape_and_bad_sizes():
    c = mel_cepstrum(_noise(), RATE, MEL)
    assert c.shape == (13, 4000 // 64 + 1)
    with pytest.raises(ValueError, match="fewer than 40 coefficients"):
        mel_cepstrum(_noise(), RATE, MEL, coefficients=40)
    with pytest.raises(ValueError, match=r"Expected a \(T,\) clip"):
        log_mel_distance(torch.zeros(2, 100), torch.zeros(2, 100), RATE, MEL)


def test_pitch_errors_of_an_octave_and_of_silence():
    low, high = _tone(150.0), _tone(300.0)
    a, b = pitch_track(low, RATE, 64), pitch_track(high, RATE, 64)
    assert np.nanmedian(a.f0) == pytest.approx(150, rel=0.02)
    errors = f0_errors(a, b)
    assert errors["f0_rmse_cents"] == pytest.approx(1200, abs=60)  # one octave
    assert errors["voicing_error"] < 0.1
    silent = pitch_track(torch.zeros_like(low), RATE, 64)
    assert not silent.voiced.any()
    against_silence = f0_errors(a, silent)
    assert against_silence["f0_rmse_cents"] is None  # no frame voiced in both
    assert against_silence["voicing_error"] == pytest.approx(a.voiced.mean(), abs=1e-4)
    assert f0_errors(a, a) == {"f0_rmse_cents": 0.0, "f0_rmse_hz": 0.0, "voicing_error": 0.0}


def test_f0_errors_compare_the_shorter_length():
    a = PitchTrack(np.array([100.0, 100.0]), np.array([True, True]))
    b = PitchTrack(np.array([100.0, 100.0, 50.0]), np.array([True, True, True]))
    assert f0_errors(a, b)["f0_rmse_cents"] == 0.0
