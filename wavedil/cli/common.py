"""What every command-line tool shares: one way to report a usage error, input
paths expanded the same way, output paths checked before any work, and files that
belong together written together (:func:`write_together`).

A tool's ``main`` runs its work through :func:`run_cli`: an error that comes from
the user's input (a missing file, a bad checkpoint, a value out of range: any
``OSError`` or ``ValueError``) ends with one line, ``prog: error: ...``, and exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from wavedil.data.io import AUDIO_EXTENSIONS

__all__ = [
    "CONF_DIR",
    "UsageError",
    "check_outputs",
    "compose_config",
    "count_failures",
    "expand_paths",
    "run_cli",
    "write_together",
]


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # the configs the package ships


class UsageError(ValueError):
    """A request the tool cannot serve as asked (reported without a traceback)."""


def compose_config(overrides: Sequence[str], config_dir: Path = CONF_DIR) -> Any:
    """``train.yaml`` under ``config_dir`` composed with Hydra ``overrides``, as
    ``train.py`` composes it (without running anything)."""
    from hydra import compose, initialize_config_dir

    if not (config_dir / "train.yaml").is_file():
        raise UsageError(f"No train.yaml in --config-dir {config_dir}.")
    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
        try:
            return compose("train", overrides=list(overrides))
        except Exception as err:  # hydra's override and missing-config errors
            raise UsageError(f"Cannot compose the config with {list(overrides)}: {err}") from err


def run_cli(prog: str, work: Callable[[], object]) -> int:
    """Run ``work``; a user-input error becomes ``prog: error: ...`` on stderr and 2.

    Returns:
        ``work``'s exit status if it returns an ``int`` (anything else counts as 0),
        or 2 after a user-input error.
    """
    try:
        status = work()
    except (OSError, ValueError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def expand_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders replaced by the audio files under them (sorted).

    A path that does not exist, and a folder with no audio files under it, are
    kept as they are, so that reading them reports the failure.
    """
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            out.extend(found or [path])
        else:
            out.append(path)
    return out


def count_failures(paths: Sequence[Path], failed: Iterable[Path], what: str) -> str:
    """``"2 of 6 files {what}"``, with named folders that held no audio counted apart.

    ``paths`` is what :func:`expand_paths` returned, ``failed`` those of them that
    could not be used; a folder among them is one that held no audio files.
    """
    failed = list(failed)
    folders = sum(path.is_dir() for path in failed)
    files = len(failed) - folders
    parts = []
    if files:
        total = sum(not path.is_dir() for path in paths)
        parts.append(f"{files} of {total} file{'s' if total != 1 else ''} {what}")
    if folders:
        parts.append(f"{folders} folder{'s' if folders != 1 else ''} held no audio files")
    return "; ".join(parts)


def check_outputs(out_dir: Path, files: Sequence[Path], overwrite: bool,
                  protected: Sequence[Path] = (), option: str = "--out") -> None:
    """Refuse, before any work, to write ``files`` where that would lose something.

    Checks that ``out_dir`` is (or can become) a folder, that no two outputs share
    a path, that none is one of the ``protected`` inputs, and, unless ``overwrite``,
    that none exists yet. Creates ``out_dir``. Messages name the folder's ``option``.

    Raises:
        UsageError: naming the paths in the way and what was expected.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{option} {out_dir} is a file; expected a folder (new or existing).")
    seen: dict[Path, int] = {}
    for path in files:
        seen[path.resolve()] = seen.get(path.resolve(), 0) + 1
    clashes = sorted(str(p) for p, n in seen.items() if n > 1)
    if clashes:
        raise UsageError(f"Two inputs would write the same output {clashes[0]}; expected inputs "
                         "with distinct names (or one folder holding them).")
    inputs = {Path(p).resolve() for p in protected}
    hit = sorted(str(p) for p in seen if p in inputs)
    if hit:
        raise UsageError(f"Refusing to overwrite the input {hit[0]}; expected {option} "
                         "elsewhere.")
    if not overwrite:
        existing = [str(p) for p in files if p.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise UsageError(f"{existing[0]}{more} already exist(s); pass --overwrite to "
                             f"replace, or choose another {option}.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"Cannot create {option} {out_dir}: {err.strerror or err}.") from err
    if not os.access(out_dir, os.W_OK):
        raise UsageError(f"{option} {out_dir} is not writable; expected a folder this user can "
                         "write to.")


def write_together(parts: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write several files as one: each ``write(temporary_path)`` writes its part beside
    its target under a temporary name, and only when every part is written are they
    renamed into place. A part that fails leaves nothing behind (the temporary files
    are removed and no target is touched); the renames, each atomic, then run in
    order, so an interruption between them can at worst leave the first targets new.

    Raises:
        whatever a writer raises, after the clean-up.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for target, write in parts:
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            staged.append((temporary, target))
            target.parent.mkdir(parents=True, exist_ok=True)
            write(temporary)
        for temporary, target in staged:
            os.replace(temporary, target)
    finally:
        for temporary, _ in staged:
            if temporary.exists():
                temporary.unlink()
