"""Named pretrained models shipped inside the package.

    >>> from wavedil import pretrained
    >>> [m.name for m in pretrained.available()]
    ['fsdd-digits', 'fsdd-vocoder', 'tones']

``load(name)`` returns the model as :func:`wavedil.checkpoint.load_model` does, and
every tool's ``--checkpoint`` takes a name where no file of that name exists (a path
always wins). Each file is checked against the SHA-256 in ``models.json`` before it
is read, and is read as any checkpoint is (``weights_only=True``, classes on the
allow-list only). Each model has a card (``NAME.md``: data, licence, the command
and commit that trained it, its figures and the commands that measured them, what it
is not for): ``wavedil-pretrained show NAME``. Retrain one with the command on its
card; ``python -m wavedil.pretrained.publish`` replaces it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["HERE", "PretrainedError", "PretrainedModel", "available", "card", "find",
           "load", "resolve"]

HERE = Path(__file__).resolve().parent
REGISTRY = HERE / "models.json"


class PretrainedError(FileNotFoundError):
    """A name that is not a shipped model, or a shipped file that fails its check."""


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model, as ``models.json`` describes it."""

    name: str
    kind: str
    file: str
    sha256: str
    bytes: int
    licence: str
    summary: str
    figures: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return HERE / self.file

    @property
    def card_path(self) -> Path:
        return HERE / f"{self.name}.md"


def available() -> list[PretrainedModel]:
    """The shipped models, by name."""
    entries = json.loads(REGISTRY.read_text())["models"]
    return sorted((PretrainedModel(**e) for e in entries), key=lambda m: m.name)


def find(name: str) -> PretrainedModel:
    """The shipped model called ``name``.

    Raises:
        PretrainedError: no such model; the message lists the shipped names.
    """
    models = {m.name: m for m in available()}
    if name not in models:
        raise PretrainedError(f"Checkpoint not found: {name} (neither a file nor a shipped "
                              f"model; shipped models: {', '.join(models)}: wavedil-pretrained "
                              "list).")
    return models[name]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(model: PretrainedModel) -> Path:
    """``model``'s file, after checking that its SHA-256 is the registered one.

    Raises:
        PretrainedError: the file is missing or differs from the registered one.
    """
    path = model.path
    if not path.is_file():
        raise PretrainedError(f"The shipped model {model.name} is missing its file {path}; "
                              "reinstall wavedil.")
    found = _sha256(path)
    if found != model.sha256:
        raise PretrainedError(
            f"The shipped model {model.name} ({path}) fails its SHA-256 check: expected "
            f"{model.sha256}, found {found}. The file was changed or damaged; it is not "
            "loaded. Reinstall wavedil.")
    return path


def resolve(checkpoint: str | os.PathLike) -> Path:
    """A checkpoint argument as a file: the path when a file is there, else the
    verified file of the shipped model of that name.

    Raises:
        PretrainedError: neither a file nor a shipped model (the shipped names listed),
            or a shipped file that fails its check.
    """
    path = Path(checkpoint)
    if path.is_file():
        return path
    if path.exists():
        raise PretrainedError(f"Checkpoint not found: {path} is not a file; expected a .ckpt "
                              "file or the name of a shipped model.")
    return verified_path(find(str(checkpoint)))


def load(name: str, map_location: Any = "cpu") -> Any:
    """The shipped model ``name`` (or a checkpoint path), loaded:
    a :class:`wavedil.checkpoint.LoadedModel` (``.model``, ``.kind``, ``.info``)."""
    from wavedil.checkpoint import load_model

    return load_model(resolve(name), map_location=map_location)


def card(name: str) -> str:
    """The model card of the shipped model ``name`` (Markdown)."""
    return find(name).card_path.read_text()
