"""Shared fixtures. The real FSDD copy is looked up beside the repository
(``../shared/data/fsdd``) or at ``$WAVEDIL_FSDD``; tests needing it skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]


def _fsdd_root() -> Path | None:
    candidates = [os.environ.get("WAVEDIL_FSDD"), REPO.parent / "shared" / "data" / "fsdd"]
    for c in candidates:
        if c and (Path(c) / "recordings").is_dir():
            return Path(c)
    return None


FSDD_ROOT = _fsdd_root()


def cuda(test):
    """Mark a test as a GPU test (``-m cuda``, run by bench/gpu_check.sh) that skips
    cleanly without a CUDA device."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
    return pytest.mark.cuda(skip(test))


@pytest.fixture(scope="session")
def fsdd_root() -> Path:
    if FSDD_ROOT is None:
        pytest.skip("FSDD not found (set WAVEDIL_FSDD or place it at ../shared/data/fsdd)")
    return FSDD_ROOT


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def write_wav(path: Path, audio: np.ndarray, rate: int = 8000, subtype: str = "PCM_16") -> Path:
    """Write ``(T,)`` or ``(T, C)`` float audio to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, subtype=subtype)
    return path


def tone(seconds: float = 0.5, rate: int = 8000, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def save_checkpoint(model, info, path: Path, task: str = "generation") -> Path:
    """Write ``model`` as ``train.py`` would (the task's own checkpoint hook), untrained."""
    import functools

    from wavedil.tasks import ClassificationTask, GenerationTask

    kind = GenerationTask if task == "generation" else ClassificationTask
    module = kind(model, functools.partial(torch.optim.Adam), data_info=info)
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path
