"""Generation speed: cached-queue steppers against the naive reference.

Prints one JSON line per (config, batch, device):

    python bench/generation.py                 # SMALL and MEDIUM, batch 1 and 16, CPU, 2 threads
    python bench/generation.py --quick         # fewer steps and repeats (a smoke run)
    python bench/generation.py --device cuda --batches 1 16 256
    python bench/generation.py --outputs mulaw logistic_mixture --sample   # the two outputs

Configs (random weights; speed does not depend on training):
    SMALL  = 2 cycles of 1..512 (20 layers), 64 residual / 128 gate / 128 skip, kernel 2
    MEDIUM = 4 cycles of 1..32 (24 layers), 128 residual / 256 gate / 128 skip, kernel 3

``--sample`` adds the ``compiled`` method (wavedil.inference.generation.compiled: the fast
path's arithmetic and the draw in one numba-compiled loop, timed by its own
``run`` over the same number of steps; it always draws, so it is only compared with
sampling steppers) and the row's ``ratio_compiled_vs_fast``.

On a CUDA device (``--device cuda``) the ``graph`` method (the fast step replayed
as a CUDA graph, wavedil.inference.generation.graph) joins the steppers, with
``ratio_graph_vs_fast``; the mixture output is not taken by it (embedding input only).

``--outputs`` builds each config with the 256-way mu-law softmax (``mulaw``, the
default) and/or a 10-component logistic mixture (``logistic_mixture``: 30 output
channels, amplitudes fed back through a causal conv). A step is the network alone;
``--sample`` also draws the next value from its output, as generation does. With
both outputs, each round times all of them, and the mixture's row carries the
median over rounds of its fast-path speed-up (``fast_speedup_vs_mulaw``).

Methods are timed side by side in one process, round-robin over ``--repeats``
rounds, and each figure is the median over rounds (the machine drifts between
runs, so ratios measured together are the reliable numbers). Peak memory is
measured per method from just before its stepper is built: on CPU from the
profiler's allocation records (live tensor bytes), on GPU with
``torch.cuda.max_memory_allocated``. ``peak`` covers building the stepper (the
fast path re-lays the weights out), the cache and one step's working memory
(for the naive path, a forward over a full receptive field); ``held`` is what
stays allocated between steps. The naive window is pre-filled to the receptive
field so that it is timed and measured in its steady state.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Sequence

import torch
from timing import spread_pct, sync
from torch.profiler import ProfilerActivity, profile

from wavedil.distributions import DiscretizedLogisticMixture
from wavedil.inference import CompiledSampler, NaiveStepper, make_stepper
from wavedil.inference.generation.graph import CudaGraphStepper
from wavedil.models import WaveNet, wavenet_medium, wavenet_small

CONFIGS = {"SMALL": wavenet_small, "MEDIUM": wavenet_medium}
OUTPUTS = {
    "mulaw": {},  # the presets' default: MuLawCategorical(256), embedding input
    "logistic_mixture": {"output": DiscretizedLogisticMixture(10), "input_encoding": "continuous"},
}
STEPPERS = ("fast", "cached", "naive")
# steps per timed round, by method (the naive path is thousands of times slower per step)
STEPS = {"fast": 300, "cached": 60, "naive": 6, "compiled": 1000}


def methods(sample: bool, device: str = "cpu") -> tuple[str, ...]:
    if device.startswith("cuda"):  # the compiled loop is for the CPU; graphs for CUDA
        return (*STEPPERS, "graph")
    return (*STEPPERS, "compiled") if sample else STEPPERS


def make(method: str, model: WaveNet, batch: int, device: str):
    """A stepper in its steady state, or for ``compiled`` a CompiledSampler."""
    if method == "compiled":
        return CompiledSampler(model, batch)
    if method == "graph":
        return CudaGraphStepper(model, batch)
    return steady(make_stepper(method, model, batch), model, batch, device)


def build(config: str, device: str, output: str = "mulaw") -> WaveNet:
    torch.manual_seed(0)
    return CONFIGS[config](**OUTPUTS[output]).eval().to(device)



def time_steps(stepper, model: WaveNet, batch: int, steps: int, device: str,
               sample: bool = False) -> float:
    """Seconds per step over ``steps`` steps: feeding back silence, or with ``sample``
    the value drawn from each step's output."""
    x = model.output.silence_values(batch, device)
    generator = torch.Generator(device=device).manual_seed(0)
    sync(device)
    start = time.perf_counter()
    if isinstance(stepper, CompiledSampler):
        stepper.run(x, steps, generator=generator)
        return (time.perf_counter() - start) / steps
    for _ in range(steps):
        params = stepper(x)
        if sample:
            x = model.output.sample(params, 1.0, generator)
    sync(device)
    return (time.perf_counter() - start) / steps


