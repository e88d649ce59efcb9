"""Classifiers wrapped into one: test-time speed averaging and ensembles.

Shape legend: B batch, T samples, K classes. Both take and return what a
classifier does: ``(B, T), lengths (B,) -> (B, K)`` (log-probabilities here).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from wavedil.data.functional import resample

__all__ = ["Ensemble", "SpeedAveraged"]


class SpeedAveraged(nn.Module):
    """Test-time augmentation: a classifier's log-probabilities averaged over copies
    of the input played at several ``speeds`` (the speed perturbation of training,
    applied at test time).

    Speed ``s`` plays a clip ``s`` times as fast: it is resampled from ``rate * s``
    to ``rate`` (band-limited; speeds are rounded to whole percent, as in
    :class:`~wavedil.data.augment.Augment`), and its length becomes
    ``ceil(T / s)``. A zero-padded clip in a batch gets the result it gets alone.

    Shapes: ``(B, T), lengths (B,) -> (B, K)`` log-probabilities (mean over speeds;
    ``softmax`` of them is the normalised geometric mean of the probabilities).

    Example:
        >>> from wavedil.models import WaveNetClassifier
        >>> tta = SpeedAveraged(WaveNetClassifier(10, dilations=[1, 2]), (0.9, 1.0, 1.1))
        >>> tta(torch.randn(2, 800), torch.tensor([800, 640])).shape
        torch.Size([2, 10])
    """

    def __init__(self, model: nn.Module, speeds: Sequence[float] = (0.9, 1.0, 1.1)) -> None:
        super().__init__()
        if not speeds:
            raise ValueError("Expected at least one speed, but found none.")
        percents = [round(100 * s) for s in speeds]
        bad = [s for s, p in zip(speeds, percents, strict=True) if not 50 <= p <= 200]
        if bad:
            raise ValueError(f"Expected speeds between 0.5 and 2.0, but found {bad}.")
        self.model = model
        self.percents = percents

    @property
    def num_classes(self) -> int:
        return self.model.num_classes

    @property
    def speeds(self) -> list[float]:
        return [p / 100 for p in self.percents]

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = torch.full(audio.shape[:1], audio.shape[-1], device=audio.device)
        total = None
        for percent in self.percents:
            if percent == 100:
                played, played_lengths = audio, lengths
            else:
                played = resample(audio, percent, 100)  # (B, ceil(T * 100 / percent))
                played_lengths = torch.div(lengths * 100 + percent - 1, percent,
                                           rounding_mode="floor")
                played = played * (torch.arange(played.shape[-1], device=audio.device)
                                   < played_lengths[:, None])  # clear the filter's tails
            logp = self.model(played, played_lengths).log_softmax(-1)  # (B, K)
            total = logp if total is None else total + logp
        assert total is not None
        return total / len(self.percents)


class Ensemble(nn.Module):
    """Several classifiers as one: their log-probabilities averaged.

    ``softmax`` of the result is the normalised geometric mean of the members'
    probabilities. An average can only correct mistakes the members do not share;
    on FSDD's unseen speakers neither two seeds nor an MFCC and a log-mel model
    gained beyond seed spread (docs/experiments/fsdd.md).

    Shapes: ``(B, T), lengths (B,) -> (B, K)`` log-probabilities.

    Example:
        >>> from wavedil.models import WaveNetClassifier
        >>> pair = Ensemble([WaveNetClassifier(10, dilations=[1, 2]),
        ...                  WaveNetClassifier(10, dilations=[1, 2, 4])])
        >>> pair(torch.randn(2, 800), torch.tensor([800, 640])).shape
        torch.Size([2, 10])
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("Expected at least one classifier, but found none.")
        self.members = nn.ModuleList(members)

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    def forward(self, audio: Tensor, lengths: Tensor | None = None) -> Tensor:
        total = sum(member(audio, lengths).log_softmax(-1) for member in self.members)
        return total / len(self.members)
