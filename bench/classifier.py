"""Where a spoken-digit training fold spends its time: data, front end, stack, step.

Builds the ``fsdd_classifier`` experiment exactly as ``train.py`` does (Hydra
config, the FSDD datamodule with its augmentation and synthetic voices, the
classifier) and times, side by side in one process, round-robin over
``--repeats`` rounds (each figure the median over rounds):

* ``data``: drawing training batches from the loader (read, augment, pad);
  and the waveform augmentation alone, with each resampling kernel built once
  (``wavedil.data.functional.resample``, the default) against building it for
  every clip (``torchaudio.functional.resample``);
* ``train``: one optimizer step (forward, backward, AdamW) on a training batch,
  and the forward pass of the front end (MFCCs) alone;
* ``inference``: scoring batches of the held-out speaker's clips, in one pass
  and averaged over three played speeds (``SpeedAveraged``).

One JSON line each, and a last one that puts them together into the estimated
minutes of one fold of the recipe (steps per fold times the time of a step with
its batch)::

    python bench/classifier.py --data-root ../shared/data/fsdd
    python bench/classifier.py --data-root ../shared/data/fsdd --quick      # a smoke run
    python bench/classifier.py --data-root ../shared/data/fsdd data.tts=null  # any override

Trailing ``key=value`` arguments are Hydra overrides of the experiment.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from hydra import compose, initialize_config_dir
from timing import interleaved, medians

import wavedil.data.augment as augment_module
from wavedil.config import build, register_resolvers
from wavedil.data.functional import resample
from wavedil.models import SpeedAveraged

CONF = Path(__file__).resolve().parent.parent / "conf"


def compose_experiment(data_root: Path, overrides: list[str]):
    register_resolvers()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=["experiment=fsdd_classifier",
                                           f"data.root={data_root}", *overrides])


def median_seconds(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Each ``fn`` returns seconds per item; round-robin ``repeats`` times, medians."""
    return medians(interleaved(fns, repeats))


def per_item(fn: Callable[[], None], items: int) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) / items
    return timed


def bench_data(datamodule, batches: int, clips: list[torch.Tensor], repeats: int) -> dict:
    loader = datamodule.train_dataloader()

    def draw() -> None:
        for _ in itertools.islice(iter(loader), batches):
            pass

    augment = datamodule.augment

    def augment_all(resampler) -> Callable[[], None]:
        def run() -> None:
            augment_module.resample = resampler
            generator = torch.Generator().manual_seed(0)
            try:
                for clip in clips:
                    augment(clip, generator=generator)
            finally:
                augment_module.resample = resample
        return run

    seconds = median_seconds({
        "batch": per_item(draw, batches),
        "augment_cached": per_item(augment_all(resample), len(clips)),
        "augment_uncached": per_item(augment_all(AF.resample), len(clips)),
    }, repeats)
    return {
        "bench": "data",
        "batch_size": loader.batch_size,
        "ms_per_batch": round(1e3 * seconds["batch"], 2),
        "augment_ms_per_clip": round(1e3 * seconds["augment_cached"], 4),
        "augment_ms_per_clip_uncached_kernels": round(1e3 * seconds["augment_uncached"], 4),
        "augment_speedup_from_cached_kernels": round(
            seconds["augment_uncached"] / seconds["augment_cached"], 2),
    }


def bench_train(model, task_cfg, batches: list[dict], repeats: int) -> dict:
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=task_cfg.optimizer.lr,
                                  weight_decay=task_cfg.optimizer.weight_decay)
    smoothing = task_cfg.label_smoothing

    def steps() -> None:
        for batch in batches:
            logits = model(batch["audio"], batch["lengths"])
            loss = F.cross_entropy(logits, batch["label"], label_smoothing=smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def frontend() -> None:
        with torch.no_grad():
            for batch in batches:
                model.frontend(batch["audio"], batch["lengths"])

    steps()  # warm-up: allocations, AdamW state
    seconds = median_seconds({"step": per_item(steps, len(batches)),
                              "frontend": per_item(frontend, len(batches))}, repeats)
    samples = statistics.mean(b["audio"].shape[-1] for b in batches)
    return {
        "bench": "train",
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch_size": batches[0]["audio"].shape[0],
        "mean_padded_samples": round(samples),
        "ms_per_step": round(1e3 * seconds["step"], 1),
        "frontend_ms_per_batch": round(1e3 * seconds["frontend"], 2),
        "frontend_share_of_step": round(seconds["frontend"] / seconds["step"], 3),
    }


def bench_inference(model, batches: list[dict], repeats: int) -> dict:
    model.eval()
    averaged = SpeedAveraged(model, (0.9, 1.0, 1.1))
    clips = sum(b["audio"].shape[0] for b in batches)

    def score(net) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                for batch in batches:
                    net(batch["audio"], batch["lengths"])
        return run

    seconds = median_seconds({"one_pass": per_item(score(model), clips),
                              "three_speeds": per_item(score(averaged), clips)}, repeats)
    return {
        "bench": "inference",
        "clips_per_s": round(1 / seconds["one_pass"], 1),
        "clips_per_s_three_speeds": round(1 / seconds["three_speeds"], 1),
        "three_speeds_cost": round(seconds["three_speeds"] / seconds["one_pass"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, required=True, help="FSDD (recordings/)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=8, help="training batches per round")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 batches")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    args = parser.parse_args()
    if not (args.data_root / "recordings").is_dir():
        parser.error(f"--data-root {args.data_root}: expected FSDD with a recordings/ folder")
    if args.quick:
        args.repeats, args.batches = 2, 2
    torch.set_num_threads(args.threads)

    cfg = compose_experiment(args.data_root.resolve(), args.overrides)
    torch.manual_seed(cfg.seed)
    datamodule, model = build(cfg, "fit")

    train_set = datamodule.datasets["train"]
    clips = [train_set.clips[i].audio for i in range(0, len(train_set.clips), 20)]
    print(json.dumps(bench_data(datamodule, args.batches, clips, args.repeats)), flush=True)

    train_batches = list(itertools.islice(iter(datamodule.train_dataloader()), args.batches))
    train = bench_train(model, cfg.task, train_batches, args.repeats)
    print(json.dumps(train), flush=True)

    test_batches = list(itertools.islice(iter(datamodule.test_dataloader()), args.batches))
    print(json.dumps(bench_inference(model, test_batches, args.repeats)), flush=True)

    steps = cfg.trainer.max_epochs * len(datamodule.train_dataloader())
    print(json.dumps({
        "bench": "fold",
        "training_clips": len(train_set),
        "epochs": cfg.trainer.max_epochs,
        "steps": steps,
        "estimated_minutes": round(steps * train["ms_per_step"] / 6e4, 1),
        "note": "optimizer steps only: data loading, validation and test add to it",
    }), flush=True)


if __name__ == "__main__":
    main()
