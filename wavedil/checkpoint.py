"""Checkpoints: atomic writes, and models rebuilt from a checkpoint alone.

Lightning checkpoints written by wavedil's tasks carry a ``"wavedil"`` record:
the kind of model, its constructor call (:func:`wavedil.spec.to_spec`) and the
data info (sample rate, class and speaker names). :func:`load_model` needs
nothing else: no ``conf/`` folder, no datamodule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from wavedil.checkpoint_format import CHECKPOINT_FORMAT, CHECKPOINT_KEY, upgrade_record
from wavedil.data.sources import DataInfo
from wavedil.models.wrappers import Ensemble, SpeedAveraged
from wavedil.spec import SpecError, from_spec

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointError",
    "LoadedModel",
    "load_classifier",
    "load_model",
    "save_derived",
]

KINDS = ("generator", "classifier")

#: The classes a checkpoint may build: the models and their parts, by exact name.
#: Nothing else a checkpoint names is imported or called.
CHECKPOINT_CLASSES = frozenset({
    "wavedil.models.generator.WaveNet",
    "wavedil.models.classifier.WaveNetClassifier",
    "wavedil.distributions.categorical.MuLawCategorical",
    "wavedil.distributions.logistic.DiscretizedLogisticMixture",
    "wavedil.nn.frontends.WaveformFrontend",
    "wavedil.nn.frontends.LogMelFrontend",
    "wavedil.nn.frontends.MFCCFrontend",
    "wavedil.nn.specaugment.SpecAugment",
    "wavedil.nn.specaugment.MelWarp",
    "wavedil.nn.context.ContextModule",
    "wavedil.nn.aspp.ASPP1d",
    "wavedil.nn.linear_prediction.LinearPrediction",
    "wavedil.models.parallel.ParallelWaveNet",
})

#: What a wavedil record in a checkpoint must hold.
RECORD_FIELDS = ("format", "kind", "model")


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot serve the purpose asked of it."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside its target, flush it to
    disk, then rename it into place: a crash mid-write leaves the previous
    checkpoint intact instead of a truncated one.

    A failed write (disk full, folder gone) raises an ``OSError`` that names the
    checkpoint and says the previous one is intact; the temporary file of a writer
    that was killed mid-write is removed by the next write of the same checkpoint.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            kept = (f"the previous {path.name} and the other checkpoints in {path.parent} are "
                    "untouched" if path.exists()
                    else f"the checkpoints already in {path.parent} are untouched")
            raise OSError(err.errno, f"Cannot write checkpoint {path} ({err.strerror or err}); "
                          f"{kept}. Free space (or fix the folder) and resume with "
                          "ckpt_path=last.") from err
        finally:
            if tmp.exists():
                tmp.unlink()


class LoadedModel(NamedTuple):
    """What :func:`load_model` returns.

    Attributes:
        model: the network in eval mode.
        kind: ``"generator"`` or ``"classifier"``.
        info: the data the model was trained on.
        path: the checkpoint file.
    """

    model: nn.Module
    kind: str
    info: DataInfo
    path: Path


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint file's contents, with errors that name the file.

    ``path`` may name a shipped pretrained model (:mod:`wavedil.pretrained`) where no
    file of that name exists; its file is verified by SHA-256 first.
    """
    path = Path(path)
    if not path.is_file():
        from wavedil.pretrained import resolve

        path = resolve(path)  # a shipped model's verified file, or an error naming them
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many kinds for a bad file
        # torch's own message may advise weights_only=False, which would run whatever
        # the file holds: never pass that on
        raise CheckpointError(
            f"Cannot read checkpoint {path}: it is not a wavedil checkpoint, or it is "
            f"corrupt ({type(err).__name__}). Expected a .ckpt file written by "
            "`python train.py`; loading is refused rather than trusting the file."
        ) from None


