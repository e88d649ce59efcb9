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

Time to quality (``--time-to-quality RECIPE``): the recipe as ``python train.py`` runs
it, once per precision and round in a fresh process, alternated; each run's
``time/fit_s`` beside its validation figures (:class:`wavedil.tasks.callbacks.Stopwatch`)
gives the seconds of fitting until the validation figure first reached the target
(``--target``; by default the worst final figure of the first precision's runs, which
each of them reaches, so "how long until the reference recipe's own quality"), plus
steps, total wall time, peak resident memory and the test figure. Round ``r`` trains
with seed ``--seed + r`` (every precision alike), so the rounds are seeds too, and the
summary says whether each precision's test figure is the first one's within noise
(two standard errors). With ``--baseline`` each tree runs its own recipe (its ``conf/``
and package) in the same rounds, the baseline's first precision the reference: how a
recipe change moves the time to the old recipe's quality::

    python bench/training.py --time-to-quality tones --precisions 32-true auto --repeats 2
    python bench/training.py --time-to-quality tones --precisions auto --baseline ../wavedil-before
    python bench/training.py --time-to-quality fsdd_classifier --data-root ../shared/data/fsdd

``auto`` is resolved by the trainer (:mod:`wavedil.tasks.precision`); each line says
what it resolved to on this machine.

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
    if precision == "auto":  # what trainer.precision=auto runs on this device
        from wavedil.tasks.precision import resolve_precision
        precision = resolve_precision("auto", device).precision
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
            "package": str(Path(wavedil.__file__).parent), "resolved": precision,
            "device": torch.cuda.get_device_name() if cuda else "cpu"}


#: recipe -> (train.py overrides, validation figure, higher is better, test figure)
RECIPES = {
    "tones": ([], "val/bits_per_sample", False, "test/bits_per_sample"),
    "fsdd_classifier": (["experiment=fsdd_classifier"], "val/accuracy", True,
                        "test/accuracy"),
}


