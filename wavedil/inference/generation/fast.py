"""Fast WaveNet step: the cached-queue algorithm with weights laid out for few ops.

Shape legend: B batch, R residual, G gate, S skip channels, N layers, k kernel
size, C output channels, H history slots (``sum_l (k - 1) d_l``).

Per sample, :meth:`WaveNet.step` walks the modules (about 15 small ops per
layer). Here the same arithmetic is regrouped, exact up to float rounding:

1. **Every layer's past taps at once.** Layer ``l`` at step ``t`` needs
   ``x_l[t - j d_l]`` for ``j = 1 .. k - 1``; all of them were computed at earlier
   steps, so one ``index_select`` gathers them from a single history tensor
   (a ring buffer per layer, laid end to end) and one batched matmul applies
   their weights, biases and conditioning for all ``N`` layers.
2. **Four ops per layer** on preallocated buffers: ``h = P_l + x_l W_now``, one
   ``sigmoid`` over both halves, the gate as one ``addcmul``, and
   ``[x; s] += z [W_res | W_skip]`` (residual and skip projections as one matmul).
   The gate uses ``tanh(a) = 1 - 2 sigmoid(-2a)``, so
   ``tanh(a) sigmoid(b) = sigmoid(b) - 2 sigmoid(-2a) sigmoid(b)``; the factor -2 is
   folded into the filter rows of the weights (exact: a power of two). ATen's
   ``tanh`` also costs several times its ``sigmoid`` on small tensors.
3. **Biases folded away.** The residual biases accumulate along the stack; we
   carry ``x_l - c_l`` (``c_l`` the sum of the biases of earlier layers) and fold
   ``c_l`` into each layer's constant term, and the summed skip biases into the
   head, so no per-layer add remains.
4. **One write** puts every layer's input back into its ring (``index_copy_``).

The work per sample is O(layers), independent of the receptive field.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from wavedil.models.generator import WaveNet
from wavedil.models.inputs import ContinuousInput, EmbeddingInput
from wavedil.nn.residual import ResidualBlock

__all__ = ["FastStepper"]

_MAX_TABLE_PERIOD = 1 << 14


class FastStepper:
    """Stateful one-sample-at-a-time evaluation of a :class:`WaveNet`.

    Args:
        model: the generator (its weights are copied; later changes are not seen).
        batch: independent streams ``B``.
        global_vector: ``(B, E)`` from :meth:`WaveNet.global_vector`, or ``None``.
        local: ``(B, L, T)`` from :meth:`WaveNet.upsample_local` (T >= steps to
            take), or ``None``.
        chunk: steps of local conditioning projected per matmul.

    Call it with the values at step ``t`` (``(B,)``) to get the parameters of the
    distribution at ``t`` (``(B, C)``), like column ``t`` of ``model.forward``; a
    source-filter generator also takes the step's side inputs ``(B, 2)``.

    Example:
        >>> from wavedil.models import wavenet_tiny
        >>> net = wavenet_tiny().eval()
        >>> step = FastStepper(net, batch=2)
        >>> step(torch.tensor([128, 128])).shape
        torch.Size([2, 256])
    """

    @torch.no_grad()
    def __init__(
        self,
        model: WaveNet,
        batch: int,
        global_vector: Tensor | None = None,
        local: Tensor | None = None,
        chunk: int = 256,
    ) -> None:
        blocks = list(model.stack.blocks)
        if not all(type(b) is ResidualBlock and b.causal for b in blocks):
            raise ValueError("FastStepper handles causal ResidualBlocks only; use method='cached'.")
        kernels = {b.conv.kernel_size[0] for b in blocks}
        if len(kernels) != 1:
            raise ValueError(
                f"Expected one kernel size across blocks, but found {sorted(kernels)}."
            )
        first = model.head_out.weight
        self.device, self.dtype = first.device, first.dtype
        self.model = model
        self.batch = batch
        self.kernel_size = kernels.pop()
        self.num_layers = len(blocks)
        self.residual_channels = blocks[0].conv.in_channels
        self.gate_channels = blocks[0].gate_channels
        self.skip_channels = blocks[0].skip_proj.out_channels
        self._dev = dict(device=self.device, dtype=self.dtype)

        offsets = self._lay_out_weights(blocks)
        self._fold_biases(blocks, offsets, global_vector)
        self._prepare_local(blocks, local, chunk)
        self._prepare_history(blocks, offsets)
        self._prepare_input()
        self._allocate_buffers()
        self._prepare_head()
        context = getattr(model, "context", None)
        self.context_cache = (None if context is None
                              else context.init_cache(batch, self.device, self.dtype))
        self.t = 0

    # -- set-up, in the order __init__ calls it ---------------------------------------------

    def _lay_out_weights(self, blocks: list[ResidualBlock]) -> Tensor:
        """Every layer's conv, residual and skip weights transposed for row-vector
        products ``x @ W``; returns ``c_l``, the residual biases of the layers before
        each, ``(N, R)`` (see :meth:`_fold_biases`)."""
        k, r, g, dev = self.kernel_size, self.residual_channels, self.gate_channels, self._dev
        n = self.num_layers
        w = torch.stack([b.conv.weight for b in blocks])  # (N, 2G, R, k)
        self.w_now = w[..., k - 1].transpose(1, 2).contiguous()  # (N, R, 2G)
        # tap i of the conv reads x[t - (k - 1 - i) d]: delay j = 1 .. k-1 is tap k-1-j
        w_past = torch.stack([w[..., k - 1 - j] for j in range(1, k)], dim=1)  # (N, k-1, 2G, R)
        self._w_past_sum = w_past.transpose(2, 3).sum(1)  # (N, R, 2G)
        self.w_past = w_past.transpose(2, 3).reshape(n * (k - 1), r, 2 * g).contiguous()

        def residual(b: ResidualBlock) -> tuple[Tensor, Tensor]:  # a missing one adds nothing
            if b.residual_proj is None:
                return torch.zeros(r, g, **dev), torch.zeros(r, **dev)
            return b.residual_proj.weight[..., 0], b.residual_proj.bias

        w_rs = torch.cat([torch.stack([residual(b)[0] for b in blocks]),
                          torch.stack([b.skip_proj.weight[..., 0] for b in blocks])], dim=1)
        self.w_rs = w_rs.transpose(1, 2).contiguous()  # (N, G, R + S)
        b_res = torch.stack([residual(b)[1] for b in blocks])  # (N, R)
        self.skip_bias = torch.stack([b.skip_proj.bias for b in blocks]).sum(0)  # (S,)
        return torch.cat([torch.zeros(1, r, **dev), b_res.cumsum(0)[:-1]])  # (N, R) = c_l

    def _fold_biases(self, blocks: list[ResidualBlock], offsets: Tensor,
                     global_vector: Tensor | None) -> None:
        """One constant term per layer and stream: the conv bias, the carried offsets
        ``c_l`` through all taps, and the global conditioning. The filter half of
        everything that makes ``a`` is scaled by -2 (``tanh(a) = 1 - 2 sigmoid(-2a)``)."""
        n, g = self.num_layers, self.gate_channels
        conv_bias = torch.stack([b.conv.bias for b in blocks])  # (N, 2G)
        taps_sum = self.w_now + self._w_past_sum  # (N, R, 2G)
        constant = conv_bias + torch.einsum("nr,nrg->ng", offsets, taps_sum)  # (N, 2G)
        bias = constant.unsqueeze(1).expand(n, self.batch, 2 * g)  # (N, B, 2G)
        if global_vector is not None:
            w_g = torch.stack([b.global_proj.weight for b in blocks])  # (N, 2G, E)
            bias = bias + torch.einsum("be,nge->nbg", global_vector.to(**self._dev), w_g)
        self.bias = bias.contiguous()
        self._filter_rows = slice(0, g)
        for t in (self.w_now, self.w_past):
            t[..., self._filter_rows] *= -2
        self.bias[..., self._filter_rows] *= -2

    def _prepare_local(self, blocks: list[ResidualBlock], local: Tensor | None,
                       chunk: int) -> None:
        """All layers' local projections stacked, applied ``chunk`` steps at a time."""
        self.local = local
        self.chunk = chunk
        self.w_local = None
        if local is not None:
            w_l = torch.stack([b.local_proj.weight[..., 0] for b in blocks])  # (N, 2G, L)
            w_l = w_l.clone()
            w_l[:, self._filter_rows] *= -2
            self.w_local = w_l.reshape(self.num_layers * 2 * self.gate_channels,
                                       -1).t().contiguous()  # (L, N * 2G)
        self._local_chunk: Tensor | None = None
        self._local_start = 0

    def _prepare_history(self, blocks: list[ResidualBlock], offsets: Tensor) -> None:
        """One history tensor for all layers: layer ``l`` owns slots
        ``[start_l, start_l + (k-1) d_l)``, ``x[s]`` at ``s mod size``."""
        dilations = [b.conv.dilation[0] for b in blocks]
        sizes = [(self.kernel_size - 1) * d for d in dilations]
        starts = [0, *torch.tensor(sizes).cumsum(0).tolist()[:-1]]
        history = torch.zeros(sum(sizes), self.batch, self.residual_channels,
                              **self._dev)  # (H, B, R)
        for layer, (start, size) in enumerate(zip(starts, sizes, strict=True)):
            history[start:start + size] = -offsets[layer]  # true zeros, in carried units
        self.history = history
        self._sizes, self._starts, self._dilations = sizes, starts, dilations
        # the slots each step reads and writes, as arithmetic on device tensors
        taps = range(1, self.kernel_size)
        long = dict(dtype=torch.long, device=self.device)
        self._read_starts = torch.tensor([s for s in starts for _ in taps], **long)
        self._read_delays = torch.tensor([j * d for d in dilations for j in taps], **long)
        self._read_sizes = torch.tensor([z for z in sizes for _ in taps], **long)
        self._write_starts = torch.tensor(starts, **long)
        self._write_sizes = torch.tensor(sizes, **long)
        self._period = math.lcm(*sizes) if sizes else 1
        if self._period <= _MAX_TABLE_PERIOD:  # index rows per t mod period: no index math
            self._read_rows = [self._read_index(t) for t in range(self._period)]
            self._write_rows = [self._write_index(t) for t in range(self._period)]

    def _prepare_input(self) -> None:
        """The input layer's own fast path: a row lookup for an embedding; for
        amplitudes a doubled buffer of the last values (each written twice, so the
        window is always one slice) and one addmm; else the layer's cached step."""
        layer = self.model.input_layer
        self.embedding = layer.weight.detach() if isinstance(layer, EmbeddingInput) else None
        self.input_cache = None
        self._amplitude_windows: list[tuple[Tensor, Tensor, Tensor]] | None = None
        if isinstance(layer, ContinuousInput):
            k, d = layer.kernel_size[0], layer.dilation[0]
            span = (k - 1) * d + 1
            amplitudes = torch.zeros(self.batch, 2 * span, **self._dev)  # forward's padding
            self._amplitude_windows = [
                (amplitudes[:, p], amplitudes[:, p + span], amplitudes[:, p + 1:p + 1 + span:d])
                for p in range(span)]  # (B,), (B,), (B, k) oldest first
            self._input_taps = layer.weight.detach()[:, 0, :].t().to(**self._dev).contiguous()
            self._input_bias = (layer.bias.detach().to(**self._dev) if layer.bias is not None
                                else torch.zeros(self.residual_channels, **self._dev))
        elif self.embedding is None:  # one-hot vectors: the layer's own cached step
            self.input_cache = layer.init_cache(self.batch, self.device, self.dtype)
        # a source-filter generator's side inputs: one embedding row per code, summed
        self.linear_prediction = lp = self.model.linear_prediction
        self.side_table = None
        if lp is not None:
            self.side_table = lp.embedding.weight.detach().to(**self._dev)  # (2V, R)
            self._side_offsets = torch.arange(2, device=self.device) * lp.classes  # (2,)

    def _allocate_buffers(self) -> None:
        """Per-step buffers and their per-layer views: the steps allocate nothing."""
        n, r, g = self.num_layers, self.residual_channels, self.gate_channels
        batch, dev = self.batch, self._dev
        self.carried = torch.zeros(n + 1, batch, r + self.skip_channels, **dev)  # [x_l - c_l; s]
        self.past = torch.empty(n, batch, 2 * g, **dev)
        self._past_taps = torch.empty(n * (self.kernel_size - 1), batch, 2 * g, **dev)
        self._bias_step = torch.empty(n, batch, 2 * g, **dev)
        self.h = torch.empty(n, batch, 2 * g, **dev)
        self.z = torch.empty(n, batch, g, **dev)
        self._views = [
            (self.past[i], self.carried[i, :, :r], self.w_now[i], self.h[i],
             self.h[i, :, :g], self.h[i, :, g:], self.z[i], self.w_rs[i],
             self.carried[i], self.carried[i + 1])
            for i in range(n)
        ]
        self.skip_slice = self.carried[n, :, r:]
        self._first_input = self.carried[0, :, :r]  # (B, R) view
        self._layer_inputs = self.carried[:-1, :, :r]  # (N, B, R) view
        self._embedded = torch.empty(batch, r, **dev)

    def _prepare_head(self) -> None:
        """The output head's two 1x1 convolutions as matrices."""
        hidden, out = self.model.head_hidden, self.model.head_out
        self.head_w1 = hidden.weight[..., 0].t().contiguous()
        self.head_w2 = out.weight[..., 0].t().contiguous()
        self.head_b1, self.head_b2 = hidden.bias.detach(), out.bias.detach()

    # -- ring indices --------------------------------------------------------------------

    def _read_index(self, t: int) -> Tensor:
        """History slots of x_l[t - j d_l], ordered (layer, j): computed on the device
        from ``t`` alone (a scalar argument; no tensor built on the host per step)."""
        return self._read_starts + torch.remainder(t - self._read_delays, self._read_sizes)

    def _write_index(self, t: int) -> Tensor:
        """History slot of x_l[t] for each layer."""
        return self._write_starts + torch.remainder(
            torch.full_like(self._write_sizes, t), self._write_sizes)

    # -- one step --------------------------------------------------------------------------

    def project_local(self, start: int, steps: int) -> Tensor:
        """Every layer's local conditioning term for steps ``start .. start + steps - 1``
        in one matmul, filter rows scaled as the weights are: ``(c, B, N, 2G)``."""
        assert self.local is not None and self.w_local is not None
        window = self.local[..., start:start + steps].permute(2, 0, 1)  # (c, B, L)
        projected = window.to(self.dtype) @ self.w_local  # (c, B, N * 2G)
        return projected.view(projected.shape[0], self.batch, self.num_layers, -1)

    def _step_bias(self, t: int) -> Tensor:
        if self.local is None:
            return self.bias
        chunk = self._local_chunk
        if chunk is None or not 0 <= t - self._local_start < chunk.shape[0]:
            self._local_start = t
            self._local_chunk = self.project_local(t, self.chunk).transpose(1, 2)
        assert self._local_chunk is not None
        return torch.add(self.bias, self._local_chunk[t - self._local_start], out=self._bias_step)

    @torch.no_grad()
    def __call__(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        t = self.t
        if self.local is not None and t >= self.local.shape[-1]:
            raise ValueError(
                f"Local conditioning covers {self.local.shape[-1]} steps; step {t} asked for more."
            )
        # input layer -> carried[0] = [x_0 ; 0]
        if self.embedding is not None:
            self._first_input.copy_(torch.index_select(self.embedding, 0, x, out=self._embedded))
        elif self._amplitude_windows is not None:
            now, twin, window = self._amplitude_windows[t % len(self._amplitude_windows)]
            now.copy_(x)
            twin.copy_(x)
            self._first_input.copy_(torch.addmm(self._input_bias, window, self._input_taps,
                                                out=self._embedded))
        else:
            h0, self.input_cache = self.model.input_layer.step(x.unsqueeze(-1),
                                                               self.input_cache)
            self._first_input.copy_(h0[..., 0])
        if self.side_table is not None or side is not None:
            self._add_side(side)

        read, write = self.ring_rows(t)
        self.network(read, write, self._step_bias(t))
        self.t = t + 1
        skip = self.skip()
        if self.context_cache is not None:  # an extra causal block on the skips
            y, self.context_cache = self.model.context.step(skip.unsqueeze(-1),
                                                            self.context_cache)
            skip = F.relu(y[..., 0])
        return self.head(skip)  # (B, C)

    def _add_side(self, side: Tensor | None) -> None:
        """A source-filter generator's side inputs ``[y_{t-1}, p_t]`` into the input."""
        if self.linear_prediction is None or side is None:
            found = None if side is None else tuple(side.shape)
            raise ValueError("Expected side inputs (B, 2) exactly for a generator with linear "
                             f"prediction, but found {found}.")
        assert self.side_table is not None
        rows = self.linear_prediction.codes(side) + self._side_offsets  # (B, 2)
        self._first_input.add_(self.side_table[rows].sum(1))  # (B, R)

    # -- the step's parts, on fixed buffers (a CUDA graph captures them) ----------------

    def ring_rows(self, t: int) -> tuple[Tensor, Tensor]:
        """History slots read (``(N (k-1),)``) and written (``(N,)``) at step ``t``."""
        if self._period <= _MAX_TABLE_PERIOD:
            return self._read_rows[t % self._period], self._write_rows[t % self._period]
        return self._read_index(t), self._write_index(t)

    def network(self, read: Tensor, write: Tensor, bias: Tensor) -> None:
        """Every layer, from the input in ``carried[0]`` to the skip sum in
        ``carried[N]``, and every layer's input into its ring."""
        # all layers' past taps in one gather and one batched matmul
        if self.kernel_size == 1:
            self.past.copy_(bias)
        elif self.kernel_size == 2:
            torch.baddbmm(bias, self.history.index_select(0, read), self.w_past, out=self.past)
        else:
            torch.bmm(self.history.index_select(0, read), self.w_past, out=self._past_taps)
            taps = self._past_taps.view(self.num_layers, self.kernel_size - 1, self.batch, -1)
            torch.sum(taps, dim=1, out=self.past)
            self.past.add_(bias)

        # the layers: four ops each, no allocation
        for past, x_l, w_now, h, filt, gate, z, w_rs, carried, carried_next in self._views:
            torch.addmm(past, x_l, w_now, out=h)  # [-2a | b]
            torch.sigmoid_(h)  # [sigmoid(-2a) | sigmoid(b)]
            torch.addcmul(gate, filt, gate, value=-2.0, out=z)  # = tanh(a) sigmoid(b)
            torch.addmm(carried, z, w_rs, out=carried_next)

        # every layer's input goes into its ring
        self.history.index_copy_(0, write, self._layer_inputs)

    def skip(self) -> Tensor:
        """The rectified skip sum ``(B, S)``."""
        return F.relu(self.skip_slice + self.skip_bias)

    def head(self, skip: Tensor) -> Tensor:
        """The output head: ``(B, S) -> (B, C)``."""
        hidden = F.relu(torch.addmm(self.head_b1, skip, self.head_w1))
        return torch.addmm(self.head_b2, hidden, self.head_w2)  # (B, C)
