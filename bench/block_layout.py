"""One residual block's training pass (forward and backward), channel-major against
time-major, float32 on the CPU: whether laying the stack out as ``(B, T, C)`` (every
convolution a matrix product) would pay.

    python bench/block_layout.py                    # SMALL's block shapes, dilations 1, 64, 512
    python bench/block_layout.py --shape tones      # the default tones generator's shapes
    python bench/block_layout.py --pieces           # the gate and the 1x1s, eager ops against ours

``channel-major`` is :class:`wavedil.nn.ResidualBlock` as training runs it (oneDNN's
convolutions on ``(B, C, T)``). ``time-major`` is the same block on ``(B, T, C)``: the
causal padding, the kernel-2 dilated convolution as one product of ``[x(t - d), x(t)]``
(``2 R`` wide) with the weights side by side, the gate, then the residual and skip 1x1
projections as one product. Both are checked equal (to float32 rounding) before timing.
One JSON line per dilation: milliseconds (median of ``--repeats``) and the ratio.

``--pieces`` times two candidate replacements for pieces of the block against the eager
ops the block uses, forward and backward, alternated in one process: the gate as
``(2 sigmoid(2a) - 1) sigmoid(b)`` with a hand-written backward (:class:`GatedTanh`)
against ``chunk``, ``tanh``, ``sigmoid`` and the product under autograd, and each 1x1
projection as one batched matrix product (:func:`pointwise`) against ``Conv1d``.
Measured and not kept (docs/benchmarks.md, "The float32 path").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from wavedil.nn import ResidualBlock

#: name -> (batch, length, residual, gate (each half), skip)
SHAPES = {"SMALL": (4, 8000, 64, 64, 128), "tones": (4, 2048, 32, 64, 64)}


def time_major(block: ResidualBlock):
    """The block's weights rearranged for ``(B, T, C)``, and its pass on that layout."""
    w = block.conv.weight.detach()  # (2G, R, 2): taps at t - d and t
    conv = torch.cat([w[:, :, 0], w[:, :, 1]], 1).requires_grad_()  # (2G, 2R)
    conv_bias = block.conv.bias.detach().clone().requires_grad_()
    proj = torch.cat([block.residual_proj.weight[:, :, 0],
                      block.skip_proj.weight[:, :, 0]]).detach().requires_grad_()  # (R+S, G)
    proj_bias = torch.cat([block.residual_proj.bias, block.skip_proj.bias]).detach()
    proj_bias.requires_grad_()
    d, gate, residual = block.conv.dilation[0], block.gate_channels, block.conv.in_channels

    def forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # x: (B, T, R)
        past = F.pad(x, (0, 0, d, 0))[:, : x.shape[1]]  # x(t - d), zeros before the start
        h = F.linear(torch.cat([past, x], -1), conv, conv_bias)  # (B, T, 2G)
        z = torch.tanh(h[..., :gate]) * torch.sigmoid(h[..., gate:])
        out = F.linear(z, proj, proj_bias)  # (B, T, R + S)
        return x + out[..., :residual], out[..., residual:]

    return forward


def training_pass(block, x: torch.Tensor):
    """Forward, then backward from the sum of the residual and skip outputs."""
    def run() -> None:
        sum(out.sum() for out in block(x)).backward()
    return run


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


class GatedTanh(torch.autograd.Function):
    """``tanh(a) sigmoid(b)`` for ``h = [a; b]`` (channels), via sigmoids, with its own
    backward writing both gradient halves into one tensor."""

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        gate = h.shape[1] // 2
        t = torch.sigmoid(h.narrow(1, 0, gate) * 2).mul_(2).sub_(1)  # tanh(a)
        s = torch.sigmoid(h.narrow(1, gate, gate))
        ctx.save_for_backward(t, s)
        return t * s

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        t, s = ctx.saved_tensors
        gate = t.shape[1]
        out = grad.new_empty(t.shape[0], 2 * gate, t.shape[2])
        gs = grad * s
        gst = gs * t
        torch.addcmul(gs, gst, t, value=-1, out=out.narrow(1, 0, gate))  # g s (1 - t^2)
        torch.addcmul(gst, gst, s, value=-1, out=out.narrow(1, gate, gate))  # g t s (1 - s)
        return out


