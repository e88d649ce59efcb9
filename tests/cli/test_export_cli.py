"""``wavedil-export``: a classifier as a TorchScript, ``torch.export`` or ONNX file that
gives the checkpoint's logits without wavedil, on real clips."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest
import torch

from tests.conftest import FSDD_ROOT, save_checkpoint, tone
from wavedil.checkpoint import load_model
from wavedil.cli.export import main as export
from wavedil.data.io import load_audio
from wavedil.data.sources import DataInfo
from wavedil.models import WaveNet, WaveNetClassifier
from wavedil.nn import MFCCFrontend, SpecAugment

NAMES = [str(d) for d in range(10)]


def _clips() -> list[torch.Tensor]:
    """Real FSDD recordings where the data is at hand, else tones."""
    if FSDD_ROOT is not None:
        names = ["0_george_0.wav", "3_jackson_1.wav", "7_lucas_2.wav", "9_yweweler_4.wav"]
        return [load_audio(FSDD_ROOT / "recordings" / n, 8000) for n in names]
    return [torch.from_numpy(tone(s, freq=f)) for s, f in ((0.4, 200.0), (0.9, 330.0))]


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    front = MFCCFrontend(8000, n_mfcc=13, spec_augment=SpecAugment())  # eval: no masks
    model = WaveNetClassifier(10, front, 8, 8, 8, dilations=[1, 2, 4], pooling="attention")
    return save_checkpoint(model, DataInfo(8000, class_names=NAMES), tmp_path / "c.ckpt",
                           task="classification")


def _load(fmt: str, path) -> Callable[[torch.Tensor], torch.Tensor]:
    """The exported file, loaded by its own runtime (never by wavedil)."""
    if fmt == "torchscript":
        return torch.jit.load(str(path))
    if fmt == "export":
        return torch.export.load(str(path)).module()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["audio"]
    return lambda x: torch.from_numpy(session.run(["logits"], {"audio": x.numpy()})[0])


@pytest.mark.parametrize("fmt", ["torchscript", "export", "onnx"])
def test_the_exported_classifier_gives_the_checkpoints_logits_on_real_clips(fmt, checkpoint,
                                                                            tmp_path, capsys):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    out = tmp_path / "exported" / f"model.{fmt}"
    assert export(["--checkpoint", str(checkpoint), "--format", fmt, "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["class_names"] == NAMES and meta["sample_rate"] == 8000
    program = _load(fmt, out)
    model = load_model(checkpoint).model
    with torch.no_grad():
        for clip in _clips():  # each at its own length, batch 1
            torch.testing.assert_close(program(clip[None]), model(clip[None]),
                                       atol=1e-4, rtol=0)
    # refused without --overwrite; a generator is refused by name
    assert export(["--checkpoint", str(checkpoint), "--format", fmt, "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err


def test_a_generators_exported_step_makes_the_samples_generate_makes(tmp_path, capsys):
    from wavedil.inference import generate

    torch.manual_seed(0)
    model = WaveNet(8, 8, 8, kernel_size=3, dilations=[1, 2, 4, 8], global_classes=3)
    ckpt = save_checkpoint(model, DataInfo(8000), tmp_path / "g.ckpt")
    out = tmp_path / "step.pt2"
    assert export(["--checkpoint", str(ckpt), "--format", "export", "--out", str(out)]) == 0
    meta = json.loads(out.with_name("step.pt2.json").read_text())
    assert meta["kind"] == "generator-step" and len(meta["windows"]) == 4
    program = torch.export.load(str(out)).module()
    model = load_model(ckpt).model
    speakers = torch.tensor([0, 2, 1])  # batch 3: the exported batch size is dynamic
    vector = model.global_vector(speakers)
    expected = generate(model, 120, seed=7, global_cond=speakers).values
    x = model.output.silence_values(3, "cpu")
    windows = [torch.zeros(3, *shape) for shape in meta["windows"]]
    generator, drawn = torch.Generator().manual_seed(7), []
    with torch.no_grad():
        for _ in range(120):
            params, windows = program(x, windows, vector)
            x = model.output.sample(params, 1.0, generator)
            drawn.append(x)
    assert torch.equal(torch.stack(drawn, 1), expected)
    assert export(["--checkpoint", str(ckpt), "--format", "torchscript",
                   "--out", str(tmp_path / "s.ts")]) == 2
    assert "--format export" in capsys.readouterr().err


@pytest.mark.parametrize("upsample", ["repeat", "linear"])
def test_a_vocoders_exported_upsampler_and_step_make_the_samples_generate_makes(
        upsample, tmp_path, capsys):
    from wavedil.inference import generate

    torch.manual_seed(0)
    mel = {"n_mels": 8, "hop_length": 32, "n_fft": 128}
    vocoder = WaveNet(8, 8, 8, dilations=[1, 2, 4], local_channels=8, local_hop_length=32,
                      local_upsample=upsample)
    ckpt = save_checkpoint(vocoder, DataInfo(8000, local_features=mel), tmp_path / "v.ckpt")
    out = tmp_path / "voc.pt2"
    assert export(["--checkpoint", str(ckpt), "--format", "export", "--out", str(out)]) == 0
    assert "upsampler voc.upsample.pt2" in capsys.readouterr().out
    meta = json.loads(out.with_name("voc.pt2.json").read_text())
    assert meta["upsampler"] == "voc.upsample.pt2" and meta["local_features"] == mel
    assert meta["preemphasis"] == 0.0 and meta["highpass_hz"] is None  # nothing to undo
    step = torch.export.load(str(out)).module()
    upsample_program = torch.export.load(str(tmp_path / meta["upsampler"])).module()
    model = load_model(ckpt).model
    frames = torch.randn(3, 8, 5, generator=torch.Generator().manual_seed(1))  # batch 3
    expected = generate(model, 150, seed=4, local_cond=frames).values
    local = upsample_program(frames)  # (3, 8, 160)
    x = model.output.silence_values(3, "cpu")
    windows = [torch.zeros(3, *shape) for shape in meta["windows"]]
    generator, drawn = torch.Generator().manual_seed(4), []
    with torch.no_grad():
        for t in range(150):
            params, windows = step(x, windows, None, local[..., t])
            x = model.output.sample(params, 1.0, generator)
            drawn.append(x)
    assert torch.equal(torch.stack(drawn, 1), expected)
    # the upsampler's file is checked before any work, as the step's is
    (tmp_path / "again.upsample.pt2").write_bytes(b"mine")
    assert export(["--checkpoint", str(ckpt), "--format", "export",
                   "--out", str(tmp_path / "again.pt2")]) == 2
    assert "already exist" in capsys.readouterr().err
    assert (tmp_path / "again.upsample.pt2").read_bytes() == b"mine"
    assert not (tmp_path / "again.pt2").exists()


def test_what_cannot_be_exported_is_refused_by_name(tmp_path, capsys):
    from wavedil.nn import ContextModule

    model = WaveNet(4, 4, 4, dilations=[1, 2], context=ContextModule(4, causal=True,
                                                                     dilations=(1,)))
    ckpt = save_checkpoint(model, DataInfo(8000), tmp_path / "c.ckpt")
    assert export(["--checkpoint", str(ckpt), "--format", "export",
                   "--out", str(tmp_path / "c.pt2")]) == 2
    assert "context module" in capsys.readouterr().err
    assert not (tmp_path / "c.pt2").exists()


def test_onnx_without_its_extra_says_what_to_install(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    out = tmp_path / "model.onnx"
    assert export(["--checkpoint", str(checkpoint), "--format", "onnx", "--out", str(out)]) == 2
    assert "pip install 'wavedil[onnx]'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("fail", ["export", "write"])
def test_a_failing_second_part_leaves_nothing_behind(fail, tmp_path, capsys, monkeypatch):
    # a vocoder exports two programs and a record: if the step (the second part) fails to
    # export or to be written, neither the upsampler's file nor anything else is left
    from wavedil.inference.generation import export as export_module

    mel = {"n_mels": 8, "hop_length": 32, "n_fft": 128}
    vocoder = WaveNet(8, 8, 8, dilations=[1, 2], local_channels=8, local_hop_length=32)
    ckpt = save_checkpoint(vocoder, DataInfo(8000, local_features=mel), tmp_path / "v.ckpt")
    out = tmp_path / "out" / "voc.pt2"
    if fail == "export":
        def broken(model):
            raise RuntimeError("the step would not trace")

        monkeypatch.setattr(export_module, "export_step", broken)
    else:
        real, calls = torch.export.save, []

        def second_fails(program, path, *args, **kwargs):
            calls.append(path)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
            return real(program, path, *args, **kwargs)

        monkeypatch.setattr(torch.export, "save", second_fails)
    args = ["--checkpoint", str(ckpt), "--format", "export", "--out", str(out)]
    if fail == "export":
        with pytest.raises(RuntimeError, match="would not trace"):
            export(args)
    else:
        assert export(args) == 2
        assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no part, no temporary file


@pytest.mark.parametrize(("fmt", "envelope"),
                         [("export", False), ("onnx", False), ("export", True), ("onnx", True)])
def test_a_parallel_vocoder_is_one_program_that_makes_its_audio(fmt, envelope, tmp_path,
                                                                capsys):
    """The source-filter one (``envelope=True``) too: its STFT and inverse are
    convolutions, which both formats hold."""
    from wavedil.models import ParallelWaveNet

    torch.manual_seed(0)
    mel = {"n_mels": 20, "hop_length": 64, "n_fft": 256}
    model = ParallelWaveNet(20, 64, 8, 16, 8, dilations=[1, 2, 4, 8], envelope=envelope,
                            sample_rate=8000, n_fft=256)
    ckpt = save_checkpoint(model, DataInfo(8000, local_features=mel), tmp_path / "p.ckpt")
    out = tmp_path / f"voc.{'pt2' if fmt == 'export' else 'onnx'}"
    assert export(["--checkpoint", str(ckpt), "--format", fmt, "--out", str(out)]) == 0
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert meta["kind"] == "parallel-vocoder" and meta["hop_length"] == 64
    assert meta["local_features"] == mel and meta["max_abs_difference"] < 1e-4
    frames = torch.randn(2, 20, 17) - 4
    noise = torch.randn(2, 17 * 64)
    expected = load_model(ckpt).model(frames, noise)
    if fmt == "export":
        got = torch.export.load(str(out)).module()(frames, noise)
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["frames", "noise"]
        got = torch.from_numpy(session.run(["audio"], {"frames": frames.numpy(),
                                                       "noise": noise.numpy()})[0])
    assert got.shape == (2, 17 * 64) and (got - expected).abs().max() < 1e-4
    assert export(["--checkpoint", str(ckpt), "--format", "torchscript",
                   "--out", str(tmp_path / "x.ts")]) == 2
    assert "--format export or onnx" in capsys.readouterr().err
