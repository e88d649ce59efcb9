import functools

import pytest
import torch
from lightning.pytorch import Trainer

from wavedil.checkpoint import AtomicCheckpointIO, CheckpointError, load_model
from wavedil.data import (
    ClassificationDataModule,
    GenerationDataModule,
    SyntheticClasses,
    SyntheticTones,
)
from wavedil.models import WaveNet, WaveNetClassifier
from wavedil.tasks import ClassificationTask, GenerationTask
from wavedil.tasks.schedules import warmup_cosine

ADAM = functools.partial(torch.optim.Adam, lr=3e-3)


def _trainer(tmp_path, steps):
    return Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                   enable_model_summary=False, default_root_dir=tmp_path,
                   plugins=[AtomicCheckpointIO()], limit_val_batches=2, limit_test_batches=2,
                   num_sanity_val_steps=0)


def test_generation_task_trains_and_writes_a_self_describing_checkpoint(tmp_path):
    dm = GenerationDataModule(functools.partial(SyntheticTones, num_train=16), batch_size=4,
                              crop_length=512)
    dm.setup("fit")
    net = WaveNet(8, 8, 16, dilations=[1, 2, 4, 8])
    task = GenerationTask(net, ADAM, functools.partial(warmup_cosine, warmup_steps=2),
                          data_info=dm.info)
    trainer = _trainer(tmp_path, 8)
    trainer.fit(task, datamodule=dm)
    metrics = trainer.validate(task, datamodule=dm, verbose=False)[0]
    assert metrics["val/bits_per_sample"] == pytest.approx(metrics["val/loss"] / 0.693147, rel=1e-4)
    path = tmp_path / "gen.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_model(path, kind="generator")
    assert loaded.info.sample_rate == 8000
    x = torch.randint(0, 256, (1, 100))
    torch.testing.assert_close(loaded.model(x), net.eval()(x))
    with pytest.raises(CheckpointError, match="holds a generator, but a classifier"):
        load_model(path, kind="classifier")


def test_classification_task_logs_accuracy_and_keeps_test_predictions(tmp_path):
    dm = ClassificationDataModule(functools.partial(SyntheticClasses, clips_per_class=8,
                                                    clip_length=600), batch_size=8)
    dm.setup("fit")
    net = WaveNetClassifier(3, residual_channels=8, gate_channels=8, skip_channels=8,
                            dilations=[1, 2])
    task = ClassificationTask(net, ADAM, data_info=dm.info)
    trainer = _trainer(tmp_path, 3)
    trainer.fit(task, datamodule=dm)
    result = trainer.test(task, datamodule=dm, verbose=False)[0]
    assert 0.0 <= result["test/accuracy"] <= 1.0
    assert task.test_predictions is not None and task.test_predictions.shape[1] == 2
    path = tmp_path / "cls.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_model(path)
    assert loaded.kind == "classifier" and loaded.info.class_names == ["sine", "square", "sawtooth"]


def test_missing_and_foreign_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        load_model(tmp_path / "nothing.ckpt")
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a wavedil checkpoint"):
        load_model(foreign)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        load_model(garbage)


@pytest.mark.parametrize("damage, message", [
    ("extra", r"unexpected head\.9\.weight"),
    ("missing", r"missing head\.\d\.weight"),
    ("shape", r"head\.1\.weight: the model asks for shape \(4, 4, 1\), the file holds"),
    ("spec", r"Cannot rebuild the model recorded in .*no_such_argument"),
])
def test_checkpoint_from_another_version_is_named_as_such(tmp_path, damage, message):
    """A checkpoint whose weights or recorded model no longer fit this wavedil: a
    clear error naming the file, instead of a ``load_state_dict`` traceback."""
    from tests.conftest import save_checkpoint
    from wavedil.data.sources import DataInfo

    path = save_checkpoint(WaveNet(4, 4, 4, dilations=[1]), DataInfo(8000), tmp_path / "g.ckpt")
    assert load_model(path).kind == "generator"  # intact, it loads
    checkpoint = torch.load(path, weights_only=True)
    weights = checkpoint["state_dict"]
    name = next(k for k in weights if k.startswith("model.head.") and k.endswith(".weight"))
    if damage == "extra":
        weights["model.head.9.weight"] = torch.zeros(1)
    elif damage == "missing":
        del weights[name]
    elif damage == "shape":
        weights[name] = torch.zeros(*weights[name].shape[:-1], weights[name].shape[-1] + 1)
    else:
        checkpoint["wavedil"]["model"]["no_such_argument"] = 1
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model(path)
    assert "g.ckpt" in str(caught.value) and "another version of wavedil" in str(caught.value)


