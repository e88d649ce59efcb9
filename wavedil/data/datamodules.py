"""Lightning datamodules: a clip source plus batching for one task.

A datamodule is built from a *source* (anything with ``load() -> ClipSplits``)
or a factory of one that takes ``root`` (the Hydra configs pass a ``_partial_``
source so that ``data.root=...`` stays one top-level override). Nothing touches
the disk before :meth:`setup`.

Batches are drawn by :class:`~wavedil.data.sampling.EpochSampler`: order and
per-item randomness follow ``seed`` and the epoch, each process of a
distributed run takes its own share (so set the trainer's
``use_distributed_sampler=False``, as ``conf/trainer`` does), and a run resumed
from a mid-epoch checkpoint skips the batches that epoch already trained on.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from wavedil.data.datasets import ClipDataset, CropDataset, collate_clips
from wavedil.data.features import FeatureCache, check_mel_settings, mel_extractor
from wavedil.data.sampling import EpochSampler
from wavedil.data.shards import ShardSource
from wavedil.data.sources import ClipSource, ClipSplits, DataInfo
from wavedil.nn.checks import check_choice, check_positive_int

__all__ = ["ClassificationDataModule", "GenerationDataModule"]

log = logging.getLogger(__name__)

SourceLike = ClipSource | Callable[..., ClipSource]


def _build_source(source: SourceLike, root: str | None) -> ClipSource:
    """An instantiated source, given ``root`` where it reads files."""
    if not isinstance(source, type) and hasattr(source, "load"):
        if root is not None:
            raise ValueError("data.root was given, but the source was already built with its own.")
        return source  # type: ignore[return-value]
    params = inspect.signature(source).parameters
    name = getattr(getattr(source, "func", source), "__name__", str(source))
    if "root" not in params:
        if root is not None:
            raise ValueError(f"data.root={root!r} was given, but the {name} source reads no files.")
        return source()
    if root is None and params["root"].default is inspect.Parameter.empty:
        raise ValueError(f"The {name} source reads files: set data.root=/path/to/audio.")
    return source(root=root) if root is not None else source()


class _ClipDataModule(pl.LightningDataModule):
    def __init__(self, source: SourceLike, root: str | None, batch_size: int,
                 num_workers: int, seed: int | None, pin_memory: bool | None = None,
                 tts: Any | None = None, format: str = "files") -> None:
        super().__init__()
        self.format = check_choice("data.format", format, ("files", "shards"))
        self.pin_memory = pin_memory
        self.tts = tts
        self.source = _build_source(source, None if root is None else str(root))
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_workers = check_positive_int("num_workers", num_workers, minimum=0)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.splits: ClipSplits | None = None
        self.datasets: dict[str, Dataset] = {}
        self._resume_batches: int | None = None  # from a checkpoint: the epoch's batches done

    # -- the place in the epoch, saved with every checkpoint ---------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The training batches of the current epoch done when a checkpoint is written
        (it is written at the end of a batch, which counts as processed)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or not trainer.training:
            return {}
        return {"train_batches_done": trainer.fit_loop.epoch_loop.batch_progress.current.processed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume mid-epoch: the training loader skips the batches the checkpoint says were
        done. Lightning restores this before it builds the loader, whenever it builds it
        (with ``max_epochs`` set, already while the optimizers' schedules are sized)."""
        done = state.get("train_batches_done")
        self._resume_batches = None if done is None else int(done)

    def setup(self, stage: str | None = None) -> None:
        if self.splits is None:  # decode once, whichever stage asks first
            self.splits = self.load_splits()
            for split in ("train", "val", "test"):
                clips = getattr(self.splits, split)
                if clips:
                    self.datasets[split] = self.make_dataset(split, clips)
            if "train" not in self.datasets:
                raise ValueError(f"The training split of {type(self.source).__name__} is empty.")

    def load_splits(self) -> ClipSplits:
        """The source's splits, with the synthesiser's clips added to training."""
        splits = self._shard_source().load() if self.format == "shards" else self.source.load()
        if self.tts is None:
            return splits
        extra = self.tts.clips(splits.info.class_names, splits.info.sample_rate)
        log.info("Training on %d real and %d synthetic clips.", len(splits.train), len(extra))
        return replace(splits, train=[*splits.train, *extra])

    def _shard_source(self) -> ShardSource:
        """``data.format=shards``: the clips of the folder ``data.root`` that wavedil-prepare
        wrote, split as the configured source splits its files."""
        if not hasattr(self.source, "make_splits") or not hasattr(self.source, "root"):
            raise ValueError(
                f"data.format=shards reads a folder written by wavedil-prepare from a file "
                f"source, but the {type(self.source).__name__} source makes its own clips "
                "(use data.format=files).")
        return ShardSource(self.source.root, like=self.source, mel=self.shard_mel)

    @property
    def shard_mel(self) -> dict[str, Any] | None:
        """The mel settings whose frames the shards must hold (none for whole clips)."""
        return None

    def make_dataset(self, split: str, clips: list) -> Dataset:
        raise NotImplementedError

    @property
    def info(self) -> DataInfo:
        """What the data are (call :meth:`setup` first)."""
        if self.splits is None:
            raise RuntimeError("Call setup() before asking for the data info.")
        return self.splits.info

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise ValueError(f"The {split} split of {type(self.source).__name__} is empty.")
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        sampler = EpochSampler(len(self.datasets[split]), shuffle, self.seed, rank, world)
        if split == "train" and trainer is not None:
            done = self._resume_batches
            if done is None:  # a checkpoint without the datamodule's state: the loop's count
                done = _batches_done_this_epoch(trainer)
            self._resume_batches = None  # once: the next epochs start from their first batch
            sampler.skip(self.batch_size * done)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self.collate,
            persistent_workers=self.num_workers > 0,
            pin_memory=self._pin(trainer),
            drop_last=False,
        )

    def _pin(self, trainer: Any) -> bool:
        """``pin_memory``, or when ``None`` whether training runs on a CUDA device
        (page-locked batches copy to the GPU asynchronously)."""
        if self.pin_memory is not None:
            return self.pin_memory
        device = getattr(getattr(trainer, "strategy", None), "root_device", None)
        return getattr(device, "type", "cpu") == "cuda"

    collate: Callable[..., Any] | None = None

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _batches_done_this_epoch(trainer: pl.Trainer) -> int:
    """Training batches of the current epoch already trained on, when resuming mid-epoch
    from a checkpoint that does not record the datamodule's state (the loop's own count;
    right only when the loader is built after the loops are restored).

    A checkpoint written at the end of a training batch counts that batch as
    processed but not yet completed, so ``processed`` is the batches to skip.
    """
    loop = trainer.fit_loop
    if not loop.restarting:
        return 0
    return loop.epoch_loop.batch_progress.current.processed


