"""The GPU paths, on a CUDA device (skipped cleanly without one; ``bench/gpu_check.sh``
runs them with ``-m cuda`` on a lent GPU): steps equal to the forward, every sampler's
samples for a seed, a source-filter vocoder, and training in ``trainer=gpu``
(bf16-mixed) that lowers the loss."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import cuda
from tests.inference.generation.test_sampler import conditioning_for, make
from tests.models.test_source_filter import frames, source_filter
from wavedil.inference import generate, make_stepper

REPO = Path(__file__).resolve().parents[1]


@cuda
@pytest.mark.parametrize("method", ["fast", "cached"])
def test_steps_on_the_gpu_equal_the_full_forward(method):
    net = make(3, "both").cuda()
    x = torch.randint(0, 256, (3, 90), device="cuda")
    local_cond, global_cond = (t.cuda() for t in conditioning_for(net, 3, 90))
    with torch.no_grad():
        full = net(x, local_cond, global_cond)
        stepper = make_stepper(method, net, 3, net.global_vector(global_cond),
                               net.upsample_local(local_cond, 90))
        steps = torch.stack([stepper(x[:, t]) for t in range(90)], -1)
    assert (steps - full).abs().max() < 1e-3


@cuda
def test_every_gpu_method_draws_the_same_samples():
    net = make(2, "local_repeat").cuda()
    local_cond, _ = conditioning_for(net, 2, 120)
    runs = {m: generate(net, 120, 2, method=m, seed=7, local_cond=local_cond.cuda())
            for m in ("naive", "cached", "fast", "graph")}
    assert runs["graph"].method == "graph"
    for name, run in runs.items():
        assert run.values.device.type == "cuda"
        assert torch.equal(run.values, runs["fast"].values), name


@cuda
def test_a_source_filter_vocoder_samples_alike_on_the_gpu_and_the_cpu():
    net = source_filter()
    local = frames(2, 150)
    on_cpu = generate(net, 150, seed=2, local_cond=local)
    runs = {m: generate(net.cuda(), 150, method=m, seed=2, local_cond=local.cuda())
            for m in ("cached", "fast")}
    assert torch.equal(runs["cached"].values, runs["fast"].values)
    # the random numbers differ between devices; the signal loop's arithmetic must not
    assert runs["fast"].signal.dtype == torch.float64 and runs["fast"].audio.isfinite().all()
    assert on_cpu.values.shape == runs["fast"].values.shape


def _train(tmp_path: Path, *overrides: str) -> list[float]:
    cmd = [sys.executable, "train.py", f"hydra.run.dir={tmp_path}", "trainer=gpu",
           "trainer.max_steps=40", "trainer.max_epochs=1", "test=false", *overrides]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(tmp_path / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@cuda
@pytest.mark.parametrize("model", ["wavenet", "vocoder_lpc"])
def test_training_in_bf16_mixed_on_the_gpu_lowers_the_loss(model, tmp_path):
    extra = [] if model == "wavenet" else [
        "model=vocoder_lpc", "+data.local_features={n_mels: 20, hop_length: 64, n_fft: 256}",
        "task.excitation_noise=1.0"]
    losses = _train(tmp_path, *extra)
    assert len(losses) >= 4
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2
