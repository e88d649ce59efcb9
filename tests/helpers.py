"""Test-only helpers; the callbacks are importable by ``train.py`` subprocesses (run from
the repo root)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning.pytorch as pl
import torch


class RecordBatches(pl.Callback):
    """Append, per rank, a fingerprint of every training batch and its loss to
    ``<dir>/batches-rank<R>.jsonl``."""

    def __init__(self, dir: str) -> None:
        self.dir = Path(dir)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        audio = batch["audio"]
        row = {"step": trainer.global_step, "pid": os.getpid(),
               "items": [round(float(a.abs().sum()), 4) for a in audio],
               "loss": None if outputs is None else float(outputs["loss"])}
        with open(self.dir / f"batches-rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")


def stream(module, x: torch.Tensor) -> torch.Tensor:
    """Run a causal block step by step (``init_cache``/``step``) over ``x`` ``(B, C, T)``
    and return its outputs concatenated over time, to compare with ``forward``."""
    cache = module.init_cache(x.shape[0])
    steps = []
    for t in range(x.shape[-1]):
        y, cache = module.step(x[..., t:t + 1], cache)
        steps.append(y)
    return torch.cat(steps, dim=-1)


class FailingSaves(pl.Callback):
    """Fault injection for checkpoint writes: the first ``after`` saves succeed;
    from then on each save writes half its bytes and then fails the way ``fault``
    says: ``"disk_full"`` (``OSError`` ENOSPC) or ``"kill"`` (SIGKILL, mid-write)."""

    def __init__(self, after: int, fault: str) -> None:
        self.after, self.fault = after, fault

    def setup(self, trainer, pl_module, stage) -> None:
        import errno
        import io
        import signal

        real, done = torch.save, [0]

        def save(obj, f, *args, **kwargs):
            if done[0] < self.after:
                done[0] += 1
                return real(obj, f, *args, **kwargs)
            buffer = io.BytesIO()
            real(obj, buffer, *args, **kwargs)
            f.write(buffer.getvalue()[: buffer.tell() // 2])
            f.flush()
            if self.fault == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        torch.save = save
