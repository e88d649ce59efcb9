import pytest
import torch

from wavedil.data import (
    ClassificationDataModule,
    Clip,
    ClipDataset,
    CropDataset,
    GenerationDataModule,
    SyntheticClasses,
    SyntheticTones,
    collate_clips,
)
from wavedil.nn import LogMelFrontend


def _clips(lengths, label=True):
    return [Clip(torch.randn(n) * 0.1, label=i % 2 if label else None, speaker=0, path=f"c{i}")
            for i, n in enumerate(lengths)]


def test_crops_have_fixed_length_and_short_clips_are_padded_or_skipped():
    clips = _clips([500, 3000, 4000])
    ds = CropDataset(clips, 1000, train=True)
    assert all(ds[i]["audio"].shape == (1000,) for i in range(3))
    assert torch.all(ds[0]["audio"][500:] == 0)
    with pytest.warns(UserWarning, match="Skipping 1 of 3 clips"):
        skipped = CropDataset(clips, 1000, train=True, short_clips="skip")
    assert len(skipped) == 2
    with pytest.raises(ValueError, match="No clips of at least"):
        CropDataset(_clips([10]), 1000, train=True, short_clips="skip")


def test_eval_crops_are_repeatable_and_train_crops_vary():
    clips = _clips([20000])
    val = CropDataset(clips, 1000, train=False)
    assert torch.equal(val[0]["audio"], val[0]["audio"])
    train = CropDataset(clips, 1000, train=True)
    assert not all(torch.equal(train[0]["audio"], train[0]["audio"]) for _ in range(5))


def test_local_features_align_with_crops():
    clip = Clip(torch.randn(4096) * 0.1, path="x")
    mel = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=8, normalize=False)
    ds = CropDataset([clip], 1024, train=False, mel=mel)
    item = ds[0]
    assert item["local_cond"].shape == (8, 16)
    full = mel(clip.audio.unsqueeze(0)).features[0]
    # find the crop's offset and check the frames are the clip's frames from there
    offset = next(o for o in range(0, 4096 - 1023, 64)
                  if torch.equal(clip.audio[o:o + 1024], item["audio"]))
    torch.testing.assert_close(item["local_cond"], full[:, offset // 64: offset // 64 + 16])
    with pytest.raises(ValueError, match="multiple of the mel hop_length 64"):
        CropDataset([clip], 1000, train=False, mel=mel)


def test_global_labels_required_when_conditioning():
    with pytest.raises(ValueError, match="Expected a label for every clip"):
        CropDataset(_clips([100], label=False), 50, train=True, global_label="label")
    with pytest.raises(ValueError, match="Expected a label for every clip"):
        ClipDataset(_clips([100], label=False))


def test_collate_pads_and_records_lengths():
    ds = ClipDataset(_clips([300, 500]), max_length=400)
    batch = collate_clips([ds[0], ds[1]])
    assert batch["audio"].shape == (2, 400)
    assert batch["lengths"].tolist() == [300, 400]
    assert batch["label"].tolist() == [0, 1]


def test_datamodules_over_synthetic_sources():
    gen = GenerationDataModule(SyntheticTones, batch_size=4, crop_length=512)
    gen.setup("fit")
    batch = next(iter(gen.train_dataloader()))
    assert batch["audio"].shape == (4, 512)
    assert gen.info.sample_rate == 8000 and gen.info.global_label is None
    cls = ClassificationDataModule(SyntheticClasses, batch_size=5)
    cls.setup("fit")
    batch = next(iter(cls.val_dataloader()))
    assert batch["audio"].shape[0] == 5 and cls.info.class_names == ["sine", "square", "sawtooth"]


def test_batches_are_pinned_when_training_on_cuda_only():
    from types import SimpleNamespace

    def fake_trainer(device: str):
        return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))

    auto = GenerationDataModule(SyntheticTones, batch_size=4, crop_length=512)
    assert auto._pin(None) is False and auto._pin(fake_trainer("cpu")) is False
    assert auto._pin(fake_trainer("cuda")) is True  # page-locked for async copies
    never = GenerationDataModule(SyntheticTones, pin_memory=False)
    assert never._pin(fake_trainer("cuda")) is False
    auto.setup("fit")
    assert auto.train_dataloader().pin_memory is False  # no trainer: CPU


def test_root_handling_errors():
    from functools import partial

    from wavedil.data import FSDD
    with pytest.raises(ValueError, match="set data.root"):
        GenerationDataModule(partial(FSDD))
    with pytest.raises(ValueError, match="reads no files"):
        GenerationDataModule(SyntheticTones, root="/somewhere")


