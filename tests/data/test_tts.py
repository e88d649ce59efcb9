import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.test_config import compose_train
from wavedil.data import ClassificationDataModule, SyntheticClasses, SyntheticVoices
from wavedil.data import espeak as espeak_module

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _espeak():
    try:
        return espeak_module.Espeak.get()
    except ImportError as err:  # neither the wheel nor a system library
        pytest.skip(str(err))


def test_voices_are_a_function_of_the_seed_within_the_ranges():
    make = lambda seed: SyntheticVoices({"a": "one"}, voices=50, seed=seed,  # noqa: E731
                                        pitch=(30, 60), rate=(140, 160)).draw()
    assert make(3) == make(3)
    assert make(3) != make(4)
    voices = make(3)
    assert all(30 <= v.pitch <= 60 and 140 <= v.rate <= 160 for v in voices)
    assert all(v.accent in espeak_module.ACCENTS and v.variant in espeak_module.VARIANTS
               for v in voices)
    assert len({(v.accent, v.variant) for v in voices}) > 25  # many distinct voices


def test_every_word_is_spoken_in_every_voice_at_the_data_rate():
    _espeak()
    voices = SyntheticVoices({"6": "six", "9": "nine"}, voices=3, seed=1)
    clips = voices.clips(["6", "9", "x"], sample_rate=8000)
    assert len(clips) == 6
    assert sorted(c.label for c in clips) == [0, 0, 0, 1, 1, 1]
    for clip in clips:
        seconds = clip.audio.numel() / 8000
        assert 0.15 < seconds < 1.5, clip.path
        assert clip.audio.abs().max() == pytest.approx(0.5)
        assert clip.speaker is None and clip.path.startswith("tts:")
    assert not torch.equal(clips[0].audio[:1000], clips[2].audio[:1000])  # voices differ


_DIGEST = """
import hashlib, torch
from wavedil.data import SyntheticVoices
clips = SyntheticVoices({"6": "six", "9": "nine"}, voices=4, seed=2,  # breathy variants
                        variants=["Alicia", "f2", "f3", "victor"]).clips(["6", "9"], 8000)
print(hashlib.sha256(torch.cat([c.audio for c in clips]).numpy().tobytes()).hexdigest())
"""


