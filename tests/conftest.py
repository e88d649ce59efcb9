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


@pytest.fixture(scope="session")
def digit_classifier(fsdd_root: Path):
    """A classifier that has learnt spoken digits: MFCCs into a centred 2 x (1..8) stack,
    300 steps of 32 clips from jackson, lucas, nicolas and yweweler (george never
    heard), with a random gain; about half a minute on 2 cores (74% on george's clips
    when measured). Returns the model in eval mode."""
    from wavedil.data.io import load_audio
    from wavedil.models import WaveNetClassifier
    from wavedil.nn import MFCCFrontend

    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    files = sorted(p for p in (fsdd_root / "recordings").glob("*.wav")
                   if "george" not in p.name)
    length = 6000
    clips = [load_audio(p, 8000)[:length] for p in files]
    audio = torch.stack([torch.nn.functional.pad(c, (0, length - len(c))) for c in clips])
    lengths = torch.tensor([len(c) for c in clips])
    labels = torch.tensor([int(p.name.split("_")[0]) for p in files])
    model = WaveNetClassifier(10, MFCCFrontend(8000, n_mfcc=13), 32, 32, 32,
                              dilations=[1, 2, 4, 8, 1, 2, 4, 8], causal=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    for _ in range(300):
        pick = torch.randint(0, len(audio), (32,), generator=generator)
        gain = 10 ** (torch.rand(32, 1, generator=generator) - 0.5)
        logits = model(audio[pick] * gain, lengths[pick])
        loss = torch.nn.functional.cross_entropy(logits, labels[pick], label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


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
