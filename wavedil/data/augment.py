"""Training-time waveform augmentation that helps a classifier with unseen speakers.

Shape legend: T samples (the output may be longer or shorter than the input).

Each perturbation is optional (``None`` disables it) and drawn afresh per clip:

* **speed**: resample by a random factor (band-limited, torchaudio's sinc
  filter): tempo and pitch move together, and so do the formants, much as a
  different vocal tract would move them;
* **gain**: a random level in dB;
* **shift**: random leading silence (time shift);
* **noise**: white or brown background noise at a random signal-to-noise ratio;
* **lowpass**: a random band limit (a cascade of two biquad low-pass filters at a
  random cut-off), as a duller microphone or channel would give: a model then
  cannot lean on high-frequency cues that some speakers' recordings lack;
* **gate**: a noise gate that silences every stretch whose short-time level stays
  more than a random number of dB below the clip's loudest: weak consonants
  (/s/, /f/, /t/ bursts) vanish and the vowels remain, as with speakers who barely
  voice them or recording chains that suppress them; a model then cannot rest a
  word on its faintest sounds alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import Tensor

from wavedil.data.functional import add_noise, brown, resample
from wavedil.nn.checks import check_positive_int, check_range
from wavedil.spec import serializable

__all__ = ["Augment"]


def _range(name: str, value: tuple[float, float] | None, low: float | None = None
           ) -> tuple[float, float] | None:
    return None if value is None else check_range(name, value, low, low_open=True)


@serializable
class Augment:
    """Random perturbations of a clip, each applied with its probability.

    Args:
        sample_rate: Hz of the clips.
        speed: (min, max) speed factor, e.g. (0.9, 1.1), or ``None``.
        gain_db: (min, max) gain in dB, or ``None``.
        shift_seconds: largest leading silence added, or ``None``.
        noise_snr_db: (min, max) signal-to-noise ratio of added noise, or ``None``.
        lowpass_hz: (min, max) cut-off of a random low-pass filter, or ``None``
            (cut-offs at or above the Nyquist frequency leave the clip alone).
        gate_db: (min, max) threshold of the noise gate in dB below the clip's
            peak 20 ms level (both positive, e.g. (15, 30)), or ``None``.
        p: probability of each perturbation.

    Shape:
        ``(T,) -> (T',)``

    Example:
        >>> aug = Augment(8000, speed=(0.9, 1.1), gain_db=None, shift_seconds=None,
        ...               noise_snr_db=None, p=1.0)
        >>> 7000 < aug(torch.randn(8000)).shape[0] < 9000
        True
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        speed: tuple[float, float] | None = (0.9, 1.1),
        gain_db: tuple[float, float] | None = (-6.0, 6.0),
        shift_seconds: float | None = 0.1,
        noise_snr_db: tuple[float, float] | None = (15.0, 40.0),
        lowpass_hz: tuple[float, float] | None = None,
        gate_db: tuple[float, float] | None = None,
        p: float = 0.5,
    ) -> None:
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.speed = _range("speed", speed, low=0.0)
        self.gain_db = _range("gain_db", gain_db)
        self.noise_snr_db = _range("noise_snr_db", noise_snr_db)
        self.lowpass_hz = _range("lowpass_hz", lowpass_hz, low=0.0)
        self.gate_db = _range("gate_db", gate_db, low=0.0)
        if shift_seconds is not None and shift_seconds < 0:
            raise ValueError(f"Expected shift_seconds >= 0, but found {shift_seconds}.")
        self.shift_seconds = shift_seconds
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Expected p in [0, 1], but found {p}.")
        self.p = p

    def __call__(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Perturb ``audio``; every random draw comes from ``generator`` (or the global
        generator when it is ``None``)."""

        def uniform(low: float = 0.0, high: float = 1.0) -> float:
            return low + (high - low) * float(torch.rand((), generator=generator))

        def chance() -> bool:
            return uniform() < self.p

        if self.speed is not None and chance():
            # factor f plays the clip f times as fast: resample from rate * f to rate.
            # Percent steps keep the resampling kernel small (gcd of 100 f and 100).
            factor = round(100 * uniform(*self.speed))
            if factor != 100:
                audio = resample(audio, factor, 100)
        if self.gain_db is not None and chance():
            audio = audio * 10 ** (uniform(*self.gain_db) / 20)
        if self.lowpass_hz is not None and chance():
            cutoff = uniform(*self.lowpass_hz)
            if cutoff < self.sample_rate / 2:
                for _ in range(2):  # 24 dB per octave
                    audio = AF.lowpass_biquad(audio, self.sample_rate, cutoff)
        if self.gate_db is not None and chance():
            audio = self._gate(audio, uniform(*self.gate_db))
        if self.noise_snr_db is not None and chance():
            noise = torch.randn(audio.shape, generator=generator, dtype=audio.dtype)
            if uniform() < 0.5:
                noise = brown(noise)
            audio = add_noise(audio, noise, uniform(*self.noise_snr_db))
        if self.shift_seconds and chance():
            most = math.floor(self.shift_seconds * self.sample_rate)
            pad = int(torch.randint(0, most + 1, (), generator=generator))
            audio = torch.cat([audio.new_zeros(pad), audio])
        return audio.clamp(-1.0, 1.0)

    def _gate(self, audio: Tensor, threshold_db: float) -> Tensor:
        """Silence wherever the 20 ms RMS level is more than ``threshold_db`` below
        its peak; the gate opens and closes over 5 ms ramps (no clicks)."""
        if audio.numel() == 0:
            return audio
        power = self._moving_average(audio.pow(2), 0.02)
        level_db = 10 * torch.log10(power.clamp(min=1e-12))
        is_open = (level_db > level_db.max() - threshold_db).to(audio.dtype)
        return audio * self._moving_average(is_open, 0.005)

    def _moving_average(self, signal: Tensor, seconds: float) -> Tensor:
        """Centred mean over an odd window of about ``seconds`` (shorter at the ends)."""
        window = max(1, round(seconds * self.sample_rate)) | 1
        return F.avg_pool1d(signal[None, None], window, stride=1, padding=window // 2,
                            count_include_pad=False)[0, 0]

    def __repr__(self) -> str:
        return (f"Augment(speed={self.speed}, gain_db={self.gain_db}, "
                f"shift_seconds={self.shift_seconds}, noise_snr_db={self.noise_snr_db}, "
                f"lowpass_hz={self.lowpass_hz}, gate_db={self.gate_db}, p={self.p})")