def pointwise(conv: torch.nn.Conv1d, x: torch.Tensor,
              residual: torch.Tensor | None = None) -> torch.Tensor:
    """``conv(x)`` (+ ``residual``) for a 1x1 convolution as one ``baddbmm``."""
    base = conv.bias.unsqueeze(-1) if residual is None else residual + conv.bias.unsqueeze(-1)
    return torch.baddbmm(base, conv.weight.squeeze(-1).expand(x.shape[0], -1, -1), x)


def pieces(shape: str, repeats: int, threads: int) -> None:
    """``--pieces``: the gate and the 1x1 projections, eager against ours."""
    batch, length, residual, gate, skip = SHAPES[shape]
    h = torch.randn(batch, 2 * gate, length, requires_grad=True)
    z = torch.randn(batch, gate, length, requires_grad=True)
    x = torch.randn(batch, residual, length)

    def eager_gate(h: torch.Tensor) -> tuple[torch.Tensor]:
        a, b = h.chunk(2, dim=1)
        return (torch.tanh(a) * torch.sigmoid(b),)

    cases = {"gate": (training_pass(eager_gate, h),
                      training_pass(lambda h: (GatedTanh.apply(h),), h))}
    for name, conv, add in (("residual 1x1", torch.nn.Conv1d(gate, residual, 1), x),
                            ("skip 1x1", torch.nn.Conv1d(gate, skip, 1), None)):
        cases[name] = (
            training_pass(lambda z, c=conv, r=add: (c(z) if r is None else r + c(z),), z),
            training_pass(lambda z, c=conv, r=add: (pointwise(c, z, r),), z))
    for name, (eager, ours) in cases.items():
        runs: dict[str, list[float]] = {"eager": [], "ours": []}
        for _ in range(repeats):  # alternated, so drift hits both alike
            runs["eager"].append(median_ms(eager, 1))
            runs["ours"].append(median_ms(ours, 1))
        a, b = statistics.median(runs["eager"]), statistics.median(runs["ours"])
        print(json.dumps({"block_piece": {
            "shape": shape, "piece": name, "threads": threads, "eager_ms": round(a, 2),
            "ours_ms": round(b, 2), "speedup": round(a / b, 2)}}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="SMALL")
    parser.add_argument("--dilations", type=int, nargs="+", default=[1, 64, 512])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pieces", action="store_true",
                        help="time the gate and the 1x1 projections, eager against ours")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.pieces:
        pieces(args.shape, max(args.repeats, 15), args.threads)
        return
    batch, length, residual, gate, skip = SHAPES[args.shape]
    for dilation in args.dilations:
        block = ResidualBlock(residual, gate, skip, kernel_size=2, dilation=dilation)
        x = torch.randn(batch, residual, length, requires_grad=True)
        xt = x.detach().transpose(1, 2).contiguous().requires_grad_()
        other = time_major(block)
        with torch.no_grad():
            ours, theirs = block(x), other(xt)
            error = max((ours.residual.transpose(1, 2) - theirs[0]).abs().max().item(),
                        (ours.skip.transpose(1, 2) - theirs[1]).abs().max().item())
        if error > 1e-4:
            raise AssertionError(f"time-major block differs by {error}")

        a = median_ms(training_pass(block, x), args.repeats)
        b = median_ms(training_pass(other, xt), args.repeats)
        print(json.dumps({"block_layout": {
            "shape": args.shape, "batch": batch, "length": length, "dilation": dilation,
            "threads": args.threads, "channel_major_ms": round(a, 1),
            "time_major_ms": round(b, 1), "speedup_time_major": round(a / b, 2),
            "max_abs_difference": error}}), flush=True)


if __name__ == "__main__":
    main()