class GenerationDataModule(_ClipDataModule):
    """Random crops of audio for the generator, with optional conditioning.

    Args:
        source: a clip source, or a factory taking ``root``.
        root: folder of the data (for file sources).
        batch_size: crops per batch.
        crop_length: samples per crop.
        global_label: condition globally on ``"label"`` or ``"speaker"`` ids, or ``None``.
        local_features: mel settings (``n_mels``, ``hop_length``, ``n_fft``, optionally
            ``f_min``, ``f_max``; see :mod:`wavedil.data.features`) for local
            conditioning, or ``None``.
        feature_cache: a folder keeping each file's mel frames between runs (``~``
            expanded), or ``None`` to compute them at every start.
        augment: training-time augmentation of the audio around each crop (its mel
            frames then computed from the augmented audio), a factory taking
            ``sample_rate=`` (Hydra's ``_partial_: true``), or ``None``.
        short_clips: ``"pad"`` or ``"skip"`` clips shorter than the crop.
        crops_per_clip: training crops drawn per clip per epoch.
        num_workers: DataLoader worker processes (0: in the training process; on a
            GPU, 4-8 keep it fed).
        pin_memory: page-locked batches for fast copies to a GPU; ``None``: when
            training on CUDA.
        seed: data order and crop offsets (``None``: a random seed).
        tts: extra *training* clips from a speech synthesiser (see
            :class:`ClassificationDataModule`), e.g. synthetic voices for a vocoder.
        format: ``"files"`` (decode the source's files into memory at the start) or
            ``"shards"`` (``root`` is a folder written by ``wavedil-prepare``: crops
            and their mel frames are read from it on demand, split as the source
            says; see :mod:`wavedil.data.shards`).
    """

    def __init__(
        self,
        source: SourceLike,
        root: str | None = None,
        batch_size: int = 16,
        crop_length: int = 4096,
        global_label: str | None = None,
        local_features: dict[str, Any] | None = None,
        short_clips: str = "pad",
        crops_per_clip: int = 1,
        num_workers: int = 0,
        seed: int | None = 0,
        pin_memory: bool | None = None,
        feature_cache: str | None = None,
        augment: Callable | None = None,
        tts: Any | None = None,
        format: str = "files",
    ) -> None:
        super().__init__(source, root, batch_size, num_workers, seed, pin_memory, tts, format)
        self.crop_length = check_positive_int("crop_length", crop_length)
        self.global_label = global_label
        self.local_features = (check_mel_settings(local_features)
                               if local_features is not None else None)
        self.feature_cache = feature_cache
        self.augment = augment
        self.short_clips = short_clips
        self.crops_per_clip = crops_per_clip

    @property
    def shard_mel(self) -> dict[str, Any] | None:
        return self.local_features

    @property
    def info(self) -> DataInfo:
        return replace(super().info, global_label=self.global_label,
                       local_features=self.local_features)

    def make_dataset(self, split: str, clips: list) -> Dataset:
        mel: FeatureCache | Any = None
        if self.local_features is not None:
            rate = super().info.sample_rate
            mel = (FeatureCache(self.feature_cache, rate, self.local_features)
                   if self.feature_cache and self.format == "files"
                   else mel_extractor(rate, self.local_features))
        if isinstance(self.augment, functools.partial):
            self.augment = self.augment(sample_rate=super().info.sample_rate)
        return CropDataset(
            clips, self.crop_length, train=split == "train", global_label=self.global_label,
            mel=mel, short_clips=self.short_clips,
            crops_per_clip=self.crops_per_clip if split == "train" else 1,
            augment=self.augment if split == "train" else None,
        )


