"""Dilated convolution: the direct path against space-to-batch, and dense against
depthwise-separable.

Prints one JSON line per case:

    python bench/space_to_batch.py              # CPU, 2 threads, forward and backward
    python bench/space_to_batch.py --quick      # fewer repeats (a smoke run)
    python bench/space_to_batch.py --device cuda

Cases are the shapes wavedil's models run: the generator's residual convolution
(64 -> 2 x 128 channels, kernel 2, 8000-sample crops, batch 8) at dilations 1..512,
and the classifier's (64 -> 2 x 64, kernel 3, 250 frames, batch 32) at 1..16. Each
case times ``direct`` and ``space_to_batch`` (same weights; the maximum output
difference is reported) and the separable convolution side by side in one process,
round-robin over ``--repeats`` rounds; figures are medians over rounds and
``ratio`` is direct time / space-to-batch time (above 1: space-to-batch is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from timing import seconds

from wavedil.nn import DilatedConv1d, SeparableConv1d

CASES = [  # name, batch, in, out, kernel, length, dilations
    ("generator", 8, 64, 256, 2, 8000, (1, 4, 32, 128, 512)),
    ("classifier", 32, 64, 128, 3, 250, (1, 2, 4, 8, 16)),
]


def run_once(fn, device: str, backward: bool) -> float:
    """Seconds for ``fn()`` (and its backward pass with ``backward``)."""
    return seconds(lambda: fn().sum().backward() if backward else fn(), device)


def run_case(name: str, batch: int, c_in: int, c_out: int, k: int, length: int,
             dilation: int, device: str, repeats: int, backward: bool) -> dict:
    torch.manual_seed(0)
    direct = DilatedConv1d(c_in, c_out, k, dilation).to(device)
    folded = DilatedConv1d(c_in, c_out, k, dilation, impl="space_to_batch").to(device)
    folded.load_state_dict(direct.state_dict())
    separable = SeparableConv1d(c_in, c_out, k, dilation).to(device)
    x = torch.randn(batch, c_in, length, device=device, requires_grad=backward)
    with torch.no_grad():
        diff = (direct(x) - folded(x)).abs().max().item()
    paths = {"direct": direct, "space_to_batch": folded, "separable": separable}
    times: dict[str, list[float]] = {p: [] for p in paths}
    grad = torch.enable_grad() if backward else torch.no_grad()
    with grad:
        for module in paths.values():  # warm-up
            run_once(lambda m=module: m(x), device, backward)
        for _ in range(repeats):
            for p, module in paths.items():
                times[p].append(run_once(lambda m=module: m(x), device, backward))
    ms = {p: 1000 * statistics.median(t) for p, t in times.items()}
    return {
        "case": name, "device": device, "threads": torch.get_num_threads(),
        "pass": "forward+backward" if backward else "forward",
        "batch": batch, "in": c_in, "out": c_out, "kernel": k, "length": length,
        "dilation": dilation,
        "direct_ms": round(ms["direct"], 3), "space_to_batch_ms": round(ms["space_to_batch"], 3),
        "ratio": round(ms["direct"] / ms["space_to_batch"], 3),
        "separable_ms": round(ms["separable"], 3),
        "max_abs_diff": diff,
        "faster": "space_to_batch" if ms["space_to_batch"] < ms["direct"] else "direct",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 repeats, forward only")
    parser.add_argument("--no-backward", action="store_true", help="time forward only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    passes = [False] if args.quick or args.no_backward else [False, True]
    for backward in passes:
        for name, batch, c_in, c_out, k, length, dilations in CASES:
            for d in dilations:
                print(json.dumps(run_case(name, batch, c_in, c_out, k, length, d, args.device,
                                          repeats, backward)), flush=True)


if __name__ == "__main__":
    main()
