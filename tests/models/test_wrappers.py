"""Classifier wrappers (:mod:`wavedil.models.wrappers`): test-time speed averaging and
ensembles."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio.functional as AF
from torch import nn

from wavedil.data.functional import pad_batch
from wavedil.models import Ensemble, SpeedAveraged, WaveNetClassifier
from wavedil.nn import MFCCFrontend


def _classifier() -> WaveNetClassifier:
    torch.manual_seed(0)
    return WaveNetClassifier(4, MFCCFrontend(8000, n_mfcc=13), 8, 8, 8, dilations=[1, 2]).eval()


class _Probe(nn.Module):
    """Records what it is fed; logits from the clip's valid samples only."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, audio, lengths):
        self.seen.append((audio, lengths))
        mask = torch.arange(audio.shape[-1]) < lengths[:, None]
        return torch.stack([(audio * mask).sum(-1), lengths.float()], dim=-1)


def test_one_speed_of_one_is_the_model():
    model = _classifier()
    audio = torch.randn(3, 1200)
    lengths = torch.tensor([1200, 900, 640])
    with torch.no_grad():
        torch.testing.assert_close(SpeedAveraged(model, [1.0])(audio, lengths),
                                   model(audio, lengths).log_softmax(-1))


def test_average_of_the_played_clips_log_probabilities():
    model = _classifier()
    clip = torch.randn(1, 1500)
    with torch.no_grad():
        got = SpeedAveraged(model, (0.9, 1.0, 1.1))(clip)
        by_hand = [model(AF.resample(clip, p, 100)).log_softmax(-1) if p != 100
                   else model(clip).log_softmax(-1) for p in (90, 100, 110)]
    torch.testing.assert_close(got, torch.stack(by_hand).mean(0))


def test_a_padded_clip_in_a_batch_gets_what_it_gets_alone():
    model = _classifier()
    tta = SpeedAveraged(model, (0.85, 1.0, 1.15))
    clips = [torch.randn(n) for n in (1700, 950, 1234)]
    audio, lengths = pad_batch(clips)
    with torch.no_grad():
        batched = tta(audio, lengths)
        alone = torch.cat([tta(c[None]) for c in clips])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_played_lengths_and_zeroed_tails():
    probe = _Probe()
    audio, lengths = pad_batch([torch.ones(1000), torch.ones(500)])
    SpeedAveraged(probe, (0.9, 1.0, 2.0))(audio, lengths)
    (slow, slow_len), (same, same_len), (fast, fast_len) = probe.seen
    assert slow_len.tolist() == [math.ceil(1000 / 0.9), math.ceil(500 / 0.9)]
    assert slow.shape[-1] == math.ceil(1000 / 0.9)
    assert same is audio and same_len is lengths and fast_len.tolist() == [500, 250]
    assert (slow[1, slow_len[1]:] == 0).all() and (fast[1, 250:] == 0).all()


@pytest.mark.parametrize("speeds", [(), (0.9, 3.0), (0.2,)])
def test_bad_speeds_are_refused(speeds):
    with pytest.raises(ValueError, match="speed"):
        SpeedAveraged(_classifier(), speeds)


def test_ensemble_averages_its_members_log_probabilities():
    torch.manual_seed(1)
    members = [WaveNetClassifier(4, MFCCFrontend(8000, n_mfcc=13), 8, 8, 8,
                                 dilations=d).eval() for d in ([1], [1, 2], [1, 2, 4])]
    audio, lengths = torch.randn(3, 1200), torch.tensor([1200, 900, 640])
    with torch.no_grad():
        got = Ensemble(members)(audio, lengths)
        each = torch.stack([m(audio, lengths).log_softmax(-1) for m in members])
        torch.testing.assert_close(got, each.mean(0))
        # one member alone is that member's log-probabilities
        torch.testing.assert_close(Ensemble(members[:1])(audio, lengths), each[0])
        # speed averaging wraps an ensemble like any classifier
        tta = SpeedAveraged(Ensemble(members), [0.9, 1.1])
        assert tta(audio, lengths).shape == (3, 4) and tta.num_classes == 4
    with pytest.raises(ValueError, match="at least one classifier"):
        Ensemble([])
