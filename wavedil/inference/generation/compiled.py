"""Compiled sampling: the fast path's arithmetic and the draw, one loop in machine code.

Shape legend: B batch, R residual, G gate, S skip channels, N layers, k kernel
size, C output channels, H history slots, n steps in a chunk.

At batch 1 the :class:`~wavedil.inference.generation.fast.FastStepper` spends most of a step
in the dispatch of its ~90 small ATen calls, not in arithmetic (docs/benchmarks.md:
about 1.2 M multiply-adds, 4.85 MB of float32 weights per SMALL step). Here the
same folded weights (the fast stepper's own tensors, shared, not copied) drive one
numba-compiled loop over a chunk of steps: input layer, every layer's taps, gate,
residual and skip projections, the output head and the draw of the next value, with
no call out of compiled code in between. Per chunk, Python only projects the local
conditioning (one matmul, as the fast path does) and draws the chunk's random
numbers from the caller's ``torch.Generator``, in the order the other samplers
draw them, so a seed gives the same samples as ``method="fast"`` (the logits
differ by float rounding only).

Loops run layer by layer and, inside, stream by stream, so that a layer's weights
are read once from memory per step whatever the batch.

numba is imported when the first compiled sampler is built (it comes with
librosa); the machine code is cached on disk after the first build, a few seconds.
A source-filter generator (:class:`~wavedil.nn.LinearPrediction`) runs the signal
loop of :class:`~wavedil.inference.generation.source_filter.SignalLoop` inside the kernel too:
per step and stream the prediction ``p_t`` from the signal's last ``p`` samples, the
side inputs' code embeddings added to the input, and after the draw ``y_t = p_t +
e_t``, all in float64 with the same boundary table for the mu-law codes.

Models this loop does not cover (a context block on the skips, half precision)
make :func:`compiled_sampler_or_reason` return the reason, and
:func:`~wavedil.inference.generate` falls back to the fast path with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from wavedil.distributions import DiscretizedLogisticMixture, MuLawCategorical
from wavedil.distributions.base import OutputDistribution
from wavedil.inference.generation.fast import FastStepper
from wavedil.models.generator import WaveNet
from wavedil.models.inputs import ContinuousInput, EmbeddingInput, OneHotInput

__all__ = ["CompiledSampler", "compiled_sampler_or_reason", "kernel"]

_DTYPES = (torch.float32, torch.float64)


def _run_chunk(t0, n, forced_steps, forced, x, ring, out, noise, uniform, temperature,
               table, in_bias, in_dilation, discrete_in,
               history, starts, sizes, dilations, kernel_size, w_now, w_past, bias, local,
               w_rs, skip_bias, w1, b1, w2, b2,
               mixture, log_scale_min, levels, eps, tiny,
               lpc, coefficients, signal_history, side_table, boundaries, excitation_levels,
               signal_bound, signal_out):  # pragma: no cover - compiled
    """Steps ``t0 .. t0 + n - 1`` of every stream (see the module docstring).

    ``x (B,)`` holds the value fed at the next step and is updated in place; ``ring
    (B, span)`` the input layer's past values (NaN: padding before the start);
    ``history (H, B, R)`` every layer's past inputs, in the fast stepper's carried
    units; ``out (n, B)`` receives the values (the first ``forced_steps`` copied from
    ``forced``, the prime, the others drawn with ``noise (n, B, C or K)`` and, for a
    mixture, ``uniform (n, B)``).

    With ``lpc``: ``coefficients (n, B, p)`` the steps' predictors, ``signal_history
    (B, p)`` the signal's last samples (newest first, updated in place), ``side_table
    (2V, R)`` the side inputs' embeddings, ``boundaries (V - 1,)`` and
    ``excitation_levels (V,)`` the mu-law codes' edges and values; ``forced`` then
    holds signal samples, and ``signal_out (n, B)`` receives ``y_t``.
    """
    batch, layers = x.shape[0], w_now.shape[0]
    r_ch, g2 = w_now.shape[1], w_now.shape[2]
    g_ch = g2 // 2
    rs = w_rs.shape[2]
    taps, span = table.shape[0], ring.shape[1]
    hidden_ch, classes = w1.shape[1], w2.shape[1]
    k_mix = classes // 3
    h = np.empty((batch, g2), dtype=w_now.dtype)
    z = np.empty(g_ch, dtype=w_now.dtype)
    xs = np.empty((batch, rs), dtype=w_now.dtype)  # [x_l - c_l ; skip sum] per stream
    hid = np.empty(hidden_ch, dtype=w_now.dtype)
    params = np.empty(classes, dtype=w_now.dtype)
    order = signal_history.shape[1]
    n_codes = excitation_levels.shape[0]
    prediction = np.zeros(batch)
    for i in range(n):
        t = t0 + i
        # the input layer: a causal conv over past values (an embedding is one tap)
        for b in range(batch):
            ring[b, t % span] = x[b]
            for c in range(r_ch):
                xs[b, c] = in_bias[c]
            for c in range(r_ch, rs):
                xs[b, c] = 0.0
            for j in range(taps):
                v = ring[b, (t - (taps - 1 - j) * in_dilation) % span]
                if v != v:  # padding before the first step
                    continue
                if discrete_in:
                    row = table[j, int(v)]
                    for c in range(r_ch):
                        xs[b, c] += row[c]
                else:
                    row = table[j, 0]
                    for c in range(r_ch):
                        xs[b, c] += v * row[c]
            if lpc:  # the side inputs: y_{t-1} and the prediction p_t, as codes
                pred = 0.0
                for k in range(order):
                    pred += coefficients[i, b, k] * signal_history[b, k]
                prediction[b] = pred
                row_y = side_table[np.searchsorted(boundaries, signal_history[b, 0], "right")]
                row_p = side_table[n_codes + np.searchsorted(boundaries, pred, "right")]
                for c in range(r_ch):
                    xs[b, c] += row_y[c] + row_p[c]
        # the residual layers, each stream in turn while the layer's weights are hot
        for layer in range(layers):
            start, size, dilation = starts[layer], sizes[layer], dilations[layer]
            for b in range(batch):
                hb = h[b]
                for c in range(g2):
                    hb[c] = bias[layer, b, c]
                if local.shape[0] > 0:
                    for c in range(g2):
                        hb[c] += local[i, b, layer, c]
                for j in range(1, kernel_size):
                    slot = start + (t - j * dilation) % size
                    wp = w_past[layer * (kernel_size - 1) + j - 1]
                    for r in range(r_ch):
                        xr = history[slot, b, r]
                        for c in range(g2):
                            hb[c] += xr * wp[r, c]
                wn = w_now[layer]
                for r in range(r_ch):
                    xr = xs[b, r]
                    for c in range(g2):
                        hb[c] += xr * wn[r, c]
                if kernel_size > 1:  # x_l[t] into the ring, after its oldest tap was read
                    slot = start + t % size
                    for r in range(r_ch):
                        history[slot, b, r] = xs[b, r]
                # filter rows hold -2a: tanh(a) sigmoid(b) = s(b) - 2 s(-2a) s(b)
                for c in range(g_ch):
                    gate = 1.0 / (1.0 + math.exp(-hb[g_ch + c]))
                    z[c] = gate - 2.0 * (gate / (1.0 + math.exp(-hb[c])))
                wl = w_rs[layer]
                for c in range(g_ch):
                    zc = z[c]
                    for o in range(rs):
                        xs[b, o] += zc * wl[c, o]
        # the head and the draw
        for b in range(batch):
            for c in range(hidden_ch):
                hid[c] = b1[c]
            for s in range(rs - r_ch):
                v = xs[b, r_ch + s] + skip_bias[s]
                if v > 0.0:
                    for c in range(hidden_ch):
                        hid[c] += v * w1[s, c]
            for c in range(classes):
                params[c] = b2[c]
            for s in range(hidden_ch):
                v = hid[s]
                if v > 0.0:
                    for c in range(classes):
                        params[c] += v * w2[s, c]
            if i < forced_steps and lpc:  # a prime's signal: its excitation's code
                value = float(np.searchsorted(boundaries, forced[i, b] - prediction[b], "right"))
            elif i < forced_steps:
                value = forced[i, b]
            else:
                options = k_mix if mixture else classes
                best, pick = -np.inf, 0
                for c in range(options):  # Gumbel-max: argmax(logits / T - log E)
                    score = params[c]
                    if temperature != 0.0:
                        if temperature != 1.0:
                            score = score / temperature
                        score = score - math.log(max(noise[i, b, c], tiny))
                    if score > best:
                        best, pick = score, c
                if not mixture:
                    value = float(pick)
                else:
                    amplitude = params[k_mix + pick]
                    if temperature != 0.0:  # the logistic's inverse CDF at u
                        scale = math.exp(max(params[2 * k_mix + pick], log_scale_min))
                        if temperature != 1.0:
                            scale = scale * temperature
                        u = min(max(uniform[i, b], eps), 1.0 - eps)
                        amplitude = math.log(u / (1.0 - u)) * scale + amplitude
                    level = np.rint(amplitude * levels)
                    value = min(max(level, -levels), levels - 1) / levels
            x[b] = value
            out[i, b] = value
            if lpc:  # the signal: y_t = p_t + e_t (a prime's as given)
                if i < forced_steps:
                    y = forced[i, b]
                else:
                    y = min(max(prediction[b] + excitation_levels[int(value)], -signal_bound),
                            signal_bound)
                for k in range(order - 1, 0, -1):
                    signal_history[b, k] = signal_history[b, k - 1]
                signal_history[b, 0] = y
                signal_out[i, b] = y


_KERNEL: Callable[..., Any] | None = None


def kernel() -> Callable[..., Any]:
    """The compiled loop (built on first use; raises ImportError without numba)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        # reassociation lets sums vectorise; results still differ from BLAS's by rounding only
        options = dict(fastmath={"reassoc", "contract", "nsz"}, error_model="numpy", nogil=True,
                       boundscheck=False)
        try:
            _KERNEL = numba.njit(cache=True, **options)(_run_chunk)
        except RuntimeError:  # no writable cache folder: compile for this process only
            _KERNEL = numba.njit(**options)(_run_chunk)
    return _KERNEL


