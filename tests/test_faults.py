"""The fault matrix: each fault a training run may meet, what the run does, and a
check that nothing saved before the fault is lost (docs/reliability.md gives the
matrix with its results).

- Killed mid-step (SIGKILL): ``ckpt_path=last`` resumes; the final weights and the
  logged losses equal an uninterrupted run's (``test_robustness.py``: the default
  generator, one with dropout, the classifier recipe).
- Killed while writing a checkpoint: the previous ``last.ckpt`` is intact (atomic
  rename); the next write removes the half-written file; resume completes.
- Disk full on a checkpoint write: stops, saying the previous checkpoint is intact;
  resume completes.
- Corrupt ``last.ckpt``, then resume: refused, naming the file and the run's other
  checkpoints; resuming from one of them completes.
- NaN loss or gradient: stops naming the step, or skips it with
  ``task.nonfinite=skip``; no NaN checkpoint (``test_robustness.py``).
- Audio unreadable mid-epoch: no effect, clips are decoded at set-up, where an
  unreadable file is named.
- A DDP rank killed: the other stops within seconds (no hang), ``last.ckpt`` is
  intact, and resuming under DDP continues one metrics.csv.
"""

from __future__ import annotations

import csv
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, tone, write_wav
from tests.test_robustness import SMALL, run, step_of

#: 8 steps per epoch; last.ckpt every 5 steps; the best by val/loss after each epoch.
ARGS = [*SMALL, "trainer.max_epochs=-1", "callbacks.last_checkpoint.every_n_train_steps=5",
        "seed=3"]


def cmd(run_dir: Path, *more: str) -> list[str]:
    return [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *ARGS, *more]


def fault(after: int, kind: str) -> str:
    return f"+callbacks.fault={{_target_: tests.helpers.FailingSaves, after: {after}, " \
           f"fault: {kind}}}"


def logged_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return sorted(int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss"))


def loadable(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["global_step"])


def test_killed_while_writing_a_checkpoint(tmp_path):
    first = tmp_path / "run1"
    killed = run(cmd(first, "trainer.max_steps=20", fault(2, "kill")))
    assert killed.returncode == -signal.SIGKILL
    checkpoints = first / "checkpoints"
    saved = loadable(checkpoints / "last.ckpt")  # intact: one of the two whole saves
    assert 0 < saved < 20
    assert list(checkpoints.glob(".*.tmp"))  # the half-written file the kill left
    resumed = run(cmd(tmp_path / "run2", "trainer.max_steps=20", "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert loadable(checkpoints / "last.ckpt") == 20
    assert not list(checkpoints.glob(".*.tmp"))
    assert logged_steps(first) == list(range(4, 20, 5))  # none lost, none twice


def test_disk_full_on_a_checkpoint_write(tmp_path):
    first = tmp_path / "run1"
    full = run(cmd(first, "trainer.max_steps=20", fault(1, "disk_full")))
    assert full.returncode != 0
    assert "Cannot write checkpoint" in full.stderr
    assert "No space left on device" in full.stderr
    assert "are untouched" in full.stderr and "ckpt_path=last" in full.stderr
    checkpoints = first / "checkpoints"
    assert loadable(checkpoints / "last.ckpt") == 5  # the one save that fitted
    assert not list(checkpoints.glob(".*.tmp"))
    resumed = run(cmd(tmp_path / "run2", "trainer.max_steps=20", "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert loadable(checkpoints / "last.ckpt") == 20
    assert logged_steps(first) == list(range(4, 20, 5))


def test_corrupt_last_checkpoint_then_resume(tmp_path):
    first = tmp_path / "run1"
    assert run(cmd(first, "trainer.max_steps=12")).returncode == 0
    checkpoints = first / "checkpoints"
    best = checkpoints / "epoch000-step000008.ckpt"
    assert best.is_file()
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # damaged on disk
    refused = run(cmd(tmp_path / "run2", "trainer.max_steps=20", "ckpt_path=last"))
    assert refused.returncode != 0
    assert f"Cannot read checkpoint {last}" in refused.stderr
    assert "corrupt" in refused.stderr and best.name in refused.stderr
    assert "weights_only" not in refused.stderr
    resumed = run(cmd(tmp_path / "run3", "trainer.max_steps=20", f"ckpt_path={best}"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert loadable(last) == 20


def test_audio_files_unreadable_after_set_up(tmp_path):
    from wavedil.data import AudioFolder, ClassificationDataModule

    root = tmp_path / "set"
    files = [write_wav(root / cls / f"{i}.wav", tone(0.3, freq=200 + 50 * i))
             for cls in ("a", "b") for i in range(6)]
    dm = ClassificationDataModule(functools.partial(AudioFolder, sample_rate=8000,
                                                    val_fraction=0.25, test_fraction=0.0),
                                  root=str(root), batch_size=4)
    dm.setup("fit")
    expected = [batch["audio"].clone() for batch in dm.train_dataloader()]
    for n, path in enumerate(files):  # every file damaged or gone mid-run
        path.unlink() if n % 2 else path.write_bytes(b"garbage")
    again = [batch["audio"] for batch in dm.train_dataloader()]
    assert sum(len(b) for b in again) == sum(len(b) for b in expected) == 9
    with pytest.raises(Exception, match=r"0\.wav"):  # at set-up, the file is named
        ClassificationDataModule(functools.partial(AudioFolder, sample_rate=8000),
                                 root=str(root), batch_size=4).setup("fit")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields: state, ppid, ...
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not (torch.distributed.is_available() and Path("/proc/self/stat").exists()),
                    reason="needs torch.distributed and Linux /proc")
def test_ddp_rank_killed(tmp_path):
    ddp = ["trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    first = tmp_path / "run1"
    proc = subprocess.Popen(cmd(first, *ddp, "trainer.max_steps=400"), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = first / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while step_of(last) < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    ranks = _children(proc.pid)
    assert ranks, "the DDP launcher started no second rank"
    os.kill(ranks[0], signal.SIGKILL)  # rank 1 dies
    start = time.time()
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("rank 0 hung after rank 1 was killed")
    assert proc.returncode != 0 and time.time() - start < 120
    saved = loadable(last)
    assert 10 <= saved < 400
    resumed = run(cmd(tmp_path / "run2", *ddp, f"trainer.max_steps={saved + 12}",
                      "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert loadable(last) == saved + 12
    steps = logged_steps(first)
    assert steps == list(range(4, saved + 12, 5))  # one continuous metrics.csv