def test_atomic_checkpoint_leaves_no_partial_file(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    target = tmp_path / "c.ckpt"
    io.save_checkpoint({"a": torch.zeros(3)}, target)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"a": torch.ones(3)}, target)
    assert target.read_bytes() == before  # the old checkpoint survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_warmup_cosine_shape():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_test_speeds_average_the_test_predictions_only():
    from wavedil.models import SpeedAveraged

    torch.manual_seed(0)
    net = WaveNetClassifier(3, residual_channels=8, gate_channels=8, skip_channels=8,
                            dilations=[1, 2]).eval()
    task = ClassificationTask(net, ADAM, test_speeds=[0.9, 1.1])
    assert task.state_dict().keys() == ClassificationTask(net, ADAM).state_dict().keys()
    task.log = lambda *args, **kwargs: None  # outside a Trainer
    batch = {"audio": torch.randn(4, 700), "lengths": torch.tensor([700, 600, 500, 400]),
             "label": torch.tensor([0, 1, 2, 0])}
    with torch.no_grad():
        test_loss, test_pairs = task.step(batch, "test")
        _, val_pairs = task.step(batch, "val")
        averaged = SpeedAveraged(net, [0.9, 1.1])(batch["audio"], batch["lengths"])
        plain = net(batch["audio"], batch["lengths"])
    assert torch.equal(test_pairs[:, 1], averaged.argmax(-1))
    assert torch.equal(val_pairs[:, 1], plain.argmax(-1))
    torch.testing.assert_close(test_loss, torch.nn.functional.nll_loss(averaged.log_softmax(-1),
                                                                       batch["label"]))


def test_mixup_mixes_waveforms_and_losses_with_one_weight_per_batch():
    torch.manual_seed(0)
    net = WaveNetClassifier(3, residual_channels=8, gate_channels=8, skip_channels=8,
                            dilations=[1, 2])
    task = ClassificationTask(net, ADAM, mixup=0.4)
    task.log = lambda *args, **kwargs: None  # outside a Trainer
    batch = {"audio": torch.randn(4, 700), "lengths": torch.tensor([700, 600, 500, 400]),
             "label": torch.tensor([0, 1, 2, 0])}
    torch.manual_seed(3)
    loss = task.mixed_loss(batch)
    torch.manual_seed(3)  # the same draws, by hand
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    order = torch.randperm(4)
    assert 0.0 < lam < 1.0 and not torch.equal(order, torch.arange(4))
    logits = net(lam * batch["audio"] + (1 - lam) * batch["audio"][order],
                 torch.maximum(batch["lengths"], batch["lengths"][order]))
    ce = torch.nn.functional.cross_entropy
    expected = lam * ce(logits, batch["label"]) + (1 - lam) * ce(logits, batch["label"][order])
    torch.testing.assert_close(loss, expected)
    # a mixed clip is not either clip: the loss differs from the unmixed one
    assert not torch.isclose(loss, ce(net(batch["audio"], batch["lengths"]), batch["label"]))
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="mixup"):
            ClassificationTask(net, ADAM, mixup=bad)


