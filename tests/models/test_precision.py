"""Numerics of the training forward: the presets compute the WaveNet formula as
written out below (a guard for any faster rewrite of the blocks), bf16 mixed
precision keeps what needs float32 in float32, and activation checkpointing
changes no gradient."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer

from wavedil.data import GenerationDataModule, SyntheticTones
from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.models import WaveNet, wavenet_medium, wavenet_small
from wavedil.tasks import GenerationTask
from wavedil.tasks.base import NonFiniteLossError


def reference_forward(model: WaveNet, x: torch.Tensor) -> torch.Tensor:
    """The generator's forward written out as the WaveNet paper's formula, one module
    call per operation: the residual and skip 1x1s separately, the head unsplit."""
    h = model.embed_input(x)
    skip = 0.0
    for block in model.stack.blocks:
        filt, gate = block.conv(h).chunk(2, dim=1)
        z = torch.tanh(filt) * torch.sigmoid(gate)
        skip = skip + block.skip_proj(z)
        h = h + block.residual_proj(z) if block.residual_proj is not None else h
    return model.head(skip)


@pytest.mark.parametrize("preset", [wavenet_small, wavenet_medium])
def test_presets_equal_the_reference_formula_on_fixed_weights(preset):
    torch.manual_seed(0)
    model = preset().eval()
    x = model.shift_right(torch.randint(0, 256, (2, 1500)))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_forward(model, x), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("output", ["mulaw", "logistic_mixture"])
def test_bf16_autocast_keeps_parameters_and_loss_in_float32(output):
    torch.manual_seed(0)
    kwargs = ({} if output == "mulaw" else
              {"output": DiscretizedLogisticMixture(4), "input_encoding": "continuous"})
    model = WaveNet(16, 16, 16, dilations=[1, 2, 4, 8], **kwargs)
    audio = torch.rand(2, 800) * 1.6 - 0.8
    target = model.output.encode(audio)
    full = model(model.shift_right(target))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        params = model(model.shift_right(target))
        loss = model.output.nll(params, target)
    assert params.dtype == loss.dtype == torch.float32
    # only the stack ran in bf16: the parameters stay within its rounding of float32's
    torch.testing.assert_close(params, full, atol=0.1, rtol=0.05)
    exact = model.output.nll(full, target).mean()
    assert abs(float(loss.mean()) - float(exact)) < 0.02 * abs(float(exact))


def _train_losses(precision: str, steps: int = 40) -> list[float]:
    torch.manual_seed(0)
    task = GenerationTask(WaveNet(16, 16, 16, dilations=[1, 2, 4, 8]),
                          functools.partial(torch.optim.Adam, lr=1e-2))
    dm = GenerationDataModule(functools.partial(SyntheticTones, num_train=16), batch_size=4,
                              crop_length=512, seed=0)
    losses: list[float] = []
    task.on_train_batch_end = lambda outputs, *_: losses.append(float(outputs["loss"]))
    Trainer(max_steps=steps, accelerator="cpu", precision=precision, logger=False,
            enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
            limit_val_batches=0, num_sanity_val_steps=0).fit(task, datamodule=dm)
    assert all(p.dtype == torch.float32 for p in task.parameters())  # master weights
    return losses


def test_bf16_mixed_training_lowers_the_loss_as_float32_does():
    bf16, fp32 = _train_losses("bf16-mixed"), _train_losses("32-true")
    assert len(bf16) == len(fp32) == 40
    start, end = (sum(bf16[:5]) / 5, sum(bf16[-5:]) / 5)
    assert end < 0.9 * start
    assert end == pytest.approx(sum(fp32[-5:]) / 5, rel=0.1)


def test_an_fp16_scaler_overflow_step_is_not_a_divergence():
    """Under fp16 mixed precision the grad scaler overflows on purpose while it finds
    its scale, and skips such steps itself: the non-finite guard leaves them to it.
    Without a scaler the same gradients stop the run."""
    task = GenerationTask(WaveNet(4, 4, 4, dilations=[1, 2]), torch.optim.Adam)
    for p in task.parameters():
        p.grad = torch.full_like(p, float("inf"))
    fake = SimpleNamespace(global_step=3, current_epoch=0, loggers=[],
                           precision_plugin=SimpleNamespace(scaler=torch.amp.GradScaler("cpu")))
    task._trainer = fake
    task.on_before_optimizer_step(None)  # the scaler's business: no error
    assert all(torch.isinf(p.grad).all() for p in task.parameters())  # left for it to see
    fake.precision_plugin = SimpleNamespace()  # float32: no scaler
    with pytest.raises(NonFiniteLossError, match="a gradient is not finite"):
        task.on_before_optimizer_step(None)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_activation_checkpointing_gives_the_same_gradients(dropout):
    """``task.checkpoint_activations=true`` recomputes each block in the backward
    pass; the gradients are those of the plain backward (dropout redraws the same
    masks: the recomputation restores the random state)."""
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        task = GenerationTask(WaveNet(8, 8, 8, dilations=[1, 2, 4], dropout=dropout,
                                      global_classes=3),
                              torch.optim.Adam, checkpoint_activations=flag)
        assert task.model.stack.checkpoint_blocks is flag
        x = torch.randint(0, 256, (2, 300))
        torch.manual_seed(1)
        params = task.model.train()(x, global_cond=torch.tensor([0, 2]))
        task.model.output.nll(params, x).mean().backward()
        grads.append({n: p.grad.clone() for n, p in task.model.named_parameters()})
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, atol=1e-6, rtol=1e-5, msg=name)
