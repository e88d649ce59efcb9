"""The models can learn: a tiny generator overfits a sine (with either output
distribution), a tiny classifier separates three synthetic timbres."""

import math

import torch
import torch.nn.functional as F

from wavedil.data import SyntheticClasses
from wavedil.data.functional import pad_batch
from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.inference import generate
from wavedil.models import WaveNet, WaveNetClassifier
from wavedil.nn import WaveformFrontend


def sine(samples: int) -> torch.Tensor:
    return 0.8 * torch.sin(2 * math.pi * 220 * torch.arange(samples) / 8000).unsqueeze(0)


def fit(net: WaveNet, audio: torch.Tensor, steps: int, lr: float) -> list[float]:
    """Teacher-forced Adam steps on one clip ``(1, T)``; the loss at each step."""
    target = net.output.encode(audio)
    inputs = net.shift_right(target)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = net.output.nll(net(inputs), target).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_tiny_generator_overfits_a_sine():
    torch.manual_seed(0)
    net = WaveNet(16, 16, 32, dilations=[1, 2, 4, 8, 16])
    losses = fit(net, sine(1024), steps=150, lr=1e-2)
    assert losses[0] > 5.0  # about ln 256 at the start
    assert min(losses[-10:]) < 0.1 * losses[0], losses[::15]


def test_tiny_mixture_generator_learns_a_sine_and_continues_it():
    torch.manual_seed(0)
    net = WaveNet(16, 16, 32, dilations=[1, 2, 4, 8, 16], input_encoding="continuous",
                  output=DiscretizedLogisticMixture(3))
    audio = sine(1424)
    losses = fit(net, audio[:, :1024], steps=200, lr=1e-3)
    assert losses[0] > 11.0  # about ln 65536 (16-bit values) at the start
    assert min(losses[-10:]) < 0.65 * losses[0], losses[::20]
    # greedy generation primed with the sine carries it on
    continued = generate(net, 400, prime=audio[:, 824:1024], temperature=0.0).audio
    assert (continued - audio[:, 1024:]).abs().max() < 0.15


def test_tiny_classifier_learns_three_timbres():
    torch.manual_seed(0)
    source = SyntheticClasses(clip_length=800, clips_per_class=24, seed=1)
    splits = source.load()
    clf = WaveNetClassifier(3, WaveformFrontend(mu_law=True), 16, 16, 32, kernel_size=3,
                            dilations=[1, 2, 4, 8], pooling="mean", dropout=0.0)
    opt = torch.optim.Adam(clf.parameters(), lr=1e-2)
    audio, lengths = pad_batch([c.audio for c in splits.train])
    labels = torch.tensor([c.label for c in splits.train])
    for _epoch in range(30):
        order = torch.randperm(len(labels))
        for batch in order.split(24):
            loss = F.cross_entropy(clf(audio[batch], lengths[batch]), labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.eval()
    test_audio, test_lengths = pad_batch([c.audio for c in splits.test])
    test_labels = torch.tensor([c.label for c in splits.test])
    with torch.no_grad():
        accuracy = (clf(test_audio, test_lengths).argmax(-1) == test_labels).float().mean()
    assert accuracy > 0.9, f"accuracy {accuracy:.2f} (chance 0.33)"
