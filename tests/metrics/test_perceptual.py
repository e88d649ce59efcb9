"""PESQ and STOI (:mod:`wavedil.metrics.perceptual`): their maxima for a clip against
itself, falling with added noise, short clips joined, and a clear error without the
packages."""

from __future__ import annotations

import builtins
import math

import pytest
import torch

from wavedil.metrics import joined_segments, pesq_score, stoi_score

pytest.importorskip("pesq")
pytest.importorskip("pystoi")


def speechlike(seconds: float = 6.0, rate: int = 8000, seed: int = 0) -> torch.Tensor:
    """Voiced syllables: a gliding 120 Hz harmonic series under a 2.5 Hz envelope."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / rate
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 20))
    envelope = torch.sin(2 * math.pi * 2.5 * t).clamp(min=0) ** 2
    return (0.2 * voiced * envelope + 0.003 * torch.randn(len(t), generator=g)).float()


def with_noise(x: torch.Tensor, snr_db: float) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    return x + noise * x.std() * 10 ** (-snr_db / 20)


@pytest.mark.parametrize(("rate", "best"), [(8000, 4.549), (16000, 4.644)])
def test_pesq_is_at_its_maximum_for_the_reference_and_falls_with_noise(rate, best):
    x = speechlike(rate=rate)
    assert pesq_score(x, x, rate) == pytest.approx(best, abs=0.01)
    scores = [pesq_score(x, with_noise(x, snr), rate) for snr in (30, 15, 0)]
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] < 2.0


def test_pesq_resamples_other_rates_to_wide_band():
    x = speechlike(rate=11025)
    assert pesq_score(x, x, 11025) == pytest.approx(4.644, abs=0.01)


def test_stoi_is_one_for_the_reference_and_falls_with_noise():
    x = speechlike()
    assert stoi_score(x, x, 8000) == pytest.approx(1.0, abs=1e-9)
    scores = [stoi_score(x, with_noise(x, snr), 8000) for snr in (20, 5, -5)]
    assert scores[0] > scores[1] > scores[2]


def test_short_clips_are_refused_alone_and_scored_joined():
    clips = [speechlike(0.5, seed=i) for i in range(20)]
    digit = speechlike(0.3)
    with pytest.raises(ValueError, match="join short clips"):
        stoi_score(digit, digit, 8000)
    segments = joined_segments(clips, [with_noise(c, 10) for c in clips], 8000, seconds=4.0)
    assert [r.shape[0] for r, _ in segments] == [32000, 32000, 16000]
    for reference, test in segments:
        assert 0.5 < stoi_score(reference, test, 8000) < 1.0
    with pytest.raises(ValueError, match="as many test clips"):
        joined_segments(clips, clips[:3], 8000)
    # a rest under half a segment joins the one before it
    assert [r.shape[0] for r, _ in joined_segments(clips[:18], clips[:18], 8000, 4.0)] == [
        32000, 40000]


def test_without_the_packages_the_error_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pesq(name, *args, **kwargs):
        if name in ("pesq", "pystoi"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pesq)
    x = speechlike(1.0)
    with pytest.raises(ImportError, match=r"wavedil\[quality\]"):
        pesq_score(x, x, 8000)
    with pytest.raises(ImportError, match=r"wavedil\[quality\]"):
        stoi_score(x, x, 8000)
