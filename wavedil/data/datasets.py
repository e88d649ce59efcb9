"""Torch datasets over decoded clips.

* :class:`CropDataset` - fixed-length crops for the generator, with optional
  global (class or speaker id) and local (log-mel frames) conditioning.
* :class:`ClipDataset` - whole labelled clips (optionally capped) for the
  classifier; :func:`collate_clips` pads them and records lengths.

Shape legend: T samples (``crop_length`` for crops), F mel bands, N frames.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from wavedil.data.features import LOG_MEL_FLOOR, FeatureCache
from wavedil.data.functional import crop_or_pad, pad_batch, random_offset
from wavedil.data.sampling import item_generator
from wavedil.data.sources import Clip
from wavedil.nn import LogMelFrontend
from wavedil.nn.checks import check_choice, check_positive_int

__all__ = ["ClipDataset", "CropDataset", "collate_clips"]

class CropDataset(Dataset):
    """Crops of ``crop_length`` samples for teacher-forced training.

    Training crops start at a random offset drawn from the item's own generator
    when the sampler passes ``(index, item_seed)`` (see
    :class:`~wavedil.data.sampling.EpochSampler`), else from the global generator;
    evaluation crops at an offset fixed by ``seed`` and the index, so that
    validation scores are comparable between epochs.

    Args:
        clips: decoded clips (or clips in prepared shards, read crop by crop).
        crop_length: samples per item.
        train: random (True) or fixed (False) offsets.
        global_label: ``"label"``, ``"speaker"`` or ``None``: which id to return as
            ``global_cond``.
        mel: local conditioning features: a front end computing them, or a
            :class:`~wavedil.data.features.FeatureCache` (frames of files kept on
            disk between runs), or ``None``.
        short_clips: ``"pad"`` clips shorter than the crop with silence, or
            ``"skip"`` them.
        crops_per_clip: items per clip per epoch.
        seed: offsets of evaluation crops.
        augment: in training, ``(T,), generator -> (T',)`` applied to a piece of the
            clip around the crop (e.g. :class:`~wavedil.data.Augment`'s speed
            perturbation: new pitches and vocal tracts), whose mel frames are then
            computed afresh, so audio and conditioning stay consistent; ``None``:
            crops as they are, frames from the precomputed (or cached) ones.

    Items:
        ``{"audio": (T,), "global_cond": () long?, "local_cond": (F, T // hop)?}``
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        crop_length: int,
        train: bool,
        global_label: str | None = None,
        mel: LogMelFrontend | FeatureCache | None = None,
        short_clips: str = "pad",
        crops_per_clip: int = 1,
        seed: int = 0,
        augment: Callable[..., Tensor] | None = None,
    ) -> None:
        self.crop_length = check_positive_int("crop_length", crop_length)
        self.crops_per_clip = check_positive_int("crops_per_clip", crops_per_clip)
        check_choice("short_clips", short_clips, ("pad", "skip"))
        if global_label is not None:
            check_choice("global_label", global_label, ("label", "speaker"))
            missing = [c.path for c in clips if getattr(c, global_label) is None]
            if missing:
                raise ValueError(
                    f"Expected a {global_label} for every clip (global_label={global_label!r}), "
                    f"but {len(missing)} have none, e.g. {missing[0]}."
                )
        self.hop = 1
        if mel is not None:
            self.hop = mel.hop_length
            if crop_length % self.hop:
                raise ValueError(
                    f"Expected crop_length to be a multiple of the mel hop_length {self.hop}, "
                    f"but found {crop_length}."
                )
        if short_clips == "skip":
            kept = [c for c in clips if c.audio.shape[-1] >= crop_length]
            if len(kept) < len(clips):
                warnings.warn(
                    f"Skipping {len(clips) - len(kept)} of {len(clips)} clips shorter than "
                    f"crop_length={crop_length} samples (short_clips='skip').", stacklevel=2)
            clips = kept
        if not clips:
            raise ValueError(
                f"No clips of at least crop_length={crop_length} samples to crop from."
            )
        self.clips = list(clips)
        self.train = train
        self.global_label = global_label
        self.seed = seed
        # Features over whole clips, so crop edges see real context; frame i is centred
        # on sample i * hop.
        self.features: list[Tensor] | None = None
        self.augment = augment if train else None
        self._frames_of: Callable[[Tensor], Tensor] | None = None
        self._margin = 0
        if mel is not None:
            self._frames_of = (mel.compute if isinstance(mel, FeatureCache)
                               else lambda audio: mel(audio.unsqueeze(0)).features[0])
            n_fft = mel.settings["n_fft"] if isinstance(mel, FeatureCache) else mel.n_fft
            self._margin = -(-n_fft // 2 // self.hop) * self.hop  # frames with full context
        if mel is not None:  # frames prepared with the clip (read from its shard) or computed
            clips_bar = tqdm(self.clips, desc="mel frames", unit="clip", leave=False,
                             disable=len(self.clips) < 200
                             or all(c.frames is not None for c in self.clips))
            def frames_of(clip: Clip) -> Tensor:
                if isinstance(mel, FeatureCache):
                    return mel.frames(clip.audio, clip.path)
                return mel(clip.audio.unsqueeze(0)).features[0]

            with torch.no_grad():
                self.features = [c.frames if c.frames is not None else frames_of(c)
                                 for c in clips_bar]

    def __len__(self) -> int:
        return len(self.clips) * self.crops_per_clip

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Tensor]:
        index, generator = item_generator(item)
        clip = self.clips[index % len(self.clips)]
        if not self.train:
            generator = torch.Generator().manual_seed(self.seed + index)
        if self.augment is not None:
            return self._augmented(clip, generator)
        offset = random_offset(clip.audio.shape[-1], self.crop_length, generator, self.hop)
        item = {"audio": crop_or_pad(clip.audio, offset, self.crop_length)}  # (T,)
        if self.global_label is not None:
            item["global_cond"] = torch.tensor(getattr(clip, self.global_label))
        if self.features is not None:
            feats = self.features[index % len(self.clips)]  # (F, N_clip)
            frames = self.crop_length // self.hop
            piece = feats[:, offset // self.hop: offset // self.hop + frames]
            item["local_cond"] = F.pad(piece, (0, frames - piece.shape[-1]), value=LOG_MEL_FLOOR)
        return item

    def _augmented(self, clip: Clip, generator: torch.Generator | None) -> dict[str, Tensor]:
        """A crop of an augmented piece of ``clip``, with the piece's own mel frames.

        The piece holds ``margin`` samples either side of the crop (before any speed
        change shortens it), so the crop's frames see real context as the
        precomputed ones do."""
        need = self._margin + self.crop_length + self._margin
        speed = getattr(self.augment, "speed", None)
        span = math.ceil(need * (max(speed) if speed else 1.0)) + self.hop
        offset = random_offset(clip.audio.shape[-1], span, generator, self.hop)
        piece = self.augment(crop_or_pad(clip.audio, offset, span), generator=generator)
        piece = crop_or_pad(piece, 0, need)  # (need,)
        start = self._margin
        item = {"audio": piece[start:start + self.crop_length]}  # (T,)
        if self.global_label is not None:
            item["global_cond"] = torch.tensor(getattr(clip, self.global_label))
        if self._frames_of is not None:
            with torch.no_grad():
                frames = self._frames_of(piece)  # (F, need // hop + 1)
            first = start // self.hop
            item["local_cond"] = frames[:, first:first + self.crop_length // self.hop]
        return item


class ClipDataset(Dataset):
    """Whole labelled clips, capped at ``max_length`` samples.

    Args:
        clips: decoded clips with labels.
        max_length: longer clips are cropped (randomly in training, centred
            otherwise); ``None`` keeps whole clips.
        train: random crops and augmentation (True) or deterministic ones.
        augment: ``(T,), generator -> (T',)`` applied in training, or ``None``.

    Items:
        ``{"audio": (T,), "label": () long}``
    """

    def __init__(
        self,
        clips: Sequence[Clip],
        max_length: int | None = None,
        train: bool = False,
        augment: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if not clips:
            raise ValueError("Expected at least one clip, but found an empty split.")
        unlabelled = [c.path for c in clips if c.label is None]
        if unlabelled:
            raise ValueError(
                f"Expected a label for every clip to train a classifier, but {len(unlabelled)} "
                f"have none, e.g. {unlabelled[0]} (set the source's labels= option)."
            )
        self.clips = list(clips)
        self.max_length = max_length
        self.train = train
        self.augment = augment

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Tensor]:
        index, generator = item_generator(item)
        clip = self.clips[index]
        audio = clip.audio
        if self.max_length is not None and audio.shape[-1] > self.max_length:
            room = audio.shape[-1] - self.max_length
            offset = (int(torch.randint(0, room + 1, (), generator=generator)) if self.train
                      else room // 2)
            audio = audio[offset:offset + self.max_length]
        else:
            audio = audio[...]  # a tensor as it is; a clip in a shard read whole
        if self.train and self.augment is not None:
            audio = self.augment(audio, generator=generator)
        return {"audio": audio, "label": torch.tensor(clip.label),
                "weight": torch.tensor(clip.weight, dtype=torch.float32)}


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
    """Pad clips of different lengths: ``{"audio": (B, T), "lengths": (B,), "label": (B,)}``,
    and ``"weight": (B,)`` when the items carry one."""
    audio, lengths = pad_batch([item["audio"] for item in items])
    batch = {"audio": audio, "lengths": lengths,
             "label": torch.stack([item["label"] for item in items])}
    if all("weight" in item for item in items):
        batch["weight"] = torch.stack([item["weight"] for item in items])
    return batch
