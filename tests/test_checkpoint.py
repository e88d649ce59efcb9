"""Checkpoints (:mod:`wavedil.checkpoint`): models rebuilt from a checkpoint alone,
ensembles of compatible classifiers, clear refusals."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import save_checkpoint
from wavedil.checkpoint import CheckpointError, load_classifier, load_model
from wavedil.data.sources import DataInfo
from wavedil.models import Ensemble, SpeedAveraged, WaveNet, WaveNetClassifier
from wavedil.nn import MFCCFrontend


def _classifier() -> WaveNetClassifier:
    torch.manual_seed(0)
    return WaveNetClassifier(4, MFCCFrontend(8000, n_mfcc=13), 8, 8, 8, dilations=[1, 2]).eval()


def test_load_classifier_builds_an_ensemble_of_compatible_checkpoints(tmp_path):
    digits = DataInfo(8000, class_names=[str(d) for d in range(4)])
    a = save_checkpoint(_classifier(), digits, tmp_path / "a.ckpt", task="classification")
    b = save_checkpoint(_classifier(), digits, tmp_path / "b.ckpt", task="classification")
    model, info = load_classifier([a])
    assert isinstance(model, WaveNetClassifier) and info.class_names == digits.class_names
    model, info = load_classifier([a, b], speeds=[0.9, 1.1])
    assert isinstance(model, SpeedAveraged) and isinstance(model.model, Ensemble)
    assert len(model.model.members) == 2
    other = save_checkpoint(_classifier(), DataInfo(8000, class_names=list("abcd")),
                            tmp_path / "other.ckpt", task="classification")
    with pytest.raises(CheckpointError, match="an ensemble needs the same classes"):
        load_classifier([a, other])
    faster = save_checkpoint(_classifier(), DataInfo(16000, class_names=digits.class_names),
                             tmp_path / "fast.ckpt", task="classification")
    with pytest.raises(CheckpointError, match="16000 Hz.*8000 Hz"):
        load_classifier([a, faster])
    with pytest.raises(FileNotFoundError):
        load_classifier([a, tmp_path / "missing.ckpt"])


def test_a_checkpoint_alone_rebuilds_its_model_and_data_info(tmp_path):
    mel = {"n_mels": 8, "hop_length": 32, "n_fft": 128}
    net = WaveNet(8, 8, 8, dilations=[1, 2, 4], local_channels=8, local_hop_length=32).eval()
    path = save_checkpoint(net, DataInfo(8000, local_features=mel), tmp_path / "v.ckpt")
    loaded = load_model(path, kind="generator")
    assert loaded.kind == "generator" and loaded.info.local_features == mel
    x, local = torch.randint(0, 256, (1, 64)), torch.randn(1, 8, 2)
    torch.testing.assert_close(loaded.model(x, local), net(x, local))
    with pytest.raises(CheckpointError, match="holds a generator, but a classifier"):
        load_model(path, kind="classifier")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="Cannot read checkpoint"):
        load_model(garbage)
    with pytest.raises(FileNotFoundError, match="Checkpoint not found"):
        load_model(tmp_path / "missing.ckpt")


def _saved(tmp_path, name="g.ckpt"):
    net = WaveNet(8, 8, 8, dilations=[1, 2])
    return save_checkpoint(net, DataInfo(8000), tmp_path / name)


@pytest.mark.parametrize("target", ["torch.hub.load", "torch.load", "builtins.exec",
                                    "wavedil.data.sources.AudioFolder"])
def test_a_crafted_checkpoint_cannot_call_anything(tmp_path, target):
    path = _saved(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["wavedil"]["model"]["output"] = {"_target_": target, "repo_or_dir": "x"}
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=f"Refusing to build '{target}'"):
        load_model(path)


def test_garbage_is_not_a_checkpoint_and_no_one_is_told_to_trust_it(tmp_path):
    path = tmp_path / "garbage.ckpt"
    torch.save({"x": torch.nn.ReLU()}, path)  # a pickled object, refused by weights_only
    with pytest.raises(CheckpointError, match="not a wavedil checkpoint, or it is corrupt") as err:
        load_model(path)
    assert "weights_only" not in str(err.value)


@pytest.mark.parametrize("field", ["kind", "model", "format"])
def test_a_record_missing_a_field_is_named(tmp_path, field):
    path = _saved(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["wavedil"][field]
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=f"record lacks {field}"):
        load_model(path)


def _format_1(spec):
    """``spec`` as wavedil wrote it before format 2: the front end's augmentation
    as flat arguments."""
    front = dict(spec["frontend"])
    masks, warp = front.pop("spec_augment"), front.pop("warp")
    front.update({k: v for k, v in masks.items() if k != "_target_"})
    front.update(freq_warp=warp["amount"], freq_warp_segments=warp["segments"])
    return {**spec, "frontend": front}


def test_a_format_1_checkpoint_loads_and_resumes_with_its_augmentation(tmp_path):
    from wavedil.nn import MelWarp, SpecAugment
    from wavedil.tasks import ClassificationTask

    torch.manual_seed(0)
    front = MFCCFrontend(8000, n_mfcc=13, spec_augment=SpecAugment(1, 3, 2, 8),
                         warp=MelWarp(0.1, segments=2))
    net = WaveNetClassifier(4, front, 8, 8, 8, dilations=[1, 2])
    info = DataInfo(8000, class_names=list("abcd"))
    path = save_checkpoint(net, info, tmp_path / "old.ckpt", task="classification")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["wavedil"].update(format=1, model=_format_1(checkpoint["wavedil"]["model"]))
    assert "freq_warp" in checkpoint["wavedil"]["model"]["frontend"]
    torch.save(checkpoint, path)

    loaded = load_model(path, kind="classifier").model
    assert loaded.frontend.spec_augment.time_masks == 2
    assert loaded.frontend.warp.segments == 2
    audio = torch.randn(3, 2000) * 0.1
    outputs = []
    for model in (net, loaded):  # the same augmentation draws the same features
        torch.manual_seed(1)
        outputs.append(model.train().frontend(audio).features)
    torch.testing.assert_close(outputs[0], outputs[1])
    # resuming a run from it: the configured model matches the upgraded record
    task = ClassificationTask(net, torch.optim.Adam, data_info=info)
    task.on_load_checkpoint(checkpoint)
    checkpoint["wavedil"]["model"]["frontend"]["n_mfcc"] = 12
    with pytest.raises(ValueError, match="differs from the configured one"):
        task.on_load_checkpoint(checkpoint)


def test_a_checkpoint_from_a_newer_wavedil_is_refused_by_format(tmp_path):
    path = _saved(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["wavedil"]["format"] = 99
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match="checkpoint format 99; this wavedil reads format 2"):
        load_model(path)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("residual_channels", 10**9, "do not fit the model it records"),  # 1 TB of embedding
    ("dilations", [1, 2, 4], "do not fit the model it records"),  # a block too many
    ("dilations", [1, 10**9], "dilations.1. to be an integer <= 1048576"),  # 10^9 of padding
])
def test_a_spec_asking_for_more_than_its_weights_is_refused_before_allocating(tmp_path, key,
                                                                              value, message):
    import resource

    path = _saved(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["wavedil"]["model"][key] = value
    torch.save(checkpoint, path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    with pytest.raises(CheckpointError, match=message):
        load_model(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # < 200 MB


def test_weights_of_another_shape_are_named_with_both_shapes(tmp_path):
    path = _saved(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"]["model.head.1.weight"] = torch.zeros(3, 8, 1)
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"head.1.weight: the model asks for shape "
                                              r"\(8, 8, 1\), the file holds \(3, 8, 1\)"):
        load_model(path)


def test_settings_that_would_make_huge_tables_are_refused(tmp_path):
    front = MFCCFrontend(8000, n_mfcc=13)
    model = WaveNetClassifier(4, front, 8, 8, 8, dilations=[1, 2])
    path = save_checkpoint(model, DataInfo(8000, class_names=list("abcd")), tmp_path / "c.ckpt",
                           task="classification")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["wavedil"]["model"]["frontend"]["n_fft"] = 10**9
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError, match=r"n_fft to be an integer <= 65536"):
        load_model(path)


def test_a_run_begun_before_an_argument_existed_resumes_when_it_is_at_its_default(tmp_path):
    from wavedil.tasks import GenerationTask

    net = WaveNet(8, 8, 8, dilations=[1, 2])
    checkpoint = torch.load(save_checkpoint(net, DataInfo(8000), tmp_path / "g.ckpt"),
                            weights_only=True)
    for added in ("preemphasis", "linear_prediction", "highpass_hz"):  # as written earlier
        checkpoint["wavedil"]["model"].pop(added)
    GenerationTask(net, torch.optim.Adam).on_load_checkpoint(checkpoint)  # resumes
    shaped = WaveNet(8, 8, 8, dilations=[1, 2], preemphasis=0.85)
    with pytest.raises(ValueError, match=r"differs from the configured one in \['preemphasis'\]"):
        GenerationTask(shaped, torch.optim.Adam).on_load_checkpoint(checkpoint)
    # the rate the configs now fill in from the data: the run's own data rate resumes
    checkpoint["wavedil"]["model"].pop("sample_rate")
    at_rate = WaveNet(8, 8, 8, dilations=[1, 2], sample_rate=8000)
    GenerationTask(at_rate, torch.optim.Adam).on_load_checkpoint(checkpoint)
    other = WaveNet(8, 8, 8, dilations=[1, 2], sample_rate=16000)
    with pytest.raises(ValueError, match=r"differs from the configured one in \['sample_rate'\]"):
        GenerationTask(other, torch.optim.Adam).on_load_checkpoint(checkpoint)