def compiled_sampler_or_reason(model: WaveNet, batch: int, global_vector: Tensor | None,
                               local: Tensor | None, coefficients: Tensor | None = None
                               ) -> CompiledSampler | str:
    """A :class:`CompiledSampler`, or why this model or machine cannot have one
    (``coefficients``: a source-filter generator's, see :class:`CompiledSampler`)."""
    if getattr(model, "context", None) is not None:
        return "the model has a context block on its skip connections"
    weight = model.head_out.weight
    if weight.dtype not in _DTYPES or weight.device.type != "cpu":
        return f"it runs float32/float64 models on the CPU, not {weight.dtype} on {weight.device}"
    if not isinstance(model.output, (MuLawCategorical, DiscretizedLogisticMixture)):
        return f"it draws from MuLawCategorical or DiscretizedLogisticMixture, not {model.output!r}"
    try:
        kernel()
    except Exception as error:  # numba missing or failing to build: the fast path remains
        return f"numba could not compile the loop ({type(error).__name__}: {error})"
    try:
        sampler = CompiledSampler(model, batch, global_vector, local, coefficients=coefficients)
    except ValueError as error:  # blocks the fast stepper does not fold
        return str(error)
    try:
        sampler.warm_up()  # numba compiles at the first call: do it here, where it is caught
    except Exception as error:
        return f"numba could not compile the loop ({type(error).__name__}: {error})"
    return sampler