class ClassificationDataModule(_ClipDataModule):
    """Whole labelled clips, padded per batch, for the classifier.

    Args:
        source: a clip source, or a factory taking ``root``.
        root: folder of the data (for file sources).
        batch_size: clips per batch.
        max_length: cap on clip length in samples (``None``: whole clips).
        augment: training-time augmentation ``(T,), generator -> (T',)``, a factory
            taking ``sample_rate=`` (a ``functools.partial``, e.g. Hydra's
            ``_partial_: true``) called once the data's rate is known, or ``None``.
        num_workers: DataLoader worker processes (0: in the training process; on a
            GPU, 4-8 keep it fed).
        pin_memory: page-locked batches for fast copies to a GPU; ``None``: when
            training on CUDA.
        seed: data order, crops and augmentation (``None``: a random seed).
        tts: extra *training* clips from a speech synthesiser (anything with
            ``clips(class_names, sample_rate) -> list[Clip]``, e.g.
            :class:`~wavedil.data.tts.SyntheticVoices`), or ``None``. Validation and
            test keep the source's clips only.
        format: ``"files"`` or ``"shards"`` (see :class:`GenerationDataModule`).
    """

    collate = staticmethod(collate_clips)

    def __init__(
        self,
        source: SourceLike,
        root: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        augment: Callable | None = None,
        num_workers: int = 0,
        seed: int | None = 0,
        pin_memory: bool | None = None,
        tts: Any | None = None,
        format: str = "files",
    ) -> None:
        super().__init__(source, root, batch_size, num_workers, seed, pin_memory, tts, format)
        self.max_length = max_length
        self.augment = augment

    def make_dataset(self, split: str, clips: list) -> Dataset:
        train = split == "train"
        if isinstance(self.augment, functools.partial):
            self.augment = self.augment(sample_rate=self.info.sample_rate)
        return ClipDataset(clips, self.max_length, train=train,
                           augment=self.augment if train else None)
