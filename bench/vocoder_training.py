"""Training speed of the vocoder presets on FSDD, side by side: steps per second of
``python train.py`` itself, and the wall time its step budget takes at that speed.

    python bench/vocoder_training.py --data-root ../shared/data/fsdd

Each preset (``NAME=OVERRIDES``, space-separated Hydra overrides; default: the
source-filter, plain and parallel vocoders) is trained in a fresh process twice,
for ``--short`` and ``--long`` steps, in rounds that alternate the presets; the
difference of the two wall times over the difference of the steps is the speed
without the start-up (decoding, features, building), and the median over
``--repeats`` rounds is reported as one JSON line per preset, with the seconds the
preset's own budget (``trainer.max_epochs`` x steps per epoch) would take.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRESETS = {
    "source-filter": "experiment=fsdd_vocoder",
    "plain": "experiment=fsdd_vocoder model=vocoder_cpu",
    "parallel": "experiment=fsdd_parallel_vocoder",
}
STEPS_PER_EPOCH = 250  # 2,000 training clips x 2 crops / batches of 16


def train_seconds(overrides: list[str], steps: int, threads: int) -> float:
    """Wall time of one ``train.py`` run of ``steps`` steps (no validation, no test)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "train.py", *overrides, f"output_dir={out}",
               f"trainer.max_steps={steps}", "trainer.max_time=null", "test=false",
               "trainer.limit_val_batches=0", "trainer.enable_progress_bar=false"]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds


def max_epochs(overrides: list[str]) -> int:
    """The preset's ``trainer.max_epochs``, from its composed config."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return int(compose(config_name="train", overrides=overrides).trainer.max_epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--preset", action="append", metavar="NAME=OVERRIDES",
                        help="(default: " + "; ".join(f"{k}={v}" for k, v in PRESETS.items())
                        + ")")
    parser.add_argument("--short", type=int, default=10)
    parser.add_argument("--long", type=int, default=70)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not args.long > args.short > 0:
        raise SystemExit(f"Expected --long > --short > 0, but found {args.long} and {args.short}.")
    presets = dict(p.split("=", 1) for p in args.preset) if args.preset else PRESETS
    speeds: dict[str, list[float]] = {name: [] for name in presets}
    for _ in range(args.repeats):
        for name, text in presets.items():
            overrides = [*text.split(), f"data.root={args.data_root.resolve()}"]
            short = train_seconds(overrides, args.short, args.threads)
            long = train_seconds(overrides, args.long, args.threads)
            speeds[name].append((args.long - args.short) / (long - short))
    for name, values in speeds.items():
        rate = statistics.median(values)
        epochs = max_epochs(presets[name].split())
        print(json.dumps({"preset": name, "overrides": presets[name], "threads": args.threads,
                          "steps_per_second": round(rate, 3),
                          "spread_pct": round(100 * (max(values) - min(values)) / rate),
                          "budget_steps": epochs * STEPS_PER_EPOCH,
                          "budget_minutes": round(epochs * STEPS_PER_EPOCH / rate / 60, 1)}))


if __name__ == "__main__":
    main()