class CompiledSampler:
    """Draws values chunk by chunk with the compiled loop.

    Args:
        model: a generator on the CPU in float32 or float64, without a context block
            (see :func:`compiled_sampler_or_reason`).
        batch: streams ``B``.
        global_vector: ``(B, E)`` from :meth:`WaveNet.global_vector`, or ``None``.
        local: ``(B, L, T)`` from :meth:`WaveNet.upsample_local`, or ``None``.
        chunk: steps per call into compiled code.
        coefficients: ``(B, p, T)`` from :meth:`WaveNet.prediction_coefficients` for a
            source-filter generator (required for one, refused otherwise).

    Attributes:
        signal: after each :meth:`run`, a source-filter generator's signal ``(B, steps)``
            (float64), else ``None``.
    """

    def __init__(self, model: WaveNet, batch: int, global_vector: Tensor | None = None,
                 local: Tensor | None = None, chunk: int = 256,
                 coefficients: Tensor | None = None) -> None:
        self.fast = fast = FastStepper(model, batch, global_vector, local, chunk=chunk)
        self.model, self.batch, self.chunk = model, batch, chunk
        self.dtype = fast.dtype
        self.output: OutputDistribution = model.output
        self.mixture = isinstance(self.output, DiscretizedLogisticMixture)
        layer = model.input_layer
        weight = layer.weight.detach()
        if isinstance(layer, EmbeddingInput):  # one tap, a row per code
            table, bias, dilation = weight.unsqueeze(0), None, 1
        else:  # (R, V, k) -> (k, V, R): tap j reads x[t - (k - 1 - j) d]
            assert isinstance(layer, (OneHotInput, ContinuousInput))
            table, bias, dilation = weight.permute(2, 1, 0), layer.bias, layer.dilation[0]
        self._discrete_in = not isinstance(layer, ContinuousInput)
        self._table = table.to(self.dtype).contiguous().numpy()
        self._in_bias = (torch.zeros(fast.residual_channels, dtype=self.dtype) if bias is None
                         else bias.detach().to(self.dtype)).numpy()
        self._in_dilation = dilation
        span = (table.shape[0] - 1) * dilation + 1
        self._ring = np.full((batch, span), np.nan)  # no value before the first step
        self._layers = tuple(np.asarray(v, dtype=np.int64)
                             for v in (fast._starts, fast._sizes, fast._dilations))
        # numpy views of the fast stepper's tensors, in the kernel's argument order
        self._taps = tuple(a.numpy() for a in (fast.w_now, fast.w_past, fast.bias))
        self._outputs = tuple(a.numpy() for a in (
            fast.w_rs, fast.skip_bias, fast.head_w1, fast.head_b1, fast.head_w2, fast.head_b2))
        self._history = fast.history.numpy()
        self._no_local = np.zeros((0, batch, fast.num_layers, 2 * fast.gate_channels),
                                  dtype=self._taps[0].dtype)
        self._prepare_source_filter(model, coefficients)
        self.signal: Tensor | None = None
        self.t = 0

    def _prepare_source_filter(self, model: WaveNet, coefficients: Tensor | None) -> None:
        """The kernel's source-filter arguments (empty, and switched off, without)."""
        lp = model.linear_prediction
        if (lp is None) != (coefficients is None):
            raise ValueError("Expected prediction coefficients exactly for a generator with "
                             "linear prediction.")
        self.coefficients = coefficients
        if lp is None:
            self._source_filter = (False, np.zeros((0, self.batch, 1)), np.zeros((self.batch, 1)),
                                   np.zeros((2, 1), dtype=self._table.dtype), np.zeros(1),
                                   np.zeros(1), 1.0)
            return
        assert coefficients is not None
        self._source_filter = (
            True, np.zeros((0, self.batch, lp.order)), np.zeros((self.batch, lp.order)),
            lp.embedding.weight.detach().to(self.dtype).contiguous().numpy(),
            lp.boundaries.cpu().numpy(), lp.levels.cpu().numpy(), 1.0 + model.preemphasis)

    def run(self, x: Tensor, steps: int, forced: Tensor | None = None,
            temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Feed ``x (B,)`` at the next step and go on for ``steps`` steps; the first
        ``forced (B, F)`` values are taken as given (a prime; a source-filter
        generator's: its signal samples), the rest drawn.

        Returns the ``(B, steps)`` values (as the distribution's ``sample`` gives them).
        """
        values = torch.empty(steps, self.batch, dtype=torch.float64)
        signal = torch.empty(steps if self.coefficients is not None else 0, self.batch,
                             dtype=torch.float64)
        state = x.to(torch.float64).numpy().copy()
        n_forced = 0 if forced is None else forced.shape[-1]
        done = 0
        while done < steps:
            n = min(self.chunk, steps - done)
            first_drawn = min(max(n_forced - done, 0), n)
            chunk_forced = np.zeros((first_drawn, self.batch))
            if first_drawn:
                assert forced is not None
                chunk_forced = np.ascontiguousarray(  # (n, B): one layout, one compilation
                    forced[:, done:done + first_drawn].t().to(torch.float64).numpy())
            noise, uniform = self._draw(n, first_drawn, temperature, generator)
            local = (self._no_local if self.fast.local is None
                     else self.fast.project_local(self.t, n).numpy())
            coefficients = None
            if self.coefficients is not None:
                coefficients = np.ascontiguousarray(  # (n, B, p)
                    self.coefficients[..., self.t:self.t + n].permute(2, 0, 1).numpy())
            self._kernel(n, first_drawn, chunk_forced, state, values[done:done + n].numpy(),
                         noise, uniform, temperature, local, coefficients,
                         signal[done:done + n].numpy())
            self.t += n
            done += n
        self.signal = signal.t() if self.coefficients is not None else None
        # as sample() gives them: codes, or a mixture's values in at least float32
        kind = (torch.long if self.output.discrete
                else torch.promote_types(self.dtype, torch.float32))
        return values.t().to(kind)

    def _kernel(self, n: int, first_drawn: int, forced: np.ndarray, state: np.ndarray,
                values: np.ndarray, noise: np.ndarray, uniform: np.ndarray,
                temperature: float, local: np.ndarray, coefficients: np.ndarray | None,
                signal: np.ndarray) -> None:
        """One call into the compiled loop: ``n`` steps from step ``self.t``."""
        lpc, no_coefficients, *source_filter = self._source_filter
        kernel()(self.t, n, first_drawn, forced, state, self._ring, values, noise, uniform,
                 float(temperature), self._table, self._in_bias, self._in_dilation,
                 self._discrete_in, self._history, *self._layers, self.fast.kernel_size,
                 *self._taps, local, *self._outputs, self.mixture, *self._mixture_constants(),
                 lpc, no_coefficients if coefficients is None else coefficients,
                 *source_filter, signal)

    def warm_up(self) -> None:
        """Compile the loop for this model's argument types (numba compiles at the first
        call) by a call of zero steps: nothing is drawn, read or written. A failure to
        compile raises here, where :func:`compiled_sampler_or_reason` turns it into a
        reason to fall back, rather than in the middle of a generation."""
        options = self.output.components if self.mixture else self.output.out_channels
        empty = np.zeros((0, self.batch), dtype=np.float64)
        p = 1 if self.coefficients is None else self.coefficients.shape[1]
        self._kernel(0, 0, empty.copy(), np.zeros(self.batch), empty.copy(),
                     np.zeros((0, self.batch, options), dtype=self._table.dtype),
                     np.zeros((0, self.batch), dtype=self._table.dtype), 1.0, self._no_local,
                     np.zeros((0, self.batch, p)), empty.copy())

    def _mixture_constants(self) -> tuple[float, float, float, float]:
        tiny = float(torch.finfo(self.dtype).tiny)
        if not self.mixture:
            return 0.0, 1.0, 0.0, tiny
        out = self.output
        assert isinstance(out, DiscretizedLogisticMixture)
        return out.log_scale_min, float(out.levels), float(torch.finfo(self.dtype).eps), tiny

    def _draw(self, n: int, first_drawn: int, temperature: float,
              generator: torch.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's random numbers, drawn as the distribution's ``sample`` draws
        them step by step (Gumbel noise per option; a mixture then one uniform)."""
        options = self.output.components if self.mixture else self.output.out_channels
        noise = torch.empty(n, self.batch, options, dtype=self.dtype)
        uniform = torch.empty(n, self.batch, dtype=self.dtype)
        if temperature != 0 and first_drawn < n:
            if not self.mixture:  # one call draws the steps' numbers in the same order
                noise[first_drawn:].exponential_(generator=generator)
            else:
                for i in range(first_drawn, n):
                    noise[i].exponential_(generator=generator)
                    uniform[i].uniform_(generator=generator)
        return noise.numpy(), uniform.numpy()
