"""Mu-law softmax against logistic mixture, on one scale: bits per 16-bit sample.

A generator logs bits per sample over its own values: 256 mu-law codes, or the
65,536 16-bit values of a logistic mixture, so the two logs cannot be compared as
they stand. Here a mu-law model's probability of a code is spread evenly over the
16-bit values that the code stands for, ``P(x) = P(code(x)) / count(code(x))``,
which makes it a distribution over the same 65,536 values as the mixture's. Each
run's model is then scored on the held-out (test) clips of its own run's data,
quantised to 16 bits:

    python train.py output_dir=runs/mulaw
    python train.py model/output=logistic_mixture output_dir=runs/mixture
    python bench/studies/output_distributions.py --runs runs/mulaw runs/mixture

Prints one JSON line per run: its output, bits per 16-bit sample, and (for a mu-law
model) bits per mu-law code, the figure it logged in training.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

from wavedil.checkpoint import load_model
from wavedil.config import build_data, register_resolvers
from wavedil.distributions import (
    DiscretizedLogisticMixture,
    MuLawCategorical,
    OutputDistribution,
)
from wavedil.models import WaveNet

PCM16 = DiscretizedLogisticMixture(bits=16)  # its encode rounds audio to the 16-bit grid


def code_log_widths(dist: OutputDistribution) -> Tensor | None:
    """For a mu-law output, ``(classes,)`` log of how many 16-bit values each code
    stands for; ``None`` for a 16-bit mixture, whose values are those already."""
    if isinstance(dist, DiscretizedLogisticMixture):
        if dist.bits != 16:
            raise SystemExit(f"Expected a 16-bit mixture, but found bits={dist.bits}.")
        return None
    if not isinstance(dist, MuLawCategorical):
        raise SystemExit(f"No 16-bit likelihood for {dist!r}.")
    grid = torch.arange(-PCM16.levels, PCM16.levels) / PCM16.levels
    return torch.bincount(dist.encode(grid), minlength=dist.classes).double().log()


def log_prob_16_bit(model: WaveNet, audio: Tensor, local: Tensor | None, glob: Tensor | None,
                    log_widths: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Log-probability of each 16-bit sample ``(B, T)``, and for a mu-law model that
    of its code (the model's own measure); ``log_widths`` from :func:`code_log_widths`."""
    dist = model.output
    values = dist.encode(audio)  # codes, or grid amplitudes
    params = model(model.shift_right(values), local, glob)  # (B, C, T)
    if log_widths is None:
        return dist.log_prob(params, values), None
    log_code = params.log_softmax(1).gather(1, values.unsqueeze(1)).squeeze(1)  # (B, T)
    return log_code - log_widths.to(params.dtype)[values], log_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="run folders (config.yaml and checkpoints/last.ckpt)")
    parser.add_argument("--checkpoint", default="last.ckpt", help="file in <run>/checkpoints")
    args = parser.parse_args()
    register_resolvers()
    torch.set_grad_enabled(False)
    for run in args.runs:
        config, checkpoint = run / "config.yaml", run / "checkpoints" / args.checkpoint
        for path in (config, checkpoint):
            if not path.is_file():
                raise SystemExit(f"No {path}; expected a run folder written by train.py.")
        cfg = OmegaConf.load(config)
        datamodule = build_data(cfg, "test")
        model = load_model(checkpoint, kind="generator").model.eval()
        log_widths = code_log_widths(model.output)
        total = code_total = 0.0
        samples = 0
        for batch in datamodule.test_dataloader():
            audio = PCM16.encode(batch["audio"])
            lp, lp_code = log_prob_16_bit(model, audio, batch.get("local_cond"),
                                          batch.get("global_cond"), log_widths)
            total -= float(lp.sum())
            code_total -= 0.0 if lp_code is None else float(lp_code.sum())
            samples += lp.numel()
        row = {"run": str(run), "output": type(model.output).__name__,
               "output_channels": model.output.out_channels,
               "parameters": sum(p.numel() for p in model.parameters()),
               "test_samples": samples,
               "bits_per_16_bit_sample": round(total / samples / math.log(2), 3)}
        if isinstance(model.output, MuLawCategorical):
            row["bits_per_mu_law_code"] = round(code_total / samples / math.log(2), 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
