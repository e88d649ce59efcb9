"""Can a small parallel vocoder learn one voiced clip? Trains a tiny
:class:`~wavedil.models.ParallelWaveNet` on a synthetic vowel (a gliding harmonic
series under a formant-like envelope) with the multi-resolution STFT loss, and prints
a JSON line every ``--every`` updates: the two loss terms and the log-mel distance of
its output from the clip, beside Griffin-Lim's from the same frames.

    python bench/studies/parallel_one_clip.py --steps 400 --noise fresh fixed
    python bench/studies/parallel_one_clip.py --steps 400 --envelope   # source-filter

``--noise fresh`` draws new input noise at every update (as training does);
``fixed`` feeds the same noise every time, so the network only has to memorise one
mapping. Frames: 16 bands every 128 samples from 512-sample windows at 8 kHz (coarse,
so that Griffin-Lim is not close to lossless).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from wavedil.inference.vocoding import griffin_lim, mel_frames
from wavedil.losses import MultiResolutionSTFTLoss
from wavedil.metrics import analysis_settings, log_mel_distance
from wavedil.models import ParallelWaveNet

RATE = 8000
MEL = {"n_mels": 16, "hop_length": 128, "n_fft": 512}


def harmonic_vowel(samples: int = 4096, f0: tuple[float, float] = (140.0, 180.0)
                   ) -> torch.Tensor:
    """Eleven harmonics of a pitch gliding from ``f0[0]`` to ``f0[1]`` Hz, the 3rd,
    4th and 8th stronger (formant-like), a half-sine envelope, peak 0.3, and a faint
    noise floor."""
    t = torch.arange(samples, dtype=torch.float64) / RATE
    pitch = f0[0] + (f0[1] - f0[0]) * t / t[-1]
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / RATE
    x = sum((0.5 / k) * (1.0 if k in (3, 4, 8) else 0.4) * torch.sin(k * phase)
            for k in range(1, 12))
    x = x * torch.sin(math.pi * t / t[-1]).sqrt() * 0.3 / x.abs().max()
    floor = 0.003 * torch.randn(samples, generator=torch.Generator().manual_seed(0),
                                dtype=torch.float64)
    return (x + floor).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--noise", nargs="+", choices=("fresh", "fixed"), default=["fresh"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--envelope", action="store_true",
                        help="the source-filter generator (envelope=True): its output shaped "
                             "by the frames' spectral envelope")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = harmonic_vowel()
    frames = mel_frames(clip, RATE, MEL)  # (F, N)
    hop, n = MEL["hop_length"], frames.shape[-1]
    target = torch.nn.functional.pad(clip, (0, n * hop - len(clip)))[None]  # (1, N hop)
    analysis = analysis_settings(RATE)
    gl = griffin_lim(frames, RATE, MEL, length=len(clip))
    gl_distance = log_mel_distance(clip, gl, RATE, analysis)
    fixed = torch.randn(1, n * hop, generator=torch.Generator().manual_seed(1))
    for noise in args.noise:
        torch.manual_seed(0)
        net = ParallelWaveNet(MEL["n_mels"], hop, 16, 16, 16, dilations=[1, 2, 4, 8, 16] * 2,
                              envelope=args.envelope, sample_rate=RATE, n_fft=MEL["n_fft"])
        loss_fn = MultiResolutionSTFTLoss()
        optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
        for step in range(1, args.steps + 1):
            losses = loss_fn(net(frames[None], fixed if noise == "fixed" else None), target)
            optimizer.zero_grad()
            losses.total.backward()
            optimizer.step()
            if step % args.every == 0:
                with torch.no_grad():
                    out = net(frames[None], fixed)[0, :len(clip)]
                print(json.dumps({
                    "noise": noise, "envelope": args.envelope, "step": step,
                    "spectral_convergence": round(losses.spectral_convergence.item(), 3),
                    "log_magnitude": round(losses.log_magnitude.item(), 3),
                    "log_mel_distance_db": round(log_mel_distance(clip, out, RATE, analysis), 2),
                    "griffin_lim_log_mel_distance_db": round(gl_distance, 2)}), flush=True)


if __name__ == "__main__":
    main()
