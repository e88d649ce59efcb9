"""Crash-safe training: exact resume after SIGKILL, seeded determinism, two-process
DDP on CPU, the non-finite guard, and clear errors for bad resume requests."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer

from tests.conftest import REPO
from wavedil.checkpoint import AtomicCheckpointIO
from wavedil.data import GenerationDataModule, SyntheticTones
from wavedil.models import WaveNet
from wavedil.tasks import GenerationTask
from wavedil.tasks.base import NonFiniteLossError

SMALL = ["data.source.num_train=32", "data.batch_size=4", "data.crop_length=512",
         "model.dilations=[1,2,4,8]", "trainer.limit_val_batches=2", "test=false",
         "trainer.enable_progress_bar=false"]


def train_cmd(run_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *SMALL, *overrides]


def run(cmd: list[str], timeout: int = 600,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env)


def _env(case: str) -> dict[str, str] | None:
    """The environment of a resume case: the bf16 probe forced for ``*-auto-bf16``."""
    import os
    return {**os.environ, "WAVEDIL_NATIVE_BF16": "1"} if case.endswith("auto-bf16") else None


def record(path: Path) -> str:
    return f"+callbacks.record={{_target_: tests.helpers.RecordBatches, dir: {path}}}"


def step_of(ckpt: Path) -> int:
    try:
        return int(torch.load(ckpt, weights_only=True)["global_step"])
    except Exception:
        return -1


def _tiny_fsdd(root: Path, per_speaker: int = 6) -> Path:
    """A few real FSDD clips per speaker (the classifier recipe's data, in small)."""
    import shutil

    from tests.conftest import FSDD_ROOT
    if FSDD_ROOT is None:
        pytest.skip("FSDD not found (set WAVEDIL_FSDD or place it at ../shared/data/fsdd)")
    out = root / "recordings"
    out.mkdir(parents=True)
    for speaker in ("george", "jackson", "lucas", "nicolas", "yweweler"):
        for n in range(per_speaker):
            name = f"{n % 10}_{speaker}_{n // 10}.wav"
            shutil.copy(FSDD_ROOT / "recordings" / name, out / name)
    return root


#: What each resume test trains: where randomness lives, and its batches per epoch.
RESUMED = {
    # the default generator draws nothing from torch's generator (no dropout); under
    # trainer.precision=auto where the probe says native bf16 (forced: this CPU may not
    # have it) and with float32 pinned: whichever precision auto picks on a machine, its
    # path resumes exactly
    "generator-auto-bf16": (SMALL, 8),
    "generator-float32": ([*SMALL, "trainer.precision=32-true"], 8),
    # dropout draws from torch's generator every step
    "generator-dropout": ([*SMALL, "model.dropout=0.3"], 8),
    # the fsdd_classifier recipe: waveform speed/gain/shift/noise augmentation,
    # SpecAugment masks, the mel warp and dropout (24 training clips, batch 4)
    "classifier": (["experiment=fsdd_classifier", "data.tts=null", "data.batch_size=4",
                    "data.max_length=4000", "model.dilations=[1,2,4,8]",
                    "model.residual_channels=8", "model.skip_channels=8",
                    "model.gate_channels=8", "task.scheduler.warmup_steps=5",
                    "trainer.limit_val_batches=2", "test=false",
                    "trainer.enable_progress_bar=false"], 6),
}


def _train_losses(metrics: Path) -> dict[int, float]:
    import csv
    with open(metrics, newline="") as f:
        return {int(row["step"]): float(row["train/loss"]) for row in csv.DictReader(f)
                if row.get("train/loss")}


@pytest.mark.parametrize("case", list(RESUMED))
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(case, tmp_path):
    """Killed mid-epoch (SIGKILL, no chance to clean up) and resumed with
    ``ckpt_path=last``: the final weights equal an uninterrupted run's, and its
    metrics.csv holds the same training losses at the same steps, before the kill
    and after."""
    overrides, per_epoch = RESUMED[case]
    data = [f"data.root={_tiny_fsdd(tmp_path / 'fsdd')}"] if case == "classifier" else []
    # 30 steps; last.ckpt every 5 steps; killed past step 13 (epoch 2 or 3)
    args = [*data, "trainer.max_steps=30", "trainer.max_epochs=-1", "trainer.deterministic=true",
            "callbacks.last_checkpoint.every_n_train_steps=5", "seed=11"]

    def cmd(run_dir: Path, *more: str) -> list[str]:
        return [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *overrides, *args, *more]

    env = _env(case)
    full = tmp_path / "full" / "run"
    done = run(cmd(full), env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    first = tmp_path / "crash" / "run1"
    proc = subprocess.Popen(cmd(first, record(tmp_path / "rec1")), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = first / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while step_of(last) < 13 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = step_of(last)
    assert 13 <= killed_at < 30 and killed_at % per_epoch != 0  # mid-epoch, not finished

    resumed = run(cmd(tmp_path / "crash" / "run2", "ckpt_path=last", record(tmp_path / "rec2")),
                  env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = [json.loads(line)["step"]
             for line in (tmp_path / "rec2" / "batches-rank0.jsonl").read_text().splitlines()]
    assert steps == list(range(killed_at + 1, 31))  # the step count continues
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(last, weights_only=True)  # the resumed run wrote on into run1
    assert b["global_step"] == a["global_step"] == 30
    if case.endswith(("auto-bf16", "float32")):
        ran = {"generator-auto-bf16": "bf16-mixed", "generator-float32": "32-true"}[case]
        assert a["wavedil"]["precision"]["precision"] == b["wavedil"]["precision"][
            "precision"] == ran
    for name, weight in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], weight, atol=1e-6, rtol=0)
    # one metrics.csv in the run folder, nothing lost at the kill or the resume
    before, after = _train_losses(full / "metrics.csv"), _train_losses(first / "metrics.csv")
    assert sorted(after) == sorted(before) and min(after) < killed_at
    for step, loss in before.items():
        assert after[step] == pytest.approx(loss, abs=1e-5), step


def test_bad_resume_requests(tmp_path):
    nothing = run(train_cmd(tmp_path / "a" / "run", "ckpt_path=last"))
    assert nothing.returncode != 0 and "no earlier run with checkpoints/last.ckpt" in nothing.stderr
    missing = run(train_cmd(tmp_path / "b" / "run", f"ckpt_path={tmp_path}/none.ckpt"))
    assert missing.returncode != 0 and "none.ckpt: checkpoint not found" in missing.stderr
    first = tmp_path / "c" / "run1"
    assert run(train_cmd(first, "trainer.max_steps=2")).returncode == 0
    other = run(train_cmd(tmp_path / "c" / "run2", "ckpt_path=last", "model.residual_channels=8"))
    assert other.returncode != 0
    assert "differs from the configured one in ['residual_channels']" in other.stderr


def test_seed_makes_two_runs_identical(tmp_path):
    def losses(tag: str, seed: int) -> list[float]:
        done = run(train_cmd(tmp_path / tag, "trainer.max_steps=8", f"seed={seed}",
                             record(tmp_path / f"rec-{tag}")))
        assert done.returncode == 0, done.stderr[-2000:]
        lines = (tmp_path / f"rec-{tag}" / "batches-rank0.jsonl").read_text().splitlines()
        return [json.loads(line)["loss"] for line in lines]

    a, b, c = losses("a", 7), losses("b", 7), losses("c", 8)
    assert len(a) == 8 and a == b
    assert a != c


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_nodes_ddp_on_cpu_from_shards_split_data_and_write_checkpoints_once(tmp_path):
    """Multi-node training as far as one machine allows: two "nodes" of one CPU process
    each, launched by torchrun as on a cluster (``--nnodes 2 --node-rank R``, rendezvous
    at the first node) with ``trainer.num_nodes=2``, training from prepared shards:
    each reads its own half of every epoch, nothing twice, and the checkpoints are
    written once, by global rank 0."""
    import socket

    from wavedil.cli.prepare import main as prepare

    data = ["data=fsdd_generation", "data.source.split=speaker"]  # george held out
    shards = tmp_path / "shards"
    assert prepare([*data, f"data.root={_tiny_fsdd(tmp_path / 'fsdd')}",
                    "--out", str(shards)]) == 0
    rec = tmp_path / "rec"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    small = [arg for arg in SMALL if not arg.startswith("data.source.")]
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node-rank={node}",
         "--nproc-per-node=1", "--master-addr=127.0.0.1", f"--master-port={port}",
         "train.py", f"hydra.run.dir={tmp_path / 'run'}", *small, *data,
         f"data.root={shards}", "data.format=shards", "data.global_label=null",
         "trainer.accelerator=cpu", "trainer.devices=1", "trainer.num_nodes=2",
         "trainer.strategy=ddp", "trainer.max_steps=6", record(rec)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for node in (0, 1)]
    for node in nodes:
        _, err = node.communicate(timeout=600)
        assert node.returncode == 0, err[-3000:]
    ranks = [[json.loads(line) for line in (rec / f"batches-rank{r}.jsonl").read_text()
              .splitlines()] for r in (0, 1)]
    assert [len(r) for r in ranks] == [6, 6]
    assert ranks[0][0]["pid"] != ranks[1][0]["pid"]  # two processes
    # 24 training clips (george's held out), batch 4, 2 ranks: 3 steps per epoch; the
    # ranks split epoch 0 between them
    epoch0 = [{x for row in r[:3] for x in row["items"]} for r in ranks]
    assert len(epoch0[0]) == len(epoch0[1]) == 12 and not epoch0[0] & epoch0[1]
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    # the best epoch's and last.ckpt, each written once, by rank 0
    assert checkpoints in (["epoch000-step000003.ckpt", "last.ckpt"],
                           ["epoch001-step000006.ckpt", "last.ckpt"])


def _fit(tmp_path, task, steps=6, precision="32-true"):
    dm = GenerationDataModule(functools.partial(SyntheticTones, num_train=16), batch_size=4,
                              crop_length=256)
    trainer = Trainer(max_steps=steps, accelerator="cpu", precision=precision, logger=False,
                      enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=tmp_path,
                      num_sanity_val_steps=0, limit_val_batches=0,
                      plugins=[AtomicCheckpointIO()], enable_checkpointing=False)
    trainer.fit(task, datamodule=dm)
    return trainer


def _poisoned_task(nonfinite: str, bad_steps: set[int]) -> GenerationTask:
    task = GenerationTask(WaveNet(4, 4, 4, dilations=[1, 2]),
                          functools.partial(torch.optim.Adam, lr=1e-3), nonfinite=nonfinite,
                          max_skips=3)
    step = task.step

    def poisoned(batch, stage):
        loss = step(batch, stage)
        return loss * float("nan") if task.global_step in bad_steps else loss

    task.step = poisoned
    return task


PRECISIONS = ["32-true", "bf16-mixed"]  # what trainer.precision=auto can choose


@pytest.mark.parametrize("precision", PRECISIONS)
def test_nonfinite_loss_stops_with_a_clear_message(tmp_path, precision):
    task = _poisoned_task("stop", {2})
    expected = "Training diverged at step 2.*task.nonfinite=skip"
    with pytest.raises(NonFiniteLossError, match=expected):
        _fit(tmp_path, task, precision=precision)
    assert all(torch.isfinite(p).all() for p in task.parameters())


@pytest.mark.parametrize("precision", PRECISIONS)
def test_nonfinite_loss_can_skip_batches_and_gives_up_when_it_persists(tmp_path, precision):
    task = _poisoned_task("skip", {2})
    trainer = _fit(tmp_path, task, steps=5, precision=precision)
    assert all(torch.isfinite(p).all() for p in task.parameters())
    assert trainer.global_step == 5  # the bad batch made no step; the others did
    stuck = _poisoned_task("skip", set(range(100)))
    with pytest.raises(NonFiniteLossError, match="3 batches in a row"):
        _fit(tmp_path, stuck, precision=precision)


def test_checkpoint_with_nan_weights_is_refused():
    task = GenerationTask(WaveNet(4, 4, 4, dilations=[1]), functools.partial(torch.optim.Adam))
    with torch.no_grad():
        task.model.head[1].weight[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="Refusing to write a checkpoint"):
        task.on_save_checkpoint({"state_dict": task.state_dict()})


def test_crop_shorter_than_the_receptive_field_is_warned_about(tmp_path):
    done = run(train_cmd(tmp_path / "run", "trainer.fast_dev_run=true", "data.crop_length=64",
                         "model.dilations=[1,2,4,8,16,32]"))
    assert done.returncode == 0
    assert ("data.crop_length=64 is shorter than the model's receptive field of 64 samples"
            not in done.stderr)  # 64 == 1 + 63: not shorter
    done = run(train_cmd(tmp_path / "run2", "trainer.fast_dev_run=true", "data.crop_length=32",
                         "model.dilations=[1,2,4,8,16,32]"))
    assert "data.crop_length=32 is shorter than the model's receptive field of 64 samples" in (
        done.stderr + done.stdout)



def test_sigkill_then_resume_of_the_parallel_vocoder_under_manual_optimisation(tmp_path):
    """Two networks, two optimizers and schedules, the discriminator switched on mid-run,
    the data streamed from prepared shards (data.format=shards: crops and mel frames read
    on demand): killed mid-epoch after the discriminator started and resumed, the run
    ends with an uninterrupted run's weights for both networks and the same losses."""
    from wavedil.cli.prepare import main as prepare

    root = tmp_path / "shards"
    assert prepare(["experiment=fsdd_parallel_vocoder",
                    f"data.root={_tiny_fsdd(tmp_path / 'fsdd')}", "--out", str(root)]) == 0
    args = ["experiment=fsdd_parallel_vocoder", f"data.root={root}", "data.format=shards",
            "data.batch_size=4",
            "data.feature_cache=null", "model.dilations=[1,2,4,8]", "model.residual_channels=8",
            "model.gate_channels=8", "model.skip_channels=8", "task.discriminator.channels=8",
            "task.discriminator.dilations=[1,2,4]", "task.discriminator_start=10",
            "task.scheduler.warmup_steps=5", "trainer.max_epochs=3", "trainer.max_time=null",
            "trainer.limit_val_batches=2", "trainer.deterministic=true", "test=false",
            "trainer.enable_progress_bar=false",
            "callbacks.last_checkpoint.every_n_train_steps=5", "seed=5"]

    def cmd(run_dir: Path, *more: str) -> list[str]:
        return [sys.executable, "train.py", f"hydra.run.dir={run_dir}", *args, *more]

    full = tmp_path / "full" / "run"
    done = run(cmd(full))
    assert done.returncode == 0, done.stderr[-3000:]
    a = torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)
    updates = a["parallel_vocoder"]["generator_updates"]  # 3 epochs of 12 batches
    assert updates == 36 and a["global_step"] == 36 + (36 - 10)  # both networks' steps

    first = tmp_path / "crash" / "run1"
    proc = subprocess.Popen(cmd(first), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = first / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while step_of(last) < 30 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = torch.load(last, weights_only=True)
    killed_updates = killed["parallel_vocoder"]["generator_updates"]
    assert 10 < killed_updates < 36 and killed_updates % 12 != 0  # adversarial, mid-epoch

    resumed = run(cmd(tmp_path / "crash" / "run2", "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    b = torch.load(last, weights_only=True)
    assert b["global_step"] == a["global_step"]
    assert {k.split(".")[0] for k in a["state_dict"]} == {"model", "discriminator"}
    for name, weight in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], weight, atol=1e-6, rtol=0)
    before, after = _train_losses(full / "metrics.csv"), _train_losses(first / "metrics.csv")
    assert sorted(after) == sorted(before)
    for step, loss in before.items():
        assert after[step] == pytest.approx(loss, abs=1e-5), step
