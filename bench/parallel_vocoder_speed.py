"""Synthesis speed of the parallel vocoder's presets (and variants of them) at batch 1
on the CPU, side by side in one run: seconds of audio made per second of wall time.

    python bench/parallel_vocoder_speed.py
    python bench/parallel_vocoder_speed.py --variant cpu=parallel_vocoder \\
        --variant narrow=parallel_vocoder:residual_channels=16,gate_channels=16

Speed does not depend on the weights, so the networks are built untrained from their
``conf/model`` presets (``NAME=PRESET[:KEY=VALUE,...]``) for the frames of the rate
they are meant for: 8 kHz with 32 bands every 100 samples (the text-to-speech-like
frames of ``experiment=fsdd_parallel_vocoder``) and 22.05 kHz with 80 bands every 256
samples (LJSpeech-like, for the GPU preset's architecture). Each variant makes
``--seconds`` of audio from random frames in one forward pass (the way
``resynthesize`` runs a parallel vocoder), rounds interleaved, and one JSON line per
variant gives the median real-time factor, the spread between rounds, parameters and
the receptive field.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from timing import interleaved, medians, seconds, spread_pct

from wavedil.config import register_resolvers, use_data_info
from wavedil.data.records import DataInfo

CONF = Path(__file__).resolve().parents[1] / "conf"
FRAMES = {  # rate -> the mel settings the variant is built for
    8000: {"n_mels": 32, "n_fft": 400, "hop_length": 100},
    22050: {"n_mels": 80, "n_fft": 1024, "hop_length": 256},
}
DEFAULT_VARIANTS = ["cpu=parallel_vocoder@8000", "gpu=parallel_vocoder_gpu@22050"]


def build(spec: str) -> tuple[str, int, torch.nn.Module]:
    """``NAME=PRESET[@RATE][:KEY=VALUE,...]`` -> (name, rate, untrained network)."""
    name, _, rest = spec.partition("=")
    preset, _, overrides = rest.partition(":")
    preset, _, rate_text = preset.partition("@")
    rate = int(rate_text or 8000)
    if rate not in FRAMES:
        raise SystemExit(f"Expected a rate in {sorted(FRAMES)}, but found {rate} in {spec!r}.")
    items = re.split(r",(?![^\[]*\])", overrides)  # commas outside [lists]
    extra = [f"model.{item}" for item in items if item]
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(config_name="train", overrides=[f"model={preset}", *extra])
    use_data_info(DataInfo(sample_rate=rate, local_features=dict(FRAMES[rate])))
    model = instantiate(cfg.model)
    return name, rate, model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", metavar="NAME=PRESET[@RATE][:K=V,...]",
                        help=f"(default: {' '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_resolvers()
    variants = [build(spec) for spec in args.variant or DEFAULT_VARIANTS]
    calls, facts = {}, {}
    for name, rate, model in variants:
        hop = model.hop_length
        frames = torch.randn(1, model.local_channels, round(args.seconds * rate / hop))
        audio_seconds = frames.shape[-1] * hop / rate

        def call(model=model, frames=frames, audio_seconds=audio_seconds) -> float:
            with torch.inference_mode():
                return audio_seconds / seconds(lambda: model(frames))

        with torch.inference_mode():
            model(frames)  # warm-up: oneDNN picks its kernels
        calls[name] = call
        facts[name] = {"sample_rate": rate, "audio_seconds": round(audio_seconds, 3),
                       "parameters": sum(p.numel() for p in model.parameters()),
                       "receptive_field": model.receptive_field}
    runs = interleaved(calls, args.repeats)
    for name, rtf in medians(runs).items():
        print(json.dumps({"variant": name, **facts[name], "threads": args.threads,
                          "real_time_factor_batch1": round(rtf, 1),
                          "spread_pct": spread_pct(runs[name])}))


if __name__ == "__main__":
    main()