def measure_speed(config: str, batch: int, device: str, repeats: int, scale: float,
                  outputs: Sequence[str] = ("mulaw",), sample: bool = False) -> list[dict]:
    """One row per output; every (output, method) pair is timed in every round, so
    the outputs are compared side by side as the methods are."""
    models = {o: build(config, device, o) for o in outputs}
    pairs = [(o, m) for o, m in itertools.product(outputs, methods(sample, device))
             if not (m == "graph" and o != "mulaw")]  # graphs take an embedding input
    steppers = {(o, m): make(m, models[o], batch, device) for o, m in pairs}
    for (o, m), stepper in steppers.items():  # warm-up (allocations, caches, lazy init)
        time_steps(stepper, models[o], batch, max(2, STEPS[m] // 10), device, sample)
    per_step: dict[tuple[str, str], list[float]] = {pair: [] for pair in pairs}
    for _ in range(repeats):
        for o, m in pairs:
            steps = max(2, int(STEPS[m] * scale))
            per_step[o, m].append(time_steps(steppers[o, m], models[o], batch, steps, device,
                                             sample))
    rows = []
    for o in outputs:
        times = {m: per_step[o, m] for m in methods(sample, device) if (o, m) in per_step}
        median = {m: statistics.median(v) for m, v in times.items()}
        rows.append({
            "config": config,
            "output": o,
            "sample": sample,
            "layers": len(models[o].stack),
            "receptive_field": models[o].receptive_field,
            "batch": batch,
            "device": device,
            "threads": torch.get_num_threads(),
            "samples_per_s": {m: round(batch / median[m], 1) for m in times},
            "ratio_fast_vs_naive": round(median["naive"] / median["fast"], 1),
            "ratio_cached_vs_naive": round(median["naive"] / median["cached"], 1),
            **{f"ratio_{m}_vs_fast": round(statistics.median(
                f / c for f, c in zip(times["fast"], times[m], strict=True)), 2)
               for m in ("compiled", "graph") if m in times},
            "ms_per_step": {m: round(1000 * median[m], 3) for m in times},
            "spread_pct": {m: spread_pct(v) for m, v in times.items()},
            "repeats": repeats,
        })
    if len(outputs) > 1:  # each round's ratio to the first output, then the median
        first = outputs[0]
        for row in rows[1:]:
            row[f"fast_speedup_vs_{first}"] = round(statistics.median(
                a / b for a, b in zip(per_step[first, "fast"], per_step[row["output"], "fast"],
                                      strict=True)), 2)
    return rows


def steady(stepper, model: WaveNet, batch: int, device: str):
    """Put a stepper in its steady state. Only the naive path needs it: its window
    grows to the receptive field over the first steps, so it is filled up front."""
    if isinstance(stepper, NaiveStepper):
        stepper.inputs = [model.output.silence_values(batch, device)] * model.receptive_field
        stepper.t = model.receptive_field
    return stepper


def measure_memory(model: WaveNet, batch: int, device: str, method: str) -> dict:
    """Peak and held memory (MB) of building ``method``'s stepper and taking steps.

    CPU: the profiler's allocation records, summed in time order (live tensor bytes).
    GPU: ``torch.cuda.max_memory_allocated`` above what was allocated before.
    """
    def run():
        stepper = make(method, model, batch, device)
        time_steps(stepper, model, batch, 3, device)
        return stepper

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        keep = run()
        held = torch.cuda.memory_allocated() - base
        peak = torch.cuda.max_memory_allocated() - base
        del keep
    else:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            keep = run()
        del keep
        total = peak = 0
        for event in sorted(prof.events(), key=lambda e: e.time_range.start):
            total += event.self_cpu_memory_usage  # + allocations, - frees
            peak = max(peak, total)
        held = total
    return {"peak": round(peak / 2**20, 2), "held": round(held / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16])
    parser.add_argument("--outputs", nargs="+", default=["mulaw"], choices=list(OUTPUTS))
    parser.add_argument("--sample", action="store_true",
                        help="draw each next value from the output (as generation does)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    repeats, scale = (2, 0.3) if args.quick else (args.repeats, 1.0)
    for config, batch in itertools.product(args.configs, args.batches):
        with torch.inference_mode():
            rows = measure_speed(config, batch, args.device, repeats, scale, args.outputs,
                                 args.sample)
            for row in rows:
                if not args.no_memory:
                    model = build(config, args.device, row["output"])
                    memory = {m: measure_memory(model, batch, args.device, m)
                              for m in row["samples_per_s"]}
                    row["peak_mem_mb"] = {m: v["peak"] for m, v in memory.items()}
                    row["held_mem_mb"] = {m: v["held"] for m, v in memory.items()}
                print(json.dumps(row), flush=True)

if __name__ == "__main__":
    main()
