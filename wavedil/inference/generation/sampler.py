"""Autoregressive sampling from a :class:`~wavedil.models.WaveNet`.

Shape legend: B batch (independent streams), T samples, C distribution
parameters, F conditioning features per frame, L upsampled local channels.

Three steppers compute the same numbers, the distribution parameters at the
next step, and differ only in cost per sample (a fourth method, ``"compiled"``
(:mod:`wavedil.inference.generation.compiled`), runs the fast stepper's arithmetic and the
draws in one numba-compiled loop: 2x the fast path at batch 1 on a small model; a
fifth, ``"graph"`` (:mod:`wavedil.inference.generation.graph`), replays the fast step as a CUDA
graph on a GPU):

* ``"fast"`` (:class:`~wavedil.inference.generation.fast.FastStepper`): cached queues with
  fused weights; O(layers) per sample, few large ops.
* ``"cached"`` (:class:`CachedStepper`): cached queues through each module's
  ``step``; O(layers) per sample; works for any causal block.
* ``"naive"`` (:class:`NaiveStepper`): the reference; re-runs ``forward`` over the
  last ``receptive_field`` inputs; O(receptive field) per sample.

Sampling draws from the distribution with a seeded ``torch.Generator``; the
steppers consume the random numbers identically, so the same seed gives the
same audio whichever stepper runs. (With a continuous output such as
:class:`~wavedil.distributions.DiscretizedLogisticMixture` in float32, the
steppers' rounding differences, about 1e-7, can now and then put a value on the
other side of a 16-bit step; from there the streams part by a few steps. In
float64 they agree exactly.)
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from wavedil.inference.generation.compiled import CompiledSampler, compiled_sampler_or_reason
from wavedil.inference.generation.fast import FastStepper
from wavedil.inference.generation.graph import graph_stepper_or_reason
from wavedil.inference.generation.source_filter import SignalLoop
from wavedil.models.generator import WaveNet
from wavedil.nn.checks import check_choice, check_positive_int

__all__ = ["METHODS", "STEPPERS", "CachedStepper", "Generation", "NaiveStepper", "auto_method",
           "generate", "make_stepper"]

STEPPERS = ("fast", "cached", "naive")
METHODS = (*STEPPERS, "compiled", "graph", "auto")
#: "auto" takes the compiled loop up to this batch, for weights up to this size (cache-
#: resident: beyond, both paths wait on memory and the fast path's batched products win)
AUTO_MAX_BATCH, AUTO_MAX_WEIGHT_BYTES = 4, 8 * 2**20

#: ``stepper(x (B,), side (B, 2)?) -> params (B, C)``: one step of the network
Stepper = Callable[..., Tensor]


class Generation(NamedTuple):
    """What :func:`generate` returns.

    Attributes:
        values: generated values ``(B, T)``: mu-law codes (long) for a categorical
            output, grid amplitudes (float) for a logistic mixture.
            A source-filter generator's values are its excitation's mu-law codes.
        audio: the audio, ``(B, T)`` floats in [-1, 1]: the values decoded (and
            de-emphasised), or a source-filter generator's signal de-emphasised.
        seconds: wall time of the sampling loop.
        method: the method that ran (``"auto"`` resolved, a fallback applied).
        signal: ``(B, T)`` float64 signal ``y = p + e`` of a source-filter generator
            before de-emphasis, else ``None``.
    """

    values: Tensor
    audio: Tensor
    seconds: float
    method: str = "fast"
    signal: Tensor | None = None


class CachedStepper:
    """Cached queues through :meth:`WaveNet.step` (one ring buffer per block).

    Args:
        model: the generator.
        batch: streams.
        global_vector: ``(B, E)`` or ``None``.
        local: upsampled local conditioning ``(B, L, T)`` or ``None``.
    """

    def __init__(self, model: WaveNet, batch: int, global_vector: Tensor | None = None,
                 local: Tensor | None = None) -> None:
        self.model, self.global_vector, self.local = model, global_vector, local
        self.state = model.init_state(batch)

    @torch.no_grad()
    def __call__(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        t = self.state.index
        local = None if self.local is None else self.local[..., t:t + 1]  # (B, L, 1)
        params, self.state = self.model.step(x.unsqueeze(-1), self.state, local,
                                             self.global_vector,
                                             None if side is None else side.unsqueeze(-1))
        return params[..., 0]  # (B, C)


class NaiveStepper:
    """Reference: ``forward`` over the last ``receptive_field`` inputs, every step."""

    def __init__(self, model: WaveNet, batch: int, global_vector: Tensor | None = None,
                 local: Tensor | None = None) -> None:
        if getattr(getattr(model, "context", None), "global_context", False):
            raise ValueError(
                "The naive sampler re-runs forward over one receptive field, but this model's "
                "context block pools over the whole past (an unbounded field); use "
                "method='fast' or 'cached'.")
        self.model, self.global_vector, self.local = model, global_vector, local
        self.inputs: list[Tensor] = []  # the last receptive_field inputs
        self.sides: list[Tensor] = []  # and their side inputs (source-filter generators)
        self.t = 0

    @torch.no_grad()
    def __call__(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        self.inputs.append(x)
        if side is not None:
            self.sides.append(side)
        if len(self.inputs) > self.model.receptive_field:
            del self.inputs[0]
            if self.sides:
                del self.sides[0]
        self.t += 1
        window = torch.stack(self.inputs, dim=-1)  # (B, <= receptive field)
        sides = torch.stack(self.sides, dim=-1) if side is not None else None  # (B, 2, W)
        start = self.t - window.shape[-1]
        local = None if self.local is None else self.local[..., start:self.t]
        params = self.model.forward_prepared(window, local, self.global_vector, sides)
        return params[..., -1]  # (B, C)


def make_stepper(method: str, model: WaveNet, batch: int,
                 global_vector: Tensor | None = None, local: Tensor | None = None) -> Stepper:
    """Build the stepper called ``method`` (one of :data:`STEPPERS`)."""
    check_choice("method", method, STEPPERS)
    kind = {"fast": FastStepper, "cached": CachedStepper, "naive": NaiveStepper}[method]
    return kind(model, batch, global_vector=global_vector, local=local)


def auto_method(model: WaveNet, batch: int) -> str:
    """What ``method="auto"`` runs: ``"compiled"`` on the CPU for up to
    :data:`AUTO_MAX_BATCH` streams of a model whose weights fit in
    :data:`AUTO_MAX_WEIGHT_BYTES` (2.3x the fast path at batch 1, 1.8x at batch 4 on
    SMALL, 4.1x for the FSDD vocoder), else ``"fast"`` (docs/benchmarks.md)."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    cpu = model.head_out.weight.device.type == "cpu"
    small = batch <= AUTO_MAX_BATCH and weights <= AUTO_MAX_WEIGHT_BYTES
    return "compiled" if cpu and small else "fast"


