"""Unsupervised adaptation (:mod:`wavedil.inference.classification.adapt`) and derived
checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tests.conftest import save_checkpoint
from wavedil.checkpoint import CheckpointError, load_model, save_derived
from wavedil.data.functional import pad_batch
from wavedil.data.sources import DataInfo
from wavedil.inference.classification.adapt import adapt, information_maximization
from wavedil.models import WaveNetClassifier
from wavedil.nn import MFCCFrontend

K = 4


def _tones(count: int = 32) -> list[torch.Tensor]:
    """Clips of four kinds (tone pitches), several lengths."""
    t = torch.arange(2400) / 8000
    clips = []
    for i in range(count):
        freq = (200, 450, 900, 1800)[i % 4] * (1 + 0.02 * (i // 4))
        clips.append(0.5 * torch.sin(2 * math.pi * freq * t[: 1600 + 100 * (i % 8)]))
    return clips


def _collapsed() -> WaveNetClassifier:
    """A classifier whose predictions all name class 0 (a shifted decision)."""
    torch.manual_seed(0)
    model = WaveNetClassifier(K, MFCCFrontend(8000, n_mfcc=13), 16, 16, 16, dilations=[1, 2])
    with torch.no_grad():
        model.classify.bias[0] += 6.0
    return model.eval()


def _predictions(model, clips):
    audio, lengths = pad_batch(clips)
    with torch.no_grad():
        return model(audio, lengths)


def test_information_maximization_bounds():
    confident_spread = torch.eye(K) * 60
    confident_collapsed = torch.zeros(K, K)
    confident_collapsed[:, 0] = 60
    assert information_maximization(confident_spread).item() == pytest.approx(-math.log(K),
                                                                             abs=1e-4)
    assert information_maximization(confident_collapsed).item() == pytest.approx(0, abs=1e-4)
    assert information_maximization(torch.zeros(K, K)).item() == pytest.approx(0, abs=1e-6)
    values = information_maximization(torch.randn(64, K) * 3)
    assert -math.log(K) <= values.item() <= math.log(K)
    # the spread term weighted: confident and spread reaches -diversity * log K
    assert information_maximization(confident_spread, 3.0).item() == pytest.approx(
        -3 * math.log(K), abs=1e-4)
    assert information_maximization(confident_collapsed, 3.0).item() == pytest.approx(0, abs=1e-4)


class _Bands(nn.Module):
    """Log energies in the four tones' bands, standardised per clip, through a linear
    layer that is right but for a bias toward class 0: every clip lands on class 0,
    the true class second (the held-out speaker's case, in miniature)."""

    def __init__(self, shift: float = 3.0) -> None:
        super().__init__()
        self.linear = nn.Linear(K, K)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(K))
            self.linear.bias.copy_(torch.tensor([shift, 0.0, 0.0, 0.0]))

    def forward(self, audio, lengths):
        spec = torch.fft.rfft(audio, n=8000).abs().pow(2)  # 1 Hz bins
        edges = [(100, 300), (300, 650), (650, 1300), (1300, 2600)]
        bands = torch.stack([spec[:, a:b].sum(-1) for a, b in edges], -1).clamp_min(1e-8).log()
        bands = bands - bands.mean(-1, keepdim=True)
        return self.linear(bands / bands.std(-1, keepdim=True))


def test_adaptation_undoes_a_shifted_decision():
    clips = _tones()
    labels = torch.arange(len(clips)) % K
    model = _Bands()
    before = _predictions(model, clips)
    assert set(before.argmax(-1).tolist()) == {0}  # 25% right
    history = adapt(model, clips, epochs=10, lr=3e-2, batch_size=16,
                    generator=torch.Generator().manual_seed(0), progress=False)
    after = _predictions(model, clips)
    assert len(history) == 10 and history[-1] < history[0]
    assert information_maximization(after, 3.0) < information_maximization(before, 3.0) - 0.3
    assert (after.argmax(-1) == labels).float().mean() > 0.9  # no label was used
    assert not model.training


def test_adaptation_is_reproducible_for_a_seed():
    clips = _tones(16)
    runs = []
    for _ in range(2):
        model = _collapsed()
        adapt(model, clips, epochs=2, batch_size=8, generator=torch.Generator().manual_seed(3),
              progress=False)
        runs.append(model.classify.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], _collapsed().classify.weight)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 1}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"diversity": -1.0}, "diversity"),
])
def test_adaptation_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adapt(_collapsed(), _tones(4), progress=False, **kwargs)


def test_adaptation_stops_on_a_non_finite_objective():
    clips = _tones(4)
    clips[1] = clips[1] * float("nan")
    with pytest.raises(FloatingPointError, match="finite"):
        adapt(_Bands(), clips, batch_size=4, progress=False)


def test_adaptation_needs_two_clips():
    with pytest.raises(ValueError, match="at least 2 clips"):
        adapt(_collapsed(), _tones(1), progress=False)


def test_derived_checkpoint_carries_new_weights_and_keeps_the_source(tmp_path):
    source = save_checkpoint(_collapsed(), DataInfo(8000, class_names=list("abcd")),
                             tmp_path / "source.ckpt", task="classification")
    original = source.read_bytes()
    loaded = load_model(source, kind="classifier")
    adapt(loaded.model, _tones(16), epochs=1, batch_size=8, progress=False)
    out = save_derived(source, loaded.model, tmp_path / "adapted.ckpt", adaptation={"epochs": 1})
    again = load_model(out, kind="classifier")
    for (name, a), b in zip(loaded.model.state_dict().items(), again.model.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert again.info.class_names == ["a", "b", "c", "d"]
    record = torch.load(out, weights_only=True)
    assert record["wavedil"]["adaptation"] == {"epochs": 1}
    assert "optimizer_states" not in record
    assert source.read_bytes() == original
    with pytest.raises(CheckpointError, match="Refusing to overwrite"):
        save_derived(source, loaded.model, source)