def test_a_fresh_process_synthesises_the_same_clips():
    """eSpeak NG carries state from one utterance to the next (clips differ by a
    few samples when spoken twice in one process), and seeds its breathy voices'
    noise from the clock; a run that draws the same voices from a fresh process,
    at another time, must still get the same training data."""
    _espeak()
    digests = []
    for _ in range(2):
        started = time.time()
        done = subprocess.run([sys.executable, "-c", _DIGEST], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(done.stdout.split())
        time.sleep(max(0.0, 1.1 - (time.time() - started)))  # another second on the clock
    assert digests[0] == digests[1] and len(digests[0]) == 1


def _high_band_share(audio, sample_rate, cutoff):
    power = torch.fft.rfft(audio).abs() ** 2
    freqs = torch.fft.rfftfreq(audio.numel(), 1 / sample_rate)
    return float(power[freqs > cutoff].sum() / power.sum())


def test_the_text_is_what_is_spoken():
    """'six' has two /s/ (energy above 3 kHz); 'nine' is voiced throughout."""
    _espeak()
    voices = SyntheticVoices({"six": "six", "nine": "nine"}, voices=5, seed=0)
    clips = voices.clips(["six", "nine"], sample_rate=16000)
    for six, nine in zip(clips[0::2], clips[1::2]):
        share = [_high_band_share(clip.audio, 16000, 3000) for clip in (six, nine)]
        assert share[0] > 1.5 * share[1], six.path


def test_synthetic_clips_join_the_training_split_only():
    _espeak()
    source = SyntheticClasses(sample_rate=8000, clip_length=800, timbres=["sine", "square"],
                              clips_per_class=4)
    plain = ClassificationDataModule(source)
    plain.setup("fit")
    voices = SyntheticVoices({"sine": "sign", "square": "square"}, voices=3)
    datamodule = ClassificationDataModule(source, tts=voices)
    datamodule.setup("fit")
    assert len(datamodule.datasets["train"]) == len(plain.datasets["train"]) + 6
    for split in ("val", "test"):
        assert [c.path for c in getattr(datamodule.splits, split)] == \
            [c.path for c in getattr(plain.splits, split)]
    synthetic = [c for c in datamodule.splits.train if c.path.startswith("tts:")]
    assert sorted(c.label for c in synthetic) == [0, 0, 0, 1, 1, 1]
    assert all(c.weight == 1.0 for c in datamodule.splits.train)


def test_synthetic_clips_carry_their_weight_into_training_batches():
    _espeak()
    source = SyntheticClasses(sample_rate=8000, clip_length=800, timbres=["sine", "square"],
                              clips_per_class=4)
    words = {"sine": "sign", "square": "square"}
    plain = SyntheticVoices(words, voices=3).clips(["sine", "square"], 8000)
    voices = SyntheticVoices(words, voices=3, weight=0.25)
    datamodule = ClassificationDataModule(source, tts=voices, batch_size=64)
    datamodule.setup("fit")
    train = datamodule.splits.train
    synthetic = [c for c in train if c.path.startswith("tts:")]
    assert len(synthetic) == 6 and all(c.weight == 0.25 for c in synthetic)
    assert all(c.weight == 1.0 for c in train if not c.path.startswith("tts:"))
    # the weight changes what the clips count for, not the clips themselves
    assert all(torch.equal(a.audio, b.audio) for a, b in zip(plain, synthetic, strict=True))
    batch = next(iter(datamodule.train_dataloader()))
    assert sorted(batch["weight"].tolist()) == [0.25] * 6 + [1.0] * (len(train) - 6)
    assert "weight" in next(iter(datamodule.val_dataloader()))  # all 1: scored alike


def test_fsdd_classifier_trains_on_synthetic_digits_unless_told_not_to(tmp_path):
    base = [f"output_dir={tmp_path}", "experiment=fsdd_classifier", "data.root=x"]
    voices = instantiate(compose_train(base).data.tts, _convert_="all")
    assert isinstance(voices, SyntheticVoices) and voices.voices == 400
    assert voices.words == {str(d): word for d, word in enumerate(DIGITS)}
    assert compose_train([*base, "data.tts.voices=7"]).data.tts.voices == 7
    assert compose_train([*base, "data.tts=null"]).data.tts is None
    assert voices.weight == 1.0
    assert compose_train([*base, "data.tts.weight=0.25"]).data.tts.weight == 0.25
    folder = compose_train([f"output_dir={tmp_path}", "experiment=folder_classifier",
                            "data.root=x"])
    assert folder.data.tts is None
    assert compose_train([f"output_dir={tmp_path}", "experiment=folder_classifier",
                          "data.root=x", "data/tts=digits"]).data.tts.voices == 400


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"words": {}}, "Expected words"),
    ({"words": {"a": " "}}, r"empty for \['a'\]"),
    ({"voices": 0}, "voices"),
    ({"pitch": (50, 120)}, r"pitch as \[min, max\] with min <= max within \[0, 99\]"),
    ({"rate": (200, 100)}, r"rate as \[min, max\]"),
    ({"peak": 0}, "peak in"),
    ({"noise_snr_db": (40, 10)}, r"noise_snr_db as \[min, max\]"),
    ({"accents": []}, "at least one accent"),
    ({"formant_scale": (0.3, 1.0)}, r"formant_scale as \[min, max\] with min <= max within"),
    ({"formant_scale": (1, 1), "formant_jitter": 0.6}, r"formant_jitter in \[0, 0.5\)"),
    ({"formant_jitter": 0.1}, "formant_jitter needs formant_scale"),
    ({"word_formant_jitter": -0.1}, r"word_formant_jitter in \[0, 0.5\)"),
    ({"weight": 0}, r"data.tts.weight > 0"),
    ({"weight": float("nan")}, r"data.tts.weight > 0"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticVoices(**{"words": {"a": "one"}, **kwargs})


def test_unknown_classes_accents_and_variants_are_named():
    _espeak()
    with pytest.raises(ValueError, match=r"names classes \['7'\].*expected some of \['0', '1'\]"):
        SyntheticVoices({"7": "seven"}, voices=1).clips(["0", "1"], 8000)
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        SyntheticVoices({"0": "zero"}, voices=1, accents=["xx-nowhere"]).clips(["0"], 8000)
    if _espeak().variants():
        with pytest.raises(ValueError, match=r"no voice variants \['nobody'\]"):
            SyntheticVoices({"0": "zero"}, voices=1, variants=["m1", "nobody"]).clips(["0"], 8000)


def test_a_missing_synthesiser_says_how_to_install_one(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    monkeypatch.setattr(espeak_module.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ImportError, match=r"wavedil\[tts\]"):
        espeak_module._find_espeak()


def test_noise_sets_the_snr_and_is_a_function_of_seed_voice_and_word():
    t = torch.arange(4000) / 8000
    clean = 0.5 * torch.sin(2 * torch.pi * 300 * t) * torch.hann_window(4000)
    clean[1000:1500] = 0.0  # digital silence, as in a synthesiser's stop closures
    voices = SyntheticVoices({"6": "six", "9": "nine"}, seed=3, noise_snr_db=(20, 20))
    noisy = voices._add_noise(clean, 0, "6")
    assert noisy.abs().max() == pytest.approx(0.5)
    assert (noisy[1000:1500] != 0).all()  # no exact silence left
    scale = float(noisy @ clean / (clean @ clean))  # the peak renormalisation
    residual = noisy - scale * clean
    snr = 10 * torch.log10((scale * clean).pow(2).mean() / residual.pow(2).mean())
    assert float(snr) == pytest.approx(20.0, abs=0.5)
    assert torch.equal(noisy, voices._add_noise(clean, 0, "6"))
    assert not torch.equal(noisy, voices._add_noise(clean, 1, "6"))
    assert not torch.equal(noisy, voices._add_noise(clean, 0, "9"))
    assert torch.equal(SyntheticVoices({"6": "six"}, seed=3)._add_noise(clean, 0, "6"), clean)


def test_clips_are_synthesised_once_per_process_and_settings():
    """Each leave-one-speaker-out fold asks again; all must train on the same clips."""
    _espeak()
    make = lambda seed: SyntheticVoices({"6": "six", "9": "nine"}, voices=2,  # noqa: E731
                                        seed=seed).clips(["6", "9"], 8000)
    first, again, other = make(11), make(11), make(12)
    assert all(torch.equal(a.audio, b.audio) for a, b in zip(first, again))
    assert [c.path for c in first] == [c.path for c in again]
    assert not torch.equal(first[0].audio, other[0].audio)
    relabelled = SyntheticVoices({"6": "six", "9": "nine"}, voices=2, seed=11).clips(
        ["9", "6"], 8000)
    assert [c.label for c in relabelled] == [1 - c.label for c in first]


def test_formant_factors_are_drawn_per_voice_within_the_ranges():
    words = {"6": "six"}
    assert all(v.formants == () for v in SyntheticVoices(words, voices=5).draw())
    uniform = SyntheticVoices(words, voices=40, seed=5, formant_scale=(0.9, 1.2)).draw()
    for voice in uniform:
        assert len(voice.formants) == espeak_module.N_FORMANTS and voice.formants[0] == 1.0
        assert len(set(voice.formants[1:])) == 1 and 0.9 <= voice.formants[1] <= 1.2
    assert len({v.formants for v in uniform}) == 40
    jittered = SyntheticVoices(words, voices=40, seed=5, formant_scale=(0.9, 1.2),
                               formant_jitter=0.05).draw()
    for voice in jittered:
        scale = voice.formants[4]
        assert voice.formants[4:] == (scale,) * 5
        assert all(abs(f / scale - 1) <= 0.05 + 1e-9 for f in voice.formants[1:4])
        assert len(set(voice.formants[1:4])) == 3
    assert "/f" in jittered[0].name and "/f" not in SyntheticVoices(words).draw()[0].name


def test_each_word_jitters_its_voices_formants_of_its_own():
    words = {"6": "six", "9": "nine"}
    plain = SyntheticVoices(words, voices=3, seed=2)
    voice = plain.draw()[0]
    assert plain._word_formants(voice, 0, "6") is voice  # no jitter: the voice as drawn
    scaled = SyntheticVoices(words, voices=3, seed=2, formant_scale=(1.1, 1.1),
                             word_formant_jitter=0.2)
    voice = scaled.draw()[1]
    said = {name: scaled._word_formants(voice, 1, name) for name in words}
    for spoken in said.values():
        assert (spoken.accent, spoken.variant, spoken.pitch) == (
            voice.accent, voice.variant, voice.pitch)
        assert spoken.formants[4:] == voice.formants[4:] and spoken.formants[0] == 1.0
        assert all(0.8 * 1.1 - 1e-9 <= f <= 1.2 * 1.1 + 1e-9 for f in spoken.formants[1:4])
    assert said["6"].formants != said["9"].formants  # each word its own
    assert said["6"] == scaled._word_formants(voice, 1, "6")  # a function of seed, voice, word
    assert said["6"] != scaled._word_formants(voice, 2, "6")
    alone = SyntheticVoices(words, voices=1, word_formant_jitter=0.1)  # without formant_scale
    spoken = alone._word_formants(alone.draw()[0], 0, "6")
    assert len(spoken.formants) == espeak_module.N_FORMANTS and spoken.formants[4:] == (1.0,) * 5


def test_a_variants_formant_lines_are_scaled_and_the_rest_kept():
    variant = ("language variant\nname male3\npitch 80 122\n"
               "formant 1  96  97 100\nformant 3 110 70 150 20\nbreath 0 2\n")
    factors = (1.0, 1.25, 0.8, 1.1, 1.0, 1.0, 1.0, 1.0, 1.5)
    text = espeak_module._scale_formants(variant, factors, "slot")
    lines = text.splitlines()
    assert lines[0] == "name slot" and "name male3" not in lines
    assert {"language variant", "pitch 80 122", "breath 0 2"} <= set(lines)
    assert "formant 1 120 97 100" in lines        # 96% x 1.25
    assert "formant 2 80 100 100" in lines        # a default formant (100%) x 0.8
    assert "formant 3 121 70 150 20" in lines     # 110% x 1.1, the rest as it was
    assert "formant 8 150 100 100" in lines
    assert sum(line.startswith("formant") for line in lines) == espeak_module.N_FORMANTS


def _centroid(audio, sample_rate, top=4000):
    power = torch.fft.rfft(audio).abs() ** 2
    freqs = torch.fft.rfftfreq(audio.numel(), 1 / sample_rate)
    keep = freqs < top
    return float((power[keep] * freqs[keep]).sum() / power[keep].sum())


def test_scaled_formants_move_the_spectrum_of_the_voice():
    """A shorter vocal tract (factors > 1) raises every resonance: the spectral
    centroid of a vowel-heavy word rises with the factor, pitch and rate unchanged."""
    engine = _espeak()
    if engine.data_path is None or engine._overlay is None:
        pytest.skip("this eSpeak NG does not report its voice data folder")
    voice = lambda f: espeak_module.Voice("en-us", "m3", 50, 150,  # noqa: E731
                                       (1.0,) + (f,) * 8 if f else ())
    centroids = {f: _centroid(engine.speak("nine", voice(f)), engine.sample_rate)
                 for f in (0.85, 1.0, 1.2)}
    plain = _centroid(engine.speak("nine", voice(None)), engine.sample_rate)
    assert centroids[0.85] < 0.95 * centroids[1.0] and centroids[1.2] > 1.08 * centroids[1.0]
    assert plain == pytest.approx(centroids[1.0], rel=0.03)  # factor 1: the variant itself
    lengths = [engine.speak("nine", voice(f)).numel() for f in (0.85, 1.2)]
    assert abs(lengths[0] - lengths[1]) < 0.05 * lengths[0]  # the rate is the voice's


_OVERLAY = """
from wavedil.data.espeak import Espeak
print(Espeak.get()._overlay)
"""


def test_the_private_voice_folder_is_removed_at_exit():
    engine = _espeak()
    if engine.data_path is None:
        pytest.skip("this eSpeak NG does not report its voice data folder")
    done = subprocess.run([sys.executable, "-c", _OVERLAY], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = done.stdout.strip()
    assert folder.startswith(tempfile.gettempdir()) and not Path(folder).exists()


def test_word_formant_jitter_reaches_the_synthesiser():
    engine = _espeak()
    if engine._overlay is None:
        pytest.skip("this eSpeak NG does not report its voice data folder")
    make = lambda jitter: SyntheticVoices(  # noqa: E731
        {"9": "nine"}, voices=1, seed=4, formant_scale=(1.0, 1.0),
        word_formant_jitter=jitter).clips(["9"], 8000)[0].audio
    still, jittered = make(0.0), make(0.3)
    assert _centroid(jittered, 8000) != pytest.approx(_centroid(still, 8000), rel=0.02)


def test_a_vocoder_trains_on_synthetic_voices_too(tmp_path):
    _espeak()
    from wavedil.data import GenerationDataModule

    source = SyntheticClasses(sample_rate=8000, clip_length=1600, timbres=["sine", "square"],
                              clips_per_class=4)
    mel = {"n_mels": 8, "n_fft": 128, "hop_length": 32}
    plain = GenerationDataModule(source, batch_size=4, crop_length=512, local_features=mel)
    plain.setup("fit")
    voices = SyntheticVoices({"sine": "sign", "square": "square"}, voices=3)
    datamodule = GenerationDataModule(source, batch_size=4, crop_length=512,
                                      local_features=mel, tts=voices, short_clips="pad")
    datamodule.setup("fit")
    synthetic = [c for c in datamodule.splits.train if c.path.startswith("tts:")]
    assert len(synthetic) == 6
    assert len(datamodule.splits.train) == len(plain.splits.train) + 6
    assert [c.path for c in datamodule.splits.val] == [c.path for c in plain.splits.val]
    batch = next(iter(datamodule.train_dataloader()))  # crops with their mel frames
    assert batch["local_cond"].shape == (4, 8, 512 // 32)
    base = [f"output_dir={tmp_path}", "experiment=fsdd_vocoder", "data.root=x"]
    assert compose_train(base).data.tts is None  # not by default
    assert compose_train([*base, "data/tts=digits"]).data.tts.voices == 400
