"""``trainer.precision=auto``: the probe decides bf16 or float32 (mocked both ways on
CPU and CUDA), an explicit precision is never overridden, and the choice reaches the
trainer, the run's config.yaml and its checkpoints."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from tests.conftest import REPO
from wavedil.tasks import Trainer
from wavedil.tasks import precision as precision_module
from wavedil.tasks.precision import ENV, cpu_bf16_support, resolve_precision

EXPLICIT = ["32-true", "32", "bf16-mixed", "16-mixed", "bf16-true", "64-true"]


@pytest.fixture(autouse=True)
def _no_forced_probe(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def _cpu_says(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)


@pytest.mark.parametrize("native,expected", [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_follows_the_cpu_probe(monkeypatch, native, expected):
    _cpu_says(monkeypatch, native)
    choice = resolve_precision("auto", "cpu")
    assert (choice.requested, choice.precision, choice.device) == ("auto", expected, "cpu")
    assert ("AVX512-BF16: bf16 runs natively" in choice.reason) == native
    assert ("emulated" in choice.reason) == (not native)


def test_amx_alone_counts_as_native(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert cpu_bf16_support() == (True, "this CPU has AMX: bf16 runs natively")


@pytest.mark.parametrize("flags,native", [({"avx2", "avx512_bf16"}, True),
                                          ({"avx2", "amx_bf16"}, True),
                                          ({"avx2", "avx512f"}, False)])
def test_without_torchs_probes_the_cpu_flags_decide(monkeypatch, flags, native):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: flags)
    assert cpu_bf16_support()[0] is native


@pytest.mark.parametrize("native,expected", [(True, "bf16-mixed"), (False, "32-true")])
@pytest.mark.parametrize("accelerator", ["gpu", "cuda", "auto"])
def test_auto_follows_the_cuda_probe(monkeypatch, native, expected, accelerator):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0) if native
                        else (7, 5))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native or including_emulation)
    _cpu_says(monkeypatch, not native)  # the CPU's answer must not leak into a GPU run
    choice = resolve_precision("auto", accelerator)
    assert (choice.precision, choice.device) == (expected, "cuda")
    assert "Fake GPU (compute capability" in choice.reason


def test_an_unprobed_accelerator_gets_float32(monkeypatch):
    _cpu_says(monkeypatch, True)
    choice = resolve_precision("auto", "mps")
    assert choice.precision == "32-true" and "not probed" in choice.reason


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("explicit", EXPLICIT)
def test_an_explicit_precision_is_never_overridden(monkeypatch, explicit, native):
    _cpu_says(monkeypatch, native)
    monkeypatch.setenv(ENV, "1" if native else "0")
    choice = resolve_precision(explicit, "cpu")
    assert (choice.requested, choice.precision, choice.reason) == (
        explicit, explicit, "set explicitly")


@pytest.mark.parametrize("forced,expected", [("1", "bf16-mixed"), ("0", "32-true")])
@pytest.mark.parametrize("native", [True, False])
def test_the_environment_overrides_the_probe(monkeypatch, forced, expected, native):
    _cpu_says(monkeypatch, native)
    monkeypatch.setenv(ENV, forced)
    choice = resolve_precision("auto", "cpu")
    assert choice.precision == expected and choice.reason == f"{ENV}={forced}"
    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ValueError, match=f"Expected {ENV}=1 .* but found 'yes'"):
        resolve_precision("auto", "cpu")


def _trainer(**kwargs) -> Trainer:
    return Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, **kwargs)


@pytest.mark.parametrize("native,expected,plugin", [(True, "bf16-mixed", "MixedPrecision"),
                                                    (False, "32-true", "Precision")])
def test_the_trainer_runs_what_auto_resolves_to(monkeypatch, native, expected, plugin):
    _cpu_says(monkeypatch, native)
    trainer = _trainer()  # precision defaults to "auto"
    assert trainer.precision == expected == trainer.precision_choice.precision
    assert type(trainer.precision_plugin).__name__ == plugin
    pinned = _trainer(precision="32-true")
    assert pinned.precision == "32-true" and pinned.precision_choice.reason == "set explicitly"


@pytest.mark.parametrize("forced,expected", [("1", "bf16-mixed"), ("0", "32-true")])
def test_the_resolved_precision_is_in_the_config_and_the_checkpoint(tmp_path, forced,
                                                                    expected):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "data.source.num_train=8",
         "data.batch_size=4", "data.crop_length=256", "model.dilations=[1,2]",
         "model.residual_channels=8", "model.gate_channels=8", "model.skip_channels=8",
         "trainer.max_steps=2", "trainer.limit_val_batches=1", "test=false",
         "trainer.enable_progress_bar=false"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**_env(), ENV: forced})
    assert done.returncode == 0, done.stderr[-3000:]
    said = f"trainer.precision=auto: {expected} on cpu, because {ENV}={forced}"
    assert said in done.stdout + done.stderr
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["precision"] == "auto"
    record = {"requested": "auto", "precision": expected, "device": "cpu",
              "reason": f"{ENV}={forced}"}
    assert config["precision_choice"] == record
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["wavedil"]["precision"] == record


def _env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if k != ENV}