def test_synthetic_tones_are_well_formed_across_many_clips():
    source = SyntheticTones(clip_length=4000, num_train=300, notes=(1, 6))
    splits = source.load()
    for clip in splits.train + splits.val + splits.test:
        assert clip.audio.shape == (4000,)
        assert torch.isfinite(clip.audio).all() and 0.2 < clip.audio.abs().max() <= 1.0


def test_synthetic_data_is_deterministic():
    a = SyntheticTones(num_train=4).clip("train", 2)
    b = SyntheticTones(num_train=4).clip("train", 2)
    assert torch.equal(a, b) and a.abs().max() <= 1.0
    assert not torch.equal(a, SyntheticTones(num_train=4, seed=1).clip("train", 2))
    with pytest.raises(ValueError, match="timbres"):
        SyntheticClasses(timbres=("sine", "kazoo"))


def _interior_frames_agree(item, mel, hop: int = 64, n_fft: int = 256) -> None:
    """The crop's own mel frames equal its conditioning wherever a frame's window lies
    inside the crop: audio and frames belong together."""
    own = mel(item["audio"].unsqueeze(0)).features[0]  # (F, T // hop + 1)
    reach = n_fft // 2 // hop
    frames = item["local_cond"].shape[-1]
    torch.testing.assert_close(own[:, reach:frames - reach], item["local_cond"][:, reach:-reach],
                               atol=1e-3, rtol=1e-3)


def test_augmented_crops_carry_the_frames_of_their_augmented_audio():
    from wavedil.data import Augment

    torch.manual_seed(0)
    t = torch.arange(16000) / 8000
    clip = Clip((0.3 * torch.sin(2 * torch.pi * 180 * t) * torch.sin(3 * t)
                 + 0.01 * torch.randn(16000)), path="x")
    mel = LogMelFrontend(8000, n_fft=256, hop_length=64, n_mels=16, normalize=False)
    identity = CropDataset([clip], 1024, train=True, mel=mel,
                           augment=lambda audio, generator=None: audio)
    item = identity[(0, 3)]
    assert item["audio"].shape == (1024,) and item["local_cond"].shape == (16, 16)
    full = mel(clip.audio.unsqueeze(0)).features[0]
    offset = next(o for o in range(0, 16000 - 1023, 64)
                  if torch.equal(clip.audio[o:o + 1024], item["audio"]))
    # the same frames as the whole clip's: the piece around the crop gave them context
    torch.testing.assert_close(item["local_cond"], full[:, offset // 64: offset // 64 + 16],
                               atol=1e-4, rtol=1e-4)
    faster = CropDataset([clip], 1024, train=True, mel=mel,
                         augment=Augment(8000, speed=(1.15, 1.2), gain_db=None,
                                         shift_seconds=None, noise_snr_db=None, p=1.0))
    item = faster[(0, 5)]
    assert item["audio"].shape == (1024,) and item["local_cond"].shape == (16, 16)
    _interior_frames_agree(item, mel)
    assert not any(torch.equal(clip.audio[o:o + 1024], item["audio"])
                   for o in range(0, 16000 - 1023, 64))  # really perturbed
    evaluation = CropDataset([clip], 1024, train=False, mel=mel, augment=Augment(8000))
    assert evaluation.augment is None  # validation and test crops stay as recorded


def test_the_place_in_the_epoch_is_saved_and_skipped_once_on_resume():
    # the datamodule's state says how many batches of the epoch were done; a loader built
    # after it was restored (whenever Lightning builds it) skips them, once
    from types import SimpleNamespace

    def trainer(processed: int, training: bool = True) -> SimpleNamespace:
        progress = SimpleNamespace(current=SimpleNamespace(processed=processed))
        loop = SimpleNamespace(restarting=False, epoch_loop=SimpleNamespace(
            batch_progress=progress))
        return SimpleNamespace(training=training, fit_loop=loop, global_rank=0, world_size=1,
                               strategy=SimpleNamespace(root_device=torch.device("cpu")))

    saved = GenerationDataModule(SyntheticTones, batch_size=4, crop_length=512)
    saved.trainer = trainer(processed=3)
    assert saved.state_dict() == {"train_batches_done": 3}
    fresh = GenerationDataModule(SyntheticTones, batch_size=4, crop_length=512)
    fresh.setup("fit")
    whole = [b["audio"] for b in fresh.train_dataloader()]
    fresh.trainer = trainer(processed=0)
    fresh.load_state_dict(saved.state_dict())
    resumed = [b["audio"] for b in fresh.train_dataloader()]
    assert len(resumed) == len(whole) - 3
    assert all(torch.equal(a, b) for a, b in zip(resumed, whole[3:], strict=True))
    assert len(list(fresh.train_dataloader())) == len(whole)  # the next epoch: all of it