def test_training_step_uses_mixup_only_when_asked():
    torch.manual_seed(0)
    net = WaveNetClassifier(3, residual_channels=8, gate_channels=8, skip_channels=8,
                            dilations=[1, 2])
    batch = {"audio": torch.randn(4, 700), "lengths": torch.tensor([700, 600, 500, 400]),
             "label": torch.tensor([0, 1, 2, 0])}
    losses = {}
    for mixup in (0.0, 0.4):
        task = ClassificationTask(net, ADAM, mixup=mixup)
        task.log = lambda *args, **kwargs: None
        torch.manual_seed(5)
        losses[mixup] = task.training_step(batch, 0)
        torch.manual_seed(5)
        expected = task.mixed_loss(batch) if mixup else task.step(batch, "train")[0]
        torch.testing.assert_close(losses[mixup], expected)
    assert not torch.isclose(losses[0.0], losses[0.4])


def test_clip_weights_scale_the_training_loss_only():
    torch.manual_seed(0)
    net = WaveNetClassifier(3, residual_channels=8, gate_channels=8, skip_channels=8,
                            dilations=[1, 2]).eval()  # no dropout: one forward as another
    task = ClassificationTask(net, ADAM, label_smoothing=0.1)
    task.log = lambda *args, **kwargs: None  # outside a Trainer
    batch = {"audio": torch.randn(4, 700), "lengths": torch.tensor([700, 600, 500, 400]),
             "label": torch.tensor([0, 1, 2, 0])}
    weight = torch.tensor([1.0, 0.25, 1.0, 0.25])
    with torch.no_grad():
        each = torch.nn.functional.cross_entropy(net(batch["audio"], batch["lengths"]),
                                                 batch["label"], label_smoothing=0.1,
                                                 reduction="none")
        plain = task.step(batch, "train")[0]
        ones = task.step({**batch, "weight": torch.ones(4)}, "train")[0]
        weighted = task.step({**batch, "weight": weight}, "train")[0]
        val = task.step({**batch, "weight": weight}, "val")[0]
    assert torch.equal(ones, plain)  # all clips alike: the plain mean, bit for bit
    torch.testing.assert_close(plain, each.mean())
    torch.testing.assert_close(weighted, (each * weight).sum() / 2.5)
    assert not torch.isclose(weighted, plain)
    torch.testing.assert_close(val, torch.nn.functional.cross_entropy(  # scored unweighted
        net(batch["audio"], batch["lengths"]), batch["label"]).detach())
    # mixup: each side of the mix weighted by its own clip's weight
    mixing = ClassificationTask(net, ADAM, mixup=0.4)
    mixing.log = task.log
    torch.manual_seed(3)
    loss = mixing.mixed_loss({**batch, "weight": weight})
    torch.manual_seed(3)
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    order = torch.randperm(4)
    logits = net(lam * batch["audio"] + (1 - lam) * batch["audio"][order],
                 torch.maximum(batch["lengths"], batch["lengths"][order]))
    ce = functools.partial(torch.nn.functional.cross_entropy, reduction="none")
    expected = (lam * (ce(logits, batch["label"]) * weight).sum() / weight.sum()
                + (1 - lam) * (ce(logits, batch["label"][order]) * weight[order]).sum()
                / weight.sum())
    torch.testing.assert_close(loss, expected)


def test_stopwatch_logs_fit_time_at_validation_and_counts_on_after_a_resume(monkeypatch):
    from types import SimpleNamespace

    from wavedil.tasks import callbacks

    clock = iter([100.0, 103.5, 104.0, 110.0, 112.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    logged = []
    module = SimpleNamespace(log=lambda name, value, **kw: logged.append((name, value)))
    trainer = SimpleNamespace(sanity_checking=False, state=SimpleNamespace(fn="fit"))
    watch = callbacks.Stopwatch()
    watch.on_fit_start(trainer, module)  # 100.0
    watch.on_validation_epoch_end(trainer, module)  # 103.5
    assert logged == [("time/fit_s", 3.5)]
    saved = watch.state_dict()  # 104.0
    assert saved == {"elapsed": 4.0}
    resumed = callbacks.Stopwatch()
    resumed.load_state_dict(saved)
    resumed.on_fit_start(trainer, module)  # 110.0
    assert resumed.elapsed() == 6.0  # 4 before the stop, 2 since
    trainer.sanity_checking = True  # the sanity check's validation is not fitting
    resumed.on_validation_epoch_end(trainer, module)
    assert len(logged) == 1