def quality_worker(recipe: str, precision: str, out: Path, threads: int,
                   overrides: list[str]) -> dict:
    """One run of ``recipe`` in this process; its validation curve against fit time."""
    import csv

    import torch
    from hydra import compose, initialize_config_dir

    import wavedil.config  # noqa: F401  (the ${dilations:} and ${datainfo:} resolvers)
    from wavedil.cli.train import train_once

    torch.set_num_threads(threads)
    start = time.perf_counter()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[*RECIPES[recipe][0], *overrides,
                                          f"trainer.precision={precision}",
                                          f"output_dir={out}",
                                          "trainer.enable_progress_bar=false"])
    final = train_once(cfg)
    total = time.perf_counter() - start
    metric, test = RECIPES[recipe][1], RECIPES[recipe][3]
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    curve = [(int(r["step"]), float(r["time/fit_s"]), float(r[metric])) for r in rows
             if r.get("time/fit_s") and r.get(metric)]
    return {"resolved": cfg.precision_choice.precision, "curve": curve,
            "steps": max(int(r["step"]) for r in rows if r.get("step")),
            "test": final.get(test), "total_s": total,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def time_to_quality(args: argparse.Namespace) -> None:
    """``--time-to-quality``: alternate the precisions (and, with ``--baseline``, the
    trees) over rounds, each run a fresh process."""
    import tempfile

    recipe = args.time_to_quality
    _, metric, higher, _ = RECIPES[recipe]
    overrides = [*args.overrides, *([f"data.root={args.data_root}"] if args.data_root else [])]
    trees = {"baseline": args.baseline.resolve()} if args.baseline else {}
    trees["current"] = ROOT
    keys = [(tree, p) for tree in trees for p in args.precisions]
    label = {k: f"{k[0]}/{k[1]}" if args.baseline else k[1] for k in keys}
    runs: dict[str, list[dict]] = {label[k]: [] for k in keys}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):
            for tree, precision in keys:
                out = Path(tmp) / f"{tree}-{precision}-{round_}"
                seed = f"seed={args.seed + round_}"  # a seed per round, shared in it
                # each tree runs its own recipe (conf/) and its own package
                cmd = [sys.executable, str(trees[tree] / "bench" / "training.py"),
                       "--quality-worker", recipe, precision, str(out), str(args.threads),
                       "--", *overrides, seed]
                done = subprocess.run(cmd, capture_output=True, text=True, cwd=trees[tree],
                                      env={**os.environ, "PYTHONPATH": str(trees[tree])})
                if done.returncode != 0:
                    raise RuntimeError(f"{recipe} under {label[tree, precision]} failed:\n"
                                       f"{done.stderr[-3000:]}")
                runs[label[tree, precision]].append(
                    json.loads(done.stdout.strip().splitlines()[-1]))
    first = label[keys[0]]
    finals = [r["curve"][-1][2] for r in runs[first]]  # every reference run reaches its worst
    target = args.target if args.target is not None else (min if higher else max)(finals)

    def reached(run: dict) -> float | None:
        return next((t for _, t, v in run["curve"] if (v >= target if higher else v <= target)),
                    None)

    summary = {}
    for tree, precision in keys:
        name = label[tree, precision]
        done = runs[name]
        times = [reached(r) for r in done]
        known = [t for t in times if t is not None]
        summary[name] = statistics.median(known) if len(known) == len(times) else None
        print(json.dumps({"time_to_quality": {
            "recipe": recipe, "precision": name, "tree": tree,
            "resolved": sorted({r["resolved"] for r in done}), "metric": metric,
            "target": round(target, 4), "commit": _commit(trees[tree]), "threads": args.threads,
            "seconds_to_target": [None if t is None else round(t, 1) for t in times],
            "median_s": None if summary[name] is None else round(summary[name], 1),
            "final": [round(r["curve"][-1][2], 4) for r in done],
            "test": [None if r["test"] is None else round(r["test"], 4) for r in done],
            "steps": [r["steps"] for r in done],
            "fit_s": [round(r["curve"][-1][1], 1) for r in done],
            "total_s": [round(r["total_s"], 1) for r in done],
            "peak_mb": [round(r["peak_mb"]) for r in done],
            "rounds": len(done)}}), flush=True)
    base = summary[first]
    tests = {p: [r["test"] for r in done] for p, done in runs.items()}
    quality = {p: {"test_mean": round(statistics.mean(v), 4),
                   "test_sd": round(statistics.stdev(v), 4) if len(v) > 1 else None}
               for p, v in tests.items() if None not in v}
    print(json.dumps({"summary": {
        "recipe": recipe, "relative_to": first, "seeds": args.repeats, "time_ratio": {
            p: (None if t is None or base is None else round(t / base, 2))
            for p, t in summary.items()},
        "quality": quality, "same_quality_within_noise": {
            p: _within_noise(tests[first], v) for p, v in tests.items() if p != first}}}),
        flush=True)


def _within_noise(a: list, b: list) -> bool | None:
    """Whether two sets of seeds' figures differ by at most two standard errors of the
    difference of their means (``None`` with fewer than two seeds or a missing figure)."""
    if len(a) < 2 or len(b) < 2 or None in a or None in b:
        return None
    error = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    return abs(statistics.mean(a) - statistics.mean(b)) <= 2 * error


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
                                 "bf16-mixed+checkpoint", "auto"])
    parser.add_argument("--baseline", type=Path,
                        help="another wavedil checkout (e.g. a git worktree of an older "
                             "commit), timed in the same rounds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true",
                        help="one warm-up and one timed step (a smoke run, not a figure)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--time-to-quality", choices=sorted(RECIPES), metavar="RECIPE",
                        help=f"time a recipe to a validation figure ({', '.join(RECIPES)})")
    parser.add_argument("--target", type=float,
                        help="with --time-to-quality: the validation figure to reach")
    parser.add_argument("--data-root", help="with --time-to-quality: data.root of the recipe")
    parser.add_argument("--seed", type=int, default=1234,
                        help="with --time-to-quality: round r trains with seed SEED + r "
                             "(every precision alike), so rounds are seeds")
    parser.add_argument("--quality-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*",
                        help="with --time-to-quality: more train.py overrides (after --)")
    args = parser.parse_args()
    if args.quality_worker:
        recipe, precision, out, threads = args.quality_worker
        print(json.dumps(quality_worker(recipe, precision, Path(out), int(threads),
                                        args.overrides)))
        return
    if args.time_to_quality:
        if not set(args.precisions) <= {"32-true", "bf16-mixed", "auto"}:
            parser.error("--time-to-quality takes --precisions from 32-true, bf16-mixed, auto")
        time_to_quality(args)
        return
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
            "config": config, "precision": precision, "resolved": runs[0].get("resolved"),
            "tree": tree,
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