def load_model(
    path: str | os.PathLike, kind: str | None = None, map_location: Any = "cpu"
) -> LoadedModel:
    """Rebuild the model stored in a wavedil checkpoint.

    Args:
        path: a ``.ckpt`` written by ``python train.py``.
        kind: ``"generator"`` or ``"classifier"`` to insist on one, or ``None``.
        map_location: where to put the weights.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: unreadable, not from wavedil, or of the wrong kind.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path, map_location)
    record = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if record is None:
        raise CheckpointError(
            f"{path} is not a wavedil checkpoint (it has no {CHECKPOINT_KEY!r} record); "
            "expected a .ckpt written by `python train.py`."
        )
    if not isinstance(record, dict):
        raise CheckpointError(f"{path} has a malformed {CHECKPOINT_KEY!r} record; expected "
                              "a .ckpt written by `python train.py`.")
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        raise CheckpointError(
            f"{path}: the {CHECKPOINT_KEY!r} record lacks {', '.join(missing)}; expected a "
            "complete record, as `python train.py` writes it.")
    record = upgrade_record(record)
    if record.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {record.get('format')!r}; this wavedil reads "
            f"format {CHECKPOINT_FORMAT}."
        )
    if kind is not None and record["kind"] != kind:
        raise CheckpointError(
            f"{path} holds a {record['kind']}, but a {kind} checkpoint is needed here."
        )
    prefix = "model."
    state = {k[len(prefix):]: v for k, v in checkpoint.get("state_dict", {}).items()
             if k.startswith(prefix)}
    model = _rebuild(path, record["model"], state)
    model.eval()
    try:
        info = DataInfo(**record["data_info"]) if record.get("data_info") else DataInfo(0)
    except TypeError as err:
        raise CheckpointError(f"{path}: its data info does not fit this wavedil ({err}).") from None
    return LoadedModel(model.to(map_location) if map_location else model, record["kind"],
                       info, path)


def load_classifier(paths: Sequence[str | os.PathLike], map_location: Any = "cpu",
                    speeds: Sequence[float] | None = None) -> tuple[nn.Module, DataInfo]:
    """The classifier of one checkpoint, or the :class:`Ensemble` of several, with
    the data info they share; wrapped in :class:`SpeedAveraged` when ``speeds`` are given.

    Raises:
        FileNotFoundError: a checkpoint is missing.
        CheckpointError: one is not a classifier, or they disagree on the classes
            or the sample rate (an ensemble needs the same labels at the same rate).
    """
    if not paths:
        raise ValueError("Expected at least one checkpoint, but found none.")
    loaded = [load_model(path, kind="classifier", map_location=map_location) for path in paths]
    first = loaded[0]
    for other in loaded[1:]:
        if other.info.class_names != first.info.class_names:
            raise CheckpointError(
                f"{other.path} classifies {other.info.class_names}, but {first.path} "
                f"classifies {first.info.class_names}; an ensemble needs the same classes.")
        if other.info.sample_rate != first.info.sample_rate:
            raise CheckpointError(
                f"{other.path} was trained at {other.info.sample_rate} Hz, but {first.path} "
                f"at {first.info.sample_rate} Hz; an ensemble needs one sample rate.")
    model = first.model if len(loaded) == 1 else Ensemble([m.model for m in loaded])
    if speeds:
        model = SpeedAveraged(model, speeds)
    return model, first.info


def _rebuild(path: Path, spec: Any, state: dict[str, torch.Tensor]) -> nn.Module:
    """The model that ``spec`` describes, holding the weights ``state``.

    The spec comes from a file, so it is first built as a skeleton on the meta device
    (shapes, no memory; only small tables computed from bounded settings, such as mel
    filterbanks, are real) and every parameter and buffer is compared with the
    weights: a spec that asks for more than its weights hold (say 10^9 channels) is
    refused before anything of that size is allocated. A checkpoint whose recorded
    model cannot be built, or whose weights do not fit it (a parameter too many, too
    few or of another shape), most likely comes from another version of wavedil: say
    so, instead of a bare ``load_state_dict`` error.
    """
    stale = ("it was probably written by another version of wavedil; expected a checkpoint "
             "written by this version's `python train.py`")

    def build() -> nn.Module:
        try:
            return from_spec(spec, CHECKPOINT_CLASSES)
        except SpecError as err:
            raise CheckpointError(f"{path}: {err}") from None
        except (AttributeError, ImportError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"Cannot rebuild the model recorded in {path} ({err}): "
                                  f"{stale}.") from err

    with torch.device("meta"):
        skeleton = build()
    _compare_shapes(path, skeleton.state_dict(), state, stale)
    model = build()  # now for real: it holds no more than the weights read from the file
    model.load_state_dict(state, strict=True)
    return model


def _compare_shapes(path: Path, expected: dict[str, torch.Tensor],
                    state: dict[str, torch.Tensor], stale: str) -> None:
    """Refuse, naming them, weights missing from ``state``, unexpected in it, or of
    another shape than the model built from the spec (``expected``) holds."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_some(missing)}"] if missing else []) + (
            [f"unexpected {_some(unexpected)}"] if unexpected else [])
        raise CheckpointError(f"The weights in {path} do not fit the model it records "
                              f"({'; '.join(parts)}): {stale}.")
    for key, tensor in expected.items():
        found = state[key]
        if not isinstance(found, torch.Tensor) or tuple(found.shape) != tuple(tensor.shape):
            shape = tuple(found.shape) if isinstance(found, torch.Tensor) else type(found)
            raise CheckpointError(
                f"The weights in {path} do not fit the model it records ({key}: the model "
                f"asks for shape {tuple(tensor.shape)}, the file holds {shape}): {stale}.")


def _some(keys: list[str], shown: int = 3) -> str:
    """The first ``shown`` of ``keys`` and how many more, for an error message."""
    more = len(keys) - shown
    return ", ".join(keys[:shown]) + (f" and {more} more" if more > 0 else "")


def save_derived(
    source: str | os.PathLike, model: nn.Module, path: str | os.PathLike, **record: Any
) -> Path:
    """Write a copy of the checkpoint ``source`` whose model weights are ``model``'s,
    atomically, for :func:`load_model` and the CLIs to read like any other.

    The copy is for inference: the optimizer and scheduler states of ``source``
    (which belong to its weights) are left out, so training cannot be resumed from
    it. ``record`` (e.g. ``adaptation={...}``) is added to its wavedil record.

    Raises:
        FileNotFoundError: no file at ``source``.
        CheckpointError: ``source`` is not a wavedil checkpoint, or ``path`` is
            ``source`` itself (which would lose the original).
    """
    source, path = Path(source), Path(path)
    if path.resolve() == source.resolve():
        raise CheckpointError(f"Refusing to overwrite {source} with a derived model; "
                              "expected a different output path.")
    checkpoint = read_checkpoint(source)
    if CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{source} is not a wavedil checkpoint (it has no "
                              f"{CHECKPOINT_KEY!r} record).")
    weights = {f"model.{k}": v.detach().cpu() for k, v in model.state_dict().items()}
    state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("model.")}
    derived = {k: v for k, v in checkpoint.items()
               if k not in ("optimizer_states", "lr_schedulers", "state_dict")}
    derived["state_dict"] = {**state, **weights}
    derived[CHECKPOINT_KEY] = {**checkpoint[CHECKPOINT_KEY], **record}
    AtomicCheckpointIO().save_checkpoint(derived, path)
    return path
