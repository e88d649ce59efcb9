"""Batched classification of decoded clips
(:func:`wavedil.inference.classification.predict.classify_clips`)."""

from __future__ import annotations

import torch

from wavedil.inference.classification.predict import classify_clips
from wavedil.models import WaveNetClassifier
from wavedil.nn import MFCCFrontend


def _classifier() -> WaveNetClassifier:
    torch.manual_seed(0)
    return WaveNetClassifier(4, MFCCFrontend(8000, n_mfcc=13), 8, 8, 8, dilations=[1, 2]).eval()


def test_classify_clips_batches_padded_clips_as_if_alone():
    model = _classifier()
    clips = [torch.randn(n) for n in (1700, 950, 1234, 800, 1500)]
    with torch.no_grad():
        alone = torch.stack([model(c[None]).argmax(-1)[0] for c in clips])
    assert torch.equal(classify_clips(model, clips, batch_size=2), alone)
    assert torch.equal(classify_clips(model, clips), alone)
    assert classify_clips(model, []).shape == (0,)
