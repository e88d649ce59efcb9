"""Train/validation/test splits of audio files: by speaker (speaker-independent), by
recording index (a dataset's own convention) or at random."""

from __future__ import annotations

import random
from collections.abc import Sequence

from wavedil.data.records import AudioFile

__all__ = ["speakers_of", "split_by_index", "split_by_speaker", "split_random"]


def speakers_of(files: Sequence[AudioFile]) -> list[str]:
    """The sorted names of the speakers that ``files`` name (files without one skipped)."""
    return sorted({f.speaker for f in files if f.speaker is not None})


def split_by_speaker(
    files: Sequence[AudioFile],
    test_speakers: Sequence[str],
    val_speakers: Sequence[str] | None = None,
    train_speakers: Sequence[str] | None = None,
) -> dict[str, list[AudioFile]]:
    """Hold out whole speakers: a speaker in ``test_speakers`` (or ``val_speakers``) is
    never in train. ``val_speakers=None`` validates on the test speakers;
    ``train_speakers=None`` trains on every other speaker, a list on those only (to
    measure how accuracy grows with the number of training voices, say)."""
    known = speakers_of(files)
    if not known:
        raise ValueError("Expected speakers in the file names for split='speaker', but found none.")
    val_speakers = list(test_speakers) if val_speakers is None else list(val_speakers)
    named = [("test_speakers", test_speakers), ("val_speakers", val_speakers)]
    if train_speakers is not None:
        named.append(("train_speakers", train_speakers))
    for name, chosen in named:
        unknown = [s for s in chosen if s not in known]
        if unknown or not chosen:
            raise ValueError(f"Expected {name} from {known}, but found {list(chosen)}.")
    test, val = set(test_speakers), set(val_speakers)
    held_out = test | val
    train = (set(train_speakers) if train_speakers is not None
             else {f.speaker for f in files} - held_out)  # files naming no speaker included
    both = sorted(held_out & train)
    if both:
        raise ValueError(f"Expected train_speakers apart from the held-out {sorted(held_out)}, "
                         f"but found {both} in both.")
    splits = {
        "train": [f for f in files if f.speaker in train],
        "val": [f for f in files if f.speaker in val],
        "test": [f for f in files if f.speaker in test],
    }
    if not splits["train"]:
        raise ValueError(f"No speakers left for training after holding out {sorted(held_out)}.")
    return splits


def split_by_index(
    files: Sequence[AudioFile],
    test_indices: Sequence[int],
    val_indices: Sequence[int],
) -> dict[str, list[AudioFile]]:
    """Split by the recording index in the file name (FSDD: 0-4 test, 5-49 train)."""
    if any(f.index is None for f in files):
        raise ValueError("Expected an (?P<index>...) group in the pattern for split='index'.")
    overlap = set(test_indices) & set(val_indices)
    if overlap:
        raise ValueError(
            f"Expected disjoint test_indices and val_indices, but both hold {sorted(overlap)}."
        )
    test, val = set(test_indices), set(val_indices)
    return {
        "train": [f for f in files if f.index not in test | val],
        "val": [f for f in files if f.index in val],
        "test": [f for f in files if f.index in test],
    }


def split_random(
    files: Sequence[AudioFile], val_fraction: float, test_fraction: float, seed: int = 0
) -> dict[str, list[AudioFile]]:
    """Shuffle with ``seed`` and cut off validation and test fractions."""
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Expected {name} in [0, 1), but found {value}.")
    if val_fraction + test_fraction >= 1.0:
        total = val_fraction + test_fraction
        raise ValueError(f"Expected val_fraction + test_fraction < 1, but found {total}.")
    order = list(files)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    n_test = round(len(order) * test_fraction)
    return {"val": order[:n_val], "test": order[n_val:n_val + n_test],
            "train": order[n_val + n_test:]}
