"""What the data pipeline passes around: decoded clips, their splits, what a model
needs to know about its data, and audio files with what their names say.

Shape legend: T samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from torch import Tensor

__all__ = ["AudioFile", "Clip", "ClipSource", "ClipSplits", "DataInfo"]


class Clip(NamedTuple):
    """One decoded clip.

    Attributes:
        audio: ``(T,)`` float32 mono.
        label: class index, or ``None`` for unlabelled audio.
        speaker: speaker index, or ``None``.
        path: where it came from (for error messages and reports).
        weight: how much the clip counts in a classifier's training loss (1: as
            much as any other; synthetic clips may count less).
        frames: its log-mel frames ``(F, N)``, computed once when the corpus was
            prepared (:mod:`wavedil.data.shards`), or ``None`` (computed from
            ``audio`` where needed).
    """

    audio: Tensor
    label: int | None = None
    speaker: int | None = None
    path: str = ""
    weight: float = 1.0
    frames: Any = None


@dataclass
class DataInfo:
    """What a model needs to know about its data; stored in checkpoints.

    Attributes:
        sample_rate: Hz of every clip.
        class_names: label names, index = class id.
        speaker_names: speaker names, index = speaker id.
        global_label: what a generator's global class id means (``"label"`` or
            ``"speaker"``), or ``None``.
        local_features: :class:`~wavedil.nn.LogMelFrontend` arguments of a
            generator's local conditioning, or ``None``.
    """

    sample_rate: int
    class_names: list[str] = field(default_factory=list)
    speaker_names: list[str] = field(default_factory=list)
    global_label: str | None = None
    local_features: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def label_names(self, num_classes: int) -> list[str]:
        """The class names, or the ids ``"0" .. str(num_classes - 1)`` where the data
        named none (a model's ``num_classes`` outputs need a name each)."""
        return self.class_names or [str(i) for i in range(num_classes)]

    @property
    def global_names(self) -> list[str]:
        """Names of the generator's global classes (labels or speakers)."""
        if self.global_label is None:
            return []
        return self.class_names if self.global_label == "label" else self.speaker_names

    @property
    def num_global(self) -> int:
        return len(self.global_names)

    @property
    def n_mels(self) -> int | None:
        return None if self.local_features is None else int(self.local_features["n_mels"])

    @property
    def hop_length(self) -> int | None:
        return None if self.local_features is None else int(self.local_features["hop_length"])

    @property
    def num_speakers(self) -> int:
        return len(self.speaker_names)


@dataclass
class ClipSplits:
    train: list[Clip]
    val: list[Clip]
    test: list[Clip]
    info: DataInfo


class ClipSource(Protocol):
    """Anything that loads :class:`ClipSplits`."""

    sample_rate: int

    def load(self) -> ClipSplits: ...


class AudioFile(NamedTuple):
    """A file found by :func:`scan_folder`, with what its name or folder says."""

    path: Path
    label: str | None = None
    speaker: str | None = None
    index: int | None = None
    text: str | None = None  # a transcript, where the corpus has one (wavedil.data.corpora)
