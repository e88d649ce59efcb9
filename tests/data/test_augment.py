import pytest
import torch

from wavedil.data.augment import Augment


def _tone(n=8000):
    t = torch.arange(n) / 8000
    return 0.5 * torch.sin(2 * torch.pi * 300 * t)


def test_speed_changes_length_and_pitch_together():
    torch.manual_seed(0)
    aug = Augment(8000, speed=(1.2, 1.2), gain_db=None, shift_seconds=None, noise_snr_db=None,
                  p=1.0)
    out = aug(_tone())
    assert out.shape[0] == round(8000 / 1.2)
    spectrum = torch.fft.rfft(out).abs()
    peak_hz = spectrum.argmax().item() * 8000 / out.shape[0]
    assert peak_hz == pytest.approx(360, abs=5)  # 300 Hz played 1.2 times as fast


def test_noise_lands_at_the_drawn_snr():
    torch.manual_seed(0)
    aug = Augment(8000, speed=None, gain_db=None, shift_seconds=None, noise_snr_db=(20, 20),
                  p=1.0)
    clean = _tone()
    noisy = aug(clean)
    snr = 10 * torch.log10(clean.pow(2).mean() / (noisy - clean).pow(2).mean())
    assert snr.item() == pytest.approx(20, abs=0.5)


def test_shift_prepends_silence_and_gain_scales():
    torch.manual_seed(0)
    shift = Augment(8000, speed=None, gain_db=None, shift_seconds=0.1, noise_snr_db=None, p=1.0)
    out = shift(_tone() + 0.1)
    pad = out.shape[0] - 8000
    assert 0 <= pad <= 800 and torch.all(out[:pad] == 0)
    gain = Augment(8000, speed=None, gain_db=(-6, -6), shift_seconds=None, noise_snr_db=None,
                   p=1.0)
    torch.testing.assert_close(gain(_tone()), _tone() * 10 ** (-6 / 20))


def test_probability_zero_is_identity_and_bad_ranges_are_refused():
    assert torch.equal(Augment(8000, p=0.0)(_tone()), _tone())
    with pytest.raises(ValueError, match="speed"):
        Augment(8000, speed=(1.2, 0.8))
    with pytest.raises(ValueError, match="speed"):
        Augment(8000, speed=(0.0, 1.0))
    with pytest.raises(ValueError, match="p in"):
        Augment(8000, p=1.5)


def test_lowpass_removes_high_frequencies_and_nyquist_cutoffs_do_nothing():
    t = torch.arange(8000) / 8000
    clip = 0.3 * torch.sin(2 * torch.pi * 300 * t) + 0.3 * torch.sin(2 * torch.pi * 3500 * t)
    aug = Augment(8000, speed=None, gain_db=None, shift_seconds=None, noise_snr_db=None,
                  lowpass_hz=(1000.0, 1500.0), p=1.0)
    out = aug(clip, torch.Generator().manual_seed(0))
    spectrum = torch.fft.rfft(out).abs()  # 1 Hz bins
    before = torch.fft.rfft(clip).abs()
    assert spectrum[3500] < 0.05 * before[3500]  # the 3.5 kHz tone is gone
    assert spectrum[300] > 0.8 * before[300]  # the 300 Hz tone stays
    above_nyquist = Augment(8000, speed=None, gain_db=None, shift_seconds=None,
                            noise_snr_db=None, lowpass_hz=(4000.0, 5000.0), p=1.0)
    assert torch.equal(above_nyquist(clip), clip)
    with pytest.raises(ValueError, match="lowpass_hz"):
        Augment(8000, lowpass_hz=(2000.0, 1000.0))


def test_gate_silences_only_what_lies_below_its_threshold():
    # a loud vowel-like tone, then the same tone 20 dB down, then 40 dB down
    t = torch.arange(2400) / 8000
    tone = 0.5 * torch.sin(2 * torch.pi * 300 * t)
    clip = torch.cat([tone, 0.1 * tone, 0.01 * tone])
    gate = Augment(8000, speed=None, gain_db=None, shift_seconds=None, noise_snr_db=None,
                   gate_db=(30.0, 30.0), p=1.0)
    out = gate(clip)
    inner = slice(200, 2200)  # away from the 5 ms ramps at the steps
    torch.testing.assert_close(out[:2400][inner], clip[:2400][inner])
    torch.testing.assert_close(out[2400:4800][inner], clip[2400:4800][inner])  # 20 dB < 30
    assert out[4800:][inner].abs().max() == 0  # 40 dB down: closed
    ramp = (out[4700:4900] / clip[4700:4900].where(clip[4700:4900] != 0, torch.ones(())))
    assert ramp.min() >= 0 and ramp.max() <= 1 + 1e-6  # a fade, never a boost
    tighter = Augment(8000, speed=None, gain_db=None, shift_seconds=None, noise_snr_db=None,
                      gate_db=(10.0, 10.0), p=1.0)
    assert tighter(clip)[2400:][inner].abs().max() == 0  # 20 dB down now closes too
    assert torch.equal(gate(clip[:0]), clip[:0])
    for bad in [(-5.0, 10.0), (30.0, 10.0)]:
        with pytest.raises(ValueError, match="gate_db"):
            Augment(8000, gate_db=bad)
