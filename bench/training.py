"""Training speed and memory: wavedil's training step, samples/s and peak memory.

Prints one JSON line per (config, precision, tree), then one summary line per
config with the ratios against the first tree's float32 figure:

    python bench/training.py                        # SMALL and MEDIUM, float32 and bf16-mixed
    python bench/training.py --baseline ../wavedil-before   # and an older checkout, alternated
    python bench/training.py --configs SMALL --precisions 32-true --repeats 5
    python bench/training.py --precisions bf16-mixed bf16-mixed+checkpoint  # recompute blocks
    python bench/training.py --device cuda --configs SMALL MEDIUM  # on a GPU (peak: CUDA memory)

The step is the one ``python train.py`` runs (:class:`wavedil.tasks.GenerationTask`'s
loss): mu-law encode, teacher-forced forward, cross-entropy, backward, gradient
clipping at 1.0, AdamW; batch 4 x 8,000 samples, random audio (speed does not depend
on the values). ``bf16-mixed`` runs forward and loss under
``torch.autocast("cpu", torch.bfloat16)``, as Lightning's ``trainer.precision=bf16-mixed``
does (weights and optimizer stay float32); it pays on CPUs with native bf16
(AVX512-BF16 or AMX) and is slower elsewhere. ``+checkpoint`` adds activation
checkpointing (``task.checkpoint_activations=true``: each residual block recomputed
in the backward pass); a baseline tree without it is not timed with it.

Configs (as ``bench/generation.py``):
    SMALL  = 2 cycles of 1..512 (20 layers), 64 residual / 128 gate / 128 skip, kernel 2
    MEDIUM = 4 cycles of 1..32 (24 layers), 128 residual / 256 gate / 128 skip, kernel 3

Each measurement runs in a fresh process (``--worker``), so that peak memory is
that process's own: the peak resident set size during the timed steps minus the
resident size once model, optimizer and batch exist (activations, gradients,
optimizer state and allocator slack). Trees, precisions and configs are alternated
round-robin over ``--repeats`` rounds; each figure is the median over rounds, with
its spread in percent (this machine drifts 25-60% between runs). On ``--device cuda``
the peak is CUDA memory allocated during the timed steps (``max_memory_allocated``
over what model, optimizer and batch hold), and the steps are synchronised.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import spread_pct

ROOT = Path(__file__).resolve().parent.parent
BATCH, LENGTH = 4, 8000
#: warm-up and timed steps per worker, by config (MEDIUM is about 4x slower a step)
STEPS = {"SMALL": (2, 5), "MEDIUM": (1, 3)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(config: str, precision: str, threads: int, quick: bool = False,
           device: str = "cpu") -> dict:
    """One measurement in this process (the tree on ``sys.path`` decides the code)."""
    import torch

    import wavedil
    from wavedil.models import wavenet_medium, wavenet_small

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = {"SMALL": wavenet_small, "MEDIUM": wavenet_medium}[config]().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    audio = (torch.rand(BATCH, LENGTH) * 2 - 1).to(device)
    precision, _, extra = precision.partition("+")
    bf16 = precision == "bf16-mixed"
    model.stack.checkpoint_blocks = extra == "checkpoint"
    kind = torch.device(device).type
    cuda = kind == "cuda"

    def step() -> None:
        target = model.output.encode(audio)  # (B, T)
        with torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
            params = model(model.shift_right(target))  # (B, C, T)
            loss = model.output.nll(params, target).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    warm, timed = (1, 1) if quick else STEPS[config]
    if cuda:
        warm, timed = warm + 2, timed * 4  # a GPU step is short: more of them
    base = torch.cuda.memory_allocated() / 2**20 if cuda else _rss_mb()
    for _ in range(warm):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(timed):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / timed
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux
    return {"samples_per_s": BATCH * LENGTH / seconds, "peak_mb": peak - base,
            "package": str(Path(wavedil.__file__).parent),
            "device": torch.cuda.get_device_name() if cuda else "cpu"}


def run_worker(tree: Path, config: str, precision: str, threads: int,
               quick: bool = False, device: str = "cpu") -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", config, precision,
           str(threads), "--device", device, *(["--quick"] if quick else [])]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"worker failed for {tree} {config} {precision}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("CONFIG", "PRECISION", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--configs", nargs="+", default=["SMALL", "MEDIUM"],
                        choices=["SMALL", "MEDIUM"])
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"],
                        choices=["32-true", "bf16-mixed", "32-true+checkpoint",
                                 "bf16-mixed+checkpoint"])
    parser.add_argument("--baseline", type=Path,
                        help="another wavedil checkout (e.g. a git worktree of an older "
                             "commit), timed in the same rounds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="one warm-up and one timed step (a smoke run, not a figure)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    args = parser.parse_args()
    if args.worker:
        config, precision, threads = args.worker
        print(json.dumps(worker(config, precision, int(threads), args.quick, args.device)))
        return

    trees = {"baseline": args.baseline.resolve()} if args.baseline else {}
    trees["current"] = ROOT
    keys = [(tree, config, precision) for config in args.configs for tree in trees
            for precision in args.precisions
            if not (tree == "baseline" and precision.endswith("+checkpoint"))]
    rounds: dict[tuple[str, str, str], list[dict]] = {key: [] for key in keys}
    for _ in range(args.repeats):  # round-robin: every key once per round
        for key in keys:
            tree, config, precision = key
            rounds[key].append(run_worker(trees[tree], config, precision, args.threads,
                                          args.quick, args.device))
    results = {}
    for key, runs in rounds.items():
        tree, config, precision = key
        speed = [r["samples_per_s"] for r in runs]
        peak = [r["peak_mb"] for r in runs]
        results[key] = {"samples_per_s": statistics.median(speed),
                        "peak_mb": statistics.median(peak)}
        print(json.dumps({"training": {
            "config": config, "precision": precision, "tree": tree,
            "commit": _commit(trees[tree]), "batch": BATCH, "length": LENGTH,
            "device": runs[0].get("device", "cpu"),
            "threads": args.threads, "samples_per_s": round(statistics.median(speed)),
            "peak_mb_over_baseline": round(statistics.median(peak)),
            "spread_pct": {"speed": spread_pct(speed), "peak": spread_pct(peak)},
            "rounds": len(runs)}}), flush=True)
    reference = next(iter(trees))
    for config in args.configs:
        ref = results[(reference, config, args.precisions[0])]
        ratios = {f"{tree}/{precision}": {
            "speed": round(results[(tree, config, precision)]["samples_per_s"]
                           / ref["samples_per_s"], 2),
            "memory": round(results[(tree, config, precision)]["peak_mb"] / ref["peak_mb"], 2)}
            for tree in trees for precision in args.precisions
            if (tree, config, precision) in results}
        print(json.dumps({"summary": {"config": config,
                                      "relative_to": f"{reference}/{args.precisions[0]}",
                                      "ratios": ratios}}), flush=True)


def _commit(tree: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    return done.stdout.strip() or None


if __name__ == "__main__":
    main()
