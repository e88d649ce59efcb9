"""Every experiment and every model preset composes and instantiates."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from wavedil.cli.train import build_loggers
from wavedil.config import use_data_info
from wavedil.data.sources import DataInfo
from wavedil.tasks import ClassificationTask, GenerationTask, ParallelVocoderTask

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def compose_train(overrides: list[str]):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=overrides)


def fake_info(cfg) -> DataInfo:
    """What a datamodule would report, without reading any data."""
    data = cfg.data
    rate = data.source.get("sample_rate", 8000)
    return DataInfo(
        sample_rate=rate,
        class_names=[str(i) for i in range(10)],
        speaker_names=["a", "b", "c", "d", "e"],
        global_label=data.get("global_label"),
        local_features=OmegaConf.to_container(data.local_features)
        if data.get("local_features") else None,
    )


def build(cfg):
    datamodule = instantiate(cfg.data, _convert_="all")  # builds the source; reads nothing
    info = fake_info(cfg)
    use_data_info(info)
    model = instantiate(cfg.model, _convert_="all")
    task = instantiate(cfg.task, _partial_=True, _convert_="all")(model=model, data_info=info)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=build_loggers(cfg.logger))
    return datamodule, model, task, trainer, info


def _root_override(cfg, tmp_path) -> list[str]:
    return [f"data.root={tmp_path}"] if OmegaConf.is_missing(cfg.data, "root") else []


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_experiment_composes_and_instantiates(experiment, tmp_path):
    overrides = [f"output_dir={tmp_path}"] + ([f"experiment={experiment}"] if experiment else [])
    cfg = compose_train(overrides + _root_override(compose_train(overrides), tmp_path))
    datamodule, model, task, trainer, info = build(cfg)
    assert isinstance(datamodule, pl.LightningDataModule)
    assert isinstance(trainer, pl.Trainer)
    assert cfg.name == (experiment or "tones_generator")
    crop = cfg.data.get("crop_length") or 2048
    audio = torch.randn(2, crop) * 0.1
    if isinstance(task, ParallelVocoderTask):
        frames = -(-2000 // info.hop_length)
        batch = {"audio": audio[:, :2000], "local_cond": torch.randn(2, info.n_mels, frames)}
        assert torch.isfinite(task.validation_step(batch, 0))
        assert cfg.trainer.gradient_clip_val is None  # manual optimisation clips itself
    elif isinstance(task, GenerationTask):
        batch = {"audio": audio}
        if info.global_label:
            batch["global_cond"] = torch.tensor([0, 1])
        if info.local_features:
            batch["local_cond"] = torch.randn(2, info.n_mels, crop // info.hop_length + 1)
        assert torch.isfinite(task.step(batch, "val"))
    else:
        assert isinstance(task, ClassificationTask)
        assert model(audio).shape == (2, 10)


# vocoders that need mel frames are composed on the vocoder data below
@pytest.mark.parametrize("model", [m for m in MODELS if m != "vocoder_lpc"
                                   and not m.startswith("parallel_vocoder")])
def test_every_model_preset_instantiates(model, tmp_path):
    task = "classification" if model.startswith("classifier") else "generation"
    data = "synthetic_classes" if task == "classification" else "tones"
    cfg = compose_train([f"output_dir={tmp_path}", f"model={model}", f"task={task}",
                         f"data={data}"])
    _, net, *_ = build(cfg)
    assert sum(p.numel() for p in net.parameters()) > 0
    expected = {"classifier": "WaveformFrontend", "classifier_logmel": "LogMelFrontend",
                "classifier_mfcc": "MFCCFrontend"}
    if model in expected:
        assert type(net.frontend).__name__ == expected[model]
    bodies = {"classifier_context": "ContextModule", "classifier_aspp": "ASPP1d"}
    if model.startswith("classifier"):
        assert type(net.body).__name__ == bodies[model] if model in bodies else net.body is None
        assert net(torch.randn(2, 4000)).shape == (2, net.num_classes)


def test_front_end_is_a_config_group(tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=synthetic_classifier",
                         "model/frontend=logmel", "model.frontend.n_mels=24"])
    _, net, *_ = build(cfg)
    assert type(net.frontend).__name__ == "LogMelFrontend" and net.frontend.n_mels == 24


@pytest.mark.parametrize("model", ["wavenet", "wavenet_small"])
def test_output_distribution_is_a_config_group(model, tmp_path):
    base = [f"output_dir={tmp_path}", f"model={model}"]
    _, default, *_ = build(compose_train(base))
    assert type(default.output).__name__ == "MuLawCategorical"
    assert default.input_encoding == "embedding"
    _, mixture, *_ = build(compose_train([*base, "model/output=logistic_mixture",
                                          "model.output.components=5"]))
    assert type(mixture.output).__name__ == "DiscretizedLogisticMixture"
    assert mixture.input_encoding == "continuous" and mixture.output.bits == 16
    assert mixture(torch.rand(2, 300) * 2 - 1).shape == (2, 15, 300)
    assert mixture.stack.receptive_field == default.stack.receptive_field  # only the ends differ


def test_fsdd_logmel_experiment_changes_only_the_front_end(tmp_path):
    base = [f"output_dir={tmp_path}", f"data.root={tmp_path}"]
    mfcc = OmegaConf.to_container(compose_train([*base, "experiment=fsdd_classifier"]))
    logmel = OmegaConf.to_container(compose_train([*base, "experiment=fsdd_classifier_logmel"]))
    front = mfcc["model"].pop("frontend"), logmel["model"].pop("frontend")
    assert (mfcc.pop("name"), logmel.pop("name")) == ("fsdd_classifier", "fsdd_classifier_logmel")
    assert mfcc == logmel  # data, augmentation, voices, stack, training: all shared
    assert front[0]["_target_"].endswith("MFCCFrontend") and front[0]["n_mfcc"] == 13
    assert front[1]["_target_"].endswith("LogMelFrontend") and front[1]["n_mels"] == 40
    masks = front[0]["spec_augment"], front[1]["spec_augment"]
    for key in ("freq_masks", "time_masks", "time_mask_width"):
        assert masks[0][key] == masks[1][key]  # the same augmentation of the features
    assert masks[0]["freq_mask_width"] / 13 == pytest.approx(masks[1]["freq_mask_width"] / 40,
                                                             rel=0.25)  # as wide, relative
    assert front[0]["warp"] == front[1]["warp"]


def test_conditioning_follows_the_data(tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=fsdd_generator",
                         f"data.root={tmp_path}",
                         "+data.local_features={n_mels: 20, hop_length: 64, n_fft: 256}"])
    _, net, *_ = build(cfg)
    assert net.global_classes == 5 and net.local_channels == 20


def test_distributed_overrides_are_valid(tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "trainer.accelerator=cpu",
                         "trainer.devices=2", "trainer.strategy=ddp"])
    trainer = instantiate(cfg.trainer)
    assert type(trainer.strategy).__name__ == "DDPStrategy" and trainer.num_devices == 2
    # as many GPUs as this machine has (the composition is checked for 4 either way)
    devices = max(torch.cuda.device_count(), 1) if torch.cuda.is_available() else 4
    gpu = compose_train([f"output_dir={tmp_path}", "trainer=ddp", f"trainer.devices={devices}"])
    assert (gpu.trainer.accelerator, gpu.trainer.devices, gpu.trainer.strategy) == (
        "gpu", devices, "ddp")
    if torch.cuda.is_available():
        assert instantiate(gpu.trainer).num_devices == devices


@pytest.mark.parametrize("preset", ["default", "cpu", "gpu", "ddp"])
def test_trainer_presets_choose_the_precision_by_hardware(preset, tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", f"trainer={preset}"])
    assert cfg.trainer.precision == "auto"
    assert cfg.trainer._target_ == "wavedil.tasks.Trainer"


@pytest.mark.parametrize("native", ["1", "0"])
def test_the_cpu_bf16_preset_pins_bf16_whatever_the_probe_says(native, tmp_path, monkeypatch):
    monkeypatch.setenv("WAVEDIL_NATIVE_BF16", native)
    cfg = compose_train([f"output_dir={tmp_path}", "trainer=cpu_bf16"])
    assert (cfg.trainer.precision, cfg.trainer.accelerator) == ("bf16-mixed", "cpu")
    trainer = instantiate(cfg.trainer)
    assert type(trainer.precision_plugin).__name__ == "MixedPrecision"
    pinned = instantiate(compose_train([f"output_dir={tmp_path}", "trainer.precision=32-true",
                                        "trainer.accelerator=cpu"]).trainer)
    assert type(pinned.precision_plugin).__name__ == "Precision"  # float32 stays float32


@pytest.mark.parametrize("override,message", [
    ("model.dilations=[1,0,4]", r"dilations\[1\]"),
    ("model.kernel_size=0", "kernel_size"),
    ("model.input_encoding=wavelets", "input_encoding"),
])
def test_bad_config_values_fail_at_construction_naming_the_parameter(override, message, tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", override])
    with pytest.raises(InstantiationException, match=message):
        build(cfg)


def test_bad_classifier_pooling_is_refused(tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=synthetic_classifier",
                         "model.pooling=median"])
    with pytest.raises(InstantiationException, match="pooling.*'median'"):
        build(cfg)


def test_augmentation_is_a_config_group_built_at_the_data_rate(tmp_path):
    from wavedil.data import Augment

    cfg = compose_train([f"output_dir={tmp_path}", "experiment=synthetic_classifier",
                         "data/augment=speech", "data.augment.p=1.0"])
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    augment = datamodule.datasets["train"].augment
    assert isinstance(augment, Augment) and augment.p == 1.0
    assert augment.sample_rate == datamodule.info.sample_rate
    assert datamodule.datasets["val"].augment is None  # training only
    off = compose_train([f"output_dir={tmp_path}", "experiment=synthetic_classifier"])
    assert off.data.augment is None
    fsdd = compose_train([f"output_dir={tmp_path}", "experiment=fsdd_classifier",
                          "data.root=x", "data.augment=null"])
    assert fsdd.data.augment is None


@pytest.mark.parametrize("experiment", ["fsdd_vocoder", "folder_vocoder"])
@pytest.mark.parametrize("output", ["mulaw", "logistic_mixture"])
@pytest.mark.parametrize("model", ["vocoder_cpu", "vocoder_gpu"])
def test_vocoder_presets_compose_with_both_outputs(experiment, output, model, tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", f"experiment={experiment}",
                         f"data.root={tmp_path}", f"model/output={output}", f"model={model}"])
    _, net, task, *_ = build(cfg)
    mel = cfg.data.local_features
    assert net.local_channels == mel.n_mels and net.local_upsampler.hop_length == mel.hop_length
    assert net.global_classes is None  # the voice is in the frames, not in an id
    assert type(net.output).__name__ == {"mulaw": "MuLawCategorical",
                                         "logistic_mixture": "DiscretizedLogisticMixture"}[output]
    crop = cfg.data.crop_length
    assert crop % mel.hop_length == 0
    if model == "vocoder_cpu":
        assert net.receptive_field <= crop  # every crop holds a full context
    batch = {"audio": torch.rand(2, crop) * 0.2 - 0.1,
             "local_cond": torch.randn(2, mel.n_mels, crop // mel.hop_length)}
    assert torch.isfinite(task.step(batch, "val"))


def test_the_shipped_vocoders_are_source_filter_and_parallel_from_tts_like_frames(tmp_path):
    base = [f"output_dir={tmp_path}", f"data.root={tmp_path}"]
    cfg = compose_train([*base, "experiment=fsdd_vocoder"])
    _, net, *_ = build(cfg)
    assert net.linear_prediction is not None and net.preemphasis == 0.85
    assert net.highpass_hz is None and net.sample_rate == 8000
    mel = cfg.data.local_features
    assert (mel.n_mels, mel.n_fft, mel.hop_length) == (32, 400, 100)
    parallel = compose_train([*base, "experiment=fsdd_parallel_vocoder"])
    assert parallel.data.local_features == mel and parallel.data.crop_length == cfg.data.crop_length
    plain = compose_train([*base, "experiment=fsdd_vocoder", "model=vocoder_cpu"])
    assert plain.model.get("linear_prediction") is None and plain.model.preemphasis == 0
    fine = compose_train([*base, "experiment=fsdd_vocoder", "data=fsdd_vocoder_fine"]).data
    assert (fine.local_features.n_mels, fine.local_features.hop_length, fine.crop_length) == (
        40, 64, 2048) and list(fine.source.test_speakers) == ["george"]


@pytest.mark.parametrize("mel", [None, "{n_mels: 40, hop_length: 64, n_fft: 256}"])
def test_the_source_filter_vocoder_reads_its_mel_settings_from_the_data(mel, tmp_path):
    extra = [] if mel is None else [f"data.local_features={mel}", "data.crop_length=2048"]
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=fsdd_vocoder",
                         f"data.root={tmp_path}", "model=vocoder_lpc", *extra])
    _, net, task, *_ = build(cfg)
    lp, settings = net.linear_prediction, cfg.data.local_features
    assert (lp.n_mels, lp.n_fft, lp.hop_length) == (settings.n_mels, settings.n_fft,
                                                    settings.hop_length)
    assert lp.order == 12 and net.preemphasis == 0.85
    crop = cfg.data.crop_length
    batch = {"audio": torch.rand(2, crop) * 0.2 - 0.1,
             "local_cond": torch.randn(2, settings.n_mels, crop // settings.hop_length + 1)}
    assert torch.isfinite(task.step(batch, "val"))
    with pytest.raises(InstantiationException, match="MuLawCategorical"):
        build(compose_train([f"output_dir={tmp_path}", "experiment=fsdd_vocoder",
                             f"data.root={tmp_path}", "model=vocoder_lpc",
                             "model/output=logistic_mixture"]))


@pytest.mark.parametrize("model", ["parallel_vocoder", "parallel_vocoder_gpu",
                                   "parallel_vocoder_envelope"])
def test_the_parallel_vocoder_presets_make_frames_times_hop_samples(model, tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=folder_parallel_vocoder",
                         f"data.root={tmp_path}", f"model={model}"])
    _, net, task, *_ = build(cfg)
    mel = cfg.data.local_features
    assert net.local_channels == mel.n_mels and net.hop_length == mel.hop_length
    assert isinstance(task, ParallelVocoderTask) and cfg.trainer.gradient_clip_val is None
    if model == "parallel_vocoder_gpu":
        assert len(net.stack) == 30 and net.receptive_field == 6139
        # Parallel WaveGAN's 128 "gate channels" are the dilated convs' outputs
        assert {block.conv.out_channels for block in net.stack.blocks} == {128}
    # the envelope's STFT takes the frames' own settings
    assert (net.envelope is not None) == (model == "parallel_vocoder_envelope")
    if net.envelope is not None:
        assert net.envelope.n_fft == mel.n_fft and net.envelope.n_mels == mel.n_mels
    with torch.no_grad():
        assert net(torch.randn(1, mel.n_mels, 3)).shape == (1, 3 * mel.hop_length)


def test_the_vocoder_holds_its_test_speaker_out_and_never_picks_a_checkpoint_by_it(tmp_path):
    cfg = compose_train([f"output_dir={tmp_path}", "experiment=fsdd_vocoder",
                         f"data.root={tmp_path}"])
    assert cfg.data.source.split == "speaker" and list(cfg.data.source.test_speakers) == ["george"]
    assert cfg.data.source.val_speakers is None and cfg.test_ckpt == "last"