def _batch_size(batch_size: int | None, *tensors: Tensor | None) -> int:
    sizes = {t.shape[0] for t in tensors if t is not None}
    if batch_size is not None:
        sizes.add(check_positive_int("batch_size", batch_size))
    if len(sizes) > 1:
        raise ValueError(f"Expected one batch size across arguments, but found {sorted(sizes)}.")
    return sizes.pop() if sizes else 1


@torch.inference_mode()
def generate(
    model: WaveNet,
    num_samples: int,
    batch_size: int | None = None,
    *,
    method: str = "fast",
    temperature: float = 1.0,
    seed: int | None = None,
    global_cond: Tensor | None = None,
    local_cond: Tensor | None = None,
    prime: Tensor | None = None,
    progress: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> Generation:
    """Sample ``num_samples`` values per stream.

    Args:
        model: the generator (put in eval mode here).
        num_samples: samples to generate per stream.
        batch_size: independent streams (default: from the conditioning or prime, else 1).
        method: ``"fast"``, ``"cached"``, ``"naive"``, ``"compiled"`` (CPU) or
            ``"graph"`` (CUDA): the same numbers at different cost. ``"compiled"`` and
            ``"graph"`` fall back to ``"fast"`` with a warning where they cannot run
            (see :mod:`~wavedil.inference.generation.compiled` and
            :mod:`~wavedil.inference.generation.graph`);
            ``"auto"`` picks by :func:`auto_method`, silently.
        temperature: divides the logits (a mixture: its weights' logits, and multiplies
            its scales); 0 takes the most likely value (a mixture: the mean of its
            likeliest component) every step.
        seed: seeds the sampling generator (same seed, same audio); ``None`` draws from
            torch's global generator.
        global_cond: ``(B,)`` class ids or ``(B, E)`` vectors, if the model is
            conditioned globally.
        local_cond: ``(B, F, N)`` feature frames covering the prime and the generated
            samples (``N * hop >= P + num_samples``), if conditioned locally.
        prime: ``(B, P)`` audio in [-1, 1] that the generation continues; not returned.
        progress: show a progress bar with samples per second.
        on_progress: called now and then with the steps taken so far (for a caller's
            own progress bar across several calls).

    Returns:
        :class:`Generation` of ``(B, num_samples)`` values and audio.
    """
    check_positive_int("num_samples", num_samples)
    check_choice("method", method, METHODS)
    if not (isinstance(temperature, (int, float)) and 0 <= temperature < math.inf):
        raise ValueError(f"Expected a temperature >= 0, but found {temperature!r}.")
    model.eval()
    batch = _batch_size(batch_size, global_cond, local_cond, prime)
    device = next(model.parameters()).device
    dist = model.output
    source_filter = model.linear_prediction is not None
    prime = None if prime is None else prime.to(device)
    # a prime in the model's domain: pre-emphasised, then codes (or, for a source-filter
    # generator, the signal itself: its excitation depends on the prediction, step by step)
    primed = None
    if prime is not None:
        primed = model.emphasize(prime.double() if source_filter else prime)  # (B, P)
        primed = primed if source_filter else dist.encode(primed)
    prime_len = 0 if primed is None else primed.shape[-1]
    total = prime_len + num_samples

    gvec = model.global_vector(None if global_cond is None else global_cond.to(device))
    local_cond = None if local_cond is None else local_cond.to(device)
    local = model.upsample_local(local_cond, total)
    loop = None
    if source_filter:
        assert local_cond is not None  # upsample_local insists on it
        loop = SignalLoop(model, model.prediction_coefficients(local_cond, total))
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    x = dist.silence_values(batch, device)
    quiet = method == "auto"  # auto falls back to fast without a warning
    if quiet:
        method = auto_method(model, batch)
    stepper: Stepper | None = None
    if method in ("compiled", "graph"):
        built = (compiled_sampler_or_reason(model, batch, gvec, local,
                                            None if loop is None else loop.coefficients)
                 if method == "compiled" else graph_stepper_or_reason(model, batch, gvec, local))
        if isinstance(built, CompiledSampler):
            return _generate_compiled(built, model, x, num_samples, primed, prime, temperature,
                                      generator, progress, on_progress)
        if isinstance(built, str):
            if not quiet:
                warnings.warn(f"method={method!r} is not available: {built}; using "
                              f"method='fast'.", stacklevel=3)
            method = "fast"
        else:
            stepper = built
    if stepper is None:
        stepper = make_stepper(method, model, batch, gvec, local)

    values = torch.empty(batch, num_samples, dtype=x.dtype, device=device)
    bar = tqdm(total=total * batch, unit="sample", unit_scale=True, disable=not progress,
               desc=f"generating ({method})", smoothing=0.1)
    start = time.perf_counter()
    for t in range(total):
        params = stepper(x) if loop is None else stepper(x, loop.side(t))  # (B, C)
        if t < prime_len:
            assert primed is not None
            x = primed[:, t] if loop is None else loop.force(t, primed[:, t])  # teacher-forced
        else:
            x = dist.sample(params, temperature, generator)  # (B,)
            values[:, t - prime_len] = x
            if loop is not None:
                loop.draw(t, x)
        if t % 64 == 63 or t == total - 1:
            if progress:
                bar.update((t + 1) * batch - bar.n)
            if on_progress is not None:
                on_progress(t + 1)
    seconds = time.perf_counter() - start
    bar.close()
    signal = None if loop is None else loop.signal[:, prime_len:]
    return Generation(values, _audio(model, values, signal, prime), seconds, method, signal)


def _audio(model: WaveNet, values: Tensor, signal: Tensor | None, prime: Tensor | None
           ) -> Tensor:
    """The generated audio ``(B, T)``: the values decoded (a source-filter generator: its
    signal), de-emphasised after the prime's last sample, through the synthesis
    high-pass if the model has one, in [-1, 1]."""
    if model.preemphasis == 0 and signal is None and model.highpass_hz is None:
        return model.output.decode(values)
    y = model.output.decode(values) if signal is None else signal
    previous = None if prime is None else prime[:, -1]
    audio = model.filter_output(model.deemphasize(y.double(), previous), prime)
    return audio.clamp(-1.0, 1.0).float()


def _generate_compiled(sampler: CompiledSampler, model: WaveNet, x: Tensor, num_samples: int,
                       primed: Tensor | None, prime: Tensor | None, temperature: float,
                       generator: torch.Generator | None, progress: bool,
                       on_progress: Callable[[int], None] | None) -> Generation:
    """:func:`generate`'s loop in compiled chunks (the prime teacher-forced, then drawn)."""
    prime_len = 0 if primed is None else primed.shape[-1]
    total = prime_len + num_samples
    parts, signals = [], []
    bar = tqdm(total=total * sampler.batch, unit="sample", unit_scale=True,
               disable=not progress, desc="generating (compiled)", smoothing=0.1)
    start = time.perf_counter()
    for first in range(0, total, sampler.chunk):
        steps = min(sampler.chunk, total - first)
        forced = None if primed is None else primed[:, first:first + steps]
        parts.append(sampler.run(x, steps, forced, temperature, generator))
        if sampler.signal is not None:
            signals.append(sampler.signal)
        x = parts[-1][:, -1]
        bar.update(steps * sampler.batch)
        if on_progress is not None:
            on_progress(first + steps)
    seconds = time.perf_counter() - start
    bar.close()
    values = torch.cat(parts, dim=-1)[:, prime_len:]
    signal = torch.cat(signals, dim=-1)[:, prime_len:] if signals else None
    return Generation(values, _audio(model, values, signal, prime), seconds, "compiled", signal)
