"""The WaveNet generator (van den Oord et al., 2016).

Shape legend: B batch, T samples, N conditioning frames, ``R`` residual,
``S`` skip channels, ``C`` output-distribution parameters.

::

    previous values x[<=t]
        │  input layer (embedding, or one-hot / amplitude through a causal conv)
        ▼
    DilatedStack (causal) ◄── global: class id ─ Embedding
        │                 ◄── local: mel frames ─ LocalUpsampler (to the sample rate)
        ▼  Σ skips
    ReLU ─ 1x1 ─ ReLU ─ 1x1
        ▼
    params(t) ─ OutputDistribution: nll (training), sample (generation)

``forward`` is teacher forcing: given the values ``x[0..T-1]`` it returns, at
every ``t``, the parameters of the distribution of the value that *follows*
``x[t]``. Output ``t`` depends on ``x[t - receptive_field + 1 .. t]`` only.
:meth:`WaveNet.teacher_forcing` prepares those inputs and targets from audio.

Two options change what is modelled (both off by default):

* ``preemphasis = a`` (noise shaping): the model learns ``y[t] = s[t] - a s[t-1]``
  and generation de-emphasises, so the sampling noise falls off with frequency as
  speech does (:mod:`wavedil.dsp.emphasis`).
* ``linear_prediction`` (a source-filter vocoder, as LPCNet): the distribution is
  over the *excitation* ``e_t = y_t - p_t``, where ``p_t`` is the linear prediction
  of ``y_t`` from the past signal with coefficients computed from the mel frames;
  the network also receives ``y_{t-1}`` and ``p_t`` (the *side inputs*), and the
  sample is ``y_t = p_t + e_t`` (:mod:`wavedil.nn.linear_prediction`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from wavedil.distributions import MuLawCategorical, OutputDistribution
from wavedil.dsp.emphasis import check_emphasis, deemphasis, preemphasis
from wavedil.models.highpass import SynthesisHighpass
from wavedil.models.inputs import INPUT_ENCODINGS, InputEncoding, make_input
from wavedil.nn import DilatedStack, LocalUpsampler, dilation_schedule
from wavedil.nn.cache import RingBuffer, StreamingBlock
from wavedil.nn.checks import check_choice, check_positive_int
from wavedil.nn.conv import receptive_field_of
from wavedil.nn.linear_prediction import LinearPrediction
from wavedil.spec import serializable

__all__ = ["INPUT_ENCODINGS", "TeacherForcing", "WaveNet", "WaveNetState"]


class TeacherForcing(NamedTuple):
    """What :meth:`WaveNet.teacher_forcing` returns for a batch of audio.

    Attributes:
        inputs: ``(B, T)`` values fed at each step (the targets shifted right).
        target: ``(B, T)`` values to predict: codes or amplitudes of the (pre-emphasised)
            signal, or with linear prediction the excitation's mu-law codes.
        side: ``(B, 2, T)`` float64 side inputs ``[y_{t-1}, p_t]`` of a source-filter
            generator, else ``None``.
    """

    inputs: Tensor
    target: Tensor
    side: Tensor | None = None

class WaveNetState(NamedTuple):
    """The generator's streaming cache (see :meth:`WaveNet.init_state`).

    Attributes:
        input: history of the input conv (``onehot`` and ``continuous`` encodings),
            or ``None`` for an embedding.
        stack: one ring buffer per residual block.
        context: the ``context`` block's cache, or ``None`` without one.
    """

    input: RingBuffer | None
    stack: list[RingBuffer]
    context: Any = None

    @property
    def index(self) -> int:
        """Steps taken so far."""
        return self.stack[0].index


@serializable
class WaveNet(SynthesisHighpass, nn.Module):
    """Autoregressive WaveNet generator.

    Args:
        residual_channels: residual stream width.
        gate_channels: width after each gate.
        skip_channels: skip and output-head width.
        kernel_size: taps of every dilated convolution.
        dilations: one dilation per residual block (default: 1..512, twice).
        output: the output distribution (default: 256-way mu-law categorical; a
            :class:`~wavedil.distributions.DiscretizedLogisticMixture` takes
            ``input_encoding="continuous"``).
        input_encoding: how previous values enter the network: ``"embedding"``
            (a learned vector per class), ``"onehot"`` (one-hot vectors through a
            causal conv of ``kernel_size``, the original design) or
            ``"continuous"`` (the decoded amplitude through that causal conv).
        input_init: how an ``"embedding"`` input's code vectors start: ``"normal"``
            (N(0, 1), PyTorch's) or ``"smooth"`` (smooth in the code,
            :func:`~wavedil.models.inputs.smooth_code_vectors`: the default tones recipe
            reaches its quality sooner; a tiny vocoder taught one clip learnt it later,
            so the vocoder presets keep ``"normal"``). The conv inputs ignore it.
        global_classes: number of classes (e.g. speakers) for global conditioning
            through a learned embedding, or ``None``.
        global_channels: size of the global conditioning vector. With
            ``global_classes`` it is the embedding size (default 16); without it
            the caller passes ``(B, global_channels)`` vectors.
        local_channels: feature channels per conditioning frame (e.g. mel bands),
            or ``None`` for no local conditioning.
        local_hop_length: samples per conditioning frame.
        local_upsample: ``"repeat"`` or ``"linear"`` (see :class:`LocalUpsampler`).
        local_hidden_channels: channels after upsampling (default: ``local_channels``).
        dropout: dropout inside the residual blocks.
        separable: depthwise-separable dilated convolutions (see
            :class:`~wavedil.nn.SeparableConv1d`); the samplers handle both.
        conv_impl: ``"direct"`` or ``"space_to_batch"`` dilated convolutions.
        context: a causal block with ``init_cache``/``step`` applied to the ReLU'd
            skip sum before the output layers, ``(B, S, T) -> (B, S, T)``, e.g.
            ``ContextModule(skip_channels, causal=True)``: more context at the skip
            rate. Identity-initialised, it leaves an untrained model's output as it
            would be without it.
        preemphasis: noise shaping: the model learns the signal pre-emphasised by
            this coefficient (0: off; LPCNet uses 0.85) and generation de-emphasises.
        linear_prediction: a :class:`~wavedil.nn.LinearPrediction` (its mel settings
            those of ``local_channels``/``local_hop_length``): model the excitation
            of a linear predictor computed from the mel frames. Needs the mu-law
            output and the embedding input encoding.
        highpass_hz: a synthesis setting: generated audio passes a 4th-order
            Butterworth high-pass at this frequency (:func:`~wavedil.dsp.highpass`),
            removing the sampling noise below speech; ``None``: off. Training is
            unchanged. Needs ``sample_rate``.
        sample_rate: the audio's rate in Hz (for ``highpass_hz``).

    Shape:
        - x: ``(B, T)`` long codes (``embedding``/``onehot``) or float values.
        - local_cond: ``(B, local_channels, N)`` with ``N * local_hop_length >= T``.
        - global_cond: ``(B,)`` class ids, or ``(B, global_channels)`` vectors.
        - output: ``(B, C, T)`` distribution parameters.

    Example:
        >>> net = WaveNet(16, 16, 16, dilations=[1, 2, 4, 8])
        >>> net(torch.randint(0, 256, (2, 100))).shape, net.receptive_field
        (torch.Size([2, 256, 100]), 16)
    """

    def __init__(
        self,
        residual_channels: int = 64,
        gate_channels: int = 128,
        skip_channels: int = 128,
        kernel_size: int = 2,
        dilations: Sequence[int] | None = None,
        output: OutputDistribution | None = None,
        input_encoding: str = "embedding",
        input_init: str = "normal",
        global_classes: int | None = None,
        global_channels: int | None = None,
        local_channels: int | None = None,
        local_hop_length: int | None = None,
        local_upsample: str = "repeat",
        local_hidden_channels: int | None = None,
        dropout: float = 0.0,
        separable: bool = False,
        conv_impl: str = "direct",
        context: nn.Module | None = None,
        preemphasis: float = 0.0,
        linear_prediction: LinearPrediction | None = None,
        highpass_hz: float | None = None,
        sample_rate: int | None = None,
    ) -> None:
        super().__init__()
        self.preemphasis = check_emphasis(preemphasis)
        self.highpass_hz, self.sample_rate = None, sample_rate
        if highpass_hz is not None:
            self.set_highpass(highpass_hz, sample_rate)
        self.output = output if output is not None else MuLawCategorical()
        self.input_encoding = check_choice("input_encoding", input_encoding, INPUT_ENCODINGS)
        if input_encoding == "continuous" and self.output.discrete:
            raise ValueError(
                "Expected input_encoding 'embedding' or 'onehot' for a discrete output "
                f"distribution ({self.output!r}), but found 'continuous'."
            )
        if input_encoding != "continuous" and not self.output.discrete:
            raise ValueError(
                f"Expected input_encoding 'continuous' for a continuous output distribution "
                f"({self.output!r}), but found {input_encoding!r}."
            )
        check_positive_int("residual_channels", residual_channels)
        dilations = list(dilations) if dilations is not None else dilation_schedule(512, 2)

        # -- input layer: previous values -> (B, R, T) (see wavedil.models.inputs)
        self.input_layer: InputEncoding = make_input(
            input_encoding, getattr(self.output, "classes", None), residual_channels,
            kernel_size, init=input_init)

        # -- conditioning
        if global_classes is not None:
            check_positive_int("global_classes", global_classes)
            global_channels = global_channels if global_channels is not None else 16
            self.global_embedding: nn.Embedding | None = nn.Embedding(
                global_classes, global_channels
            )
        else:
            self.global_embedding = None
        if global_channels is not None:
            check_positive_int("global_channels", global_channels)
        self.global_classes = global_classes
        self.global_channels = global_channels

        if local_channels is not None:
            if local_hop_length is None:
                raise ValueError(
                    "Expected local_hop_length (samples per conditioning frame) with "
                    f"local_channels={local_channels}, but found None."
                )
            local_hidden_channels = local_hidden_channels or local_channels
            self.local_upsampler: LocalUpsampler | None = LocalUpsampler(
                local_channels, local_hidden_channels, local_hop_length, mode=local_upsample
            )
        else:
            self.local_upsampler = None
        self.local_channels = local_channels

        # -- the stack and the output head
        self.stack = DilatedStack(
            residual_channels,
            gate_channels,
            skip_channels,
            dilations,
            kernel_size=kernel_size,
            causal=True,
            global_channels=global_channels,
            local_channels=local_hidden_channels if local_channels is not None else None,
            dropout=dropout,
            separable=separable,
            impl=conv_impl,
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(skip_channels, skip_channels, 1),
            nn.ReLU(),
            nn.Conv1d(skip_channels, self.output.out_channels, 1),
        )
        if context is not None:
            if not getattr(context, "causal", False) or not isinstance(context, StreamingBlock):
                raise ValueError(
                    f"Expected a causal context block with a step method, but "
                    f"{type(context).__name__} is not (build it with causal=True).")
            channels = getattr(context, "out_channels", None)
            if channels != skip_channels:
                raise ValueError(f"Expected a context block of skip_channels={skip_channels} "
                                 f"channels, but found {channels}.")
        self.context = context
        self.linear_prediction = linear_prediction
        if linear_prediction is not None:
            self._check_linear_prediction(linear_prediction, residual_channels)

    def _check_linear_prediction(self, lp: LinearPrediction, residual_channels: int) -> None:
        if not isinstance(self.output, MuLawCategorical) or self.output.classes != lp.classes:
            raise ValueError(f"Expected a MuLawCategorical output of {lp.classes} classes with "
                             f"linear_prediction (it models the excitation's mu-law codes), but "
                             f"found {self.output!r}.")
        if self.input_encoding != "embedding":
            raise ValueError("Expected input_encoding 'embedding' with linear_prediction (its "
                             f"side inputs are embedded beside it), but found "
                             f"{self.input_encoding!r}.")
        if self.local_upsampler is None or (self.local_channels, self.local_upsampler.hop_length
                                            ) != (lp.n_mels, lp.hop_length):
            hop = None if self.local_upsampler is None else self.local_upsampler.hop_length
            raise ValueError(
                f"Expected local conditioning on the linear prediction's frames ({lp.n_mels} "
                f"bands every {lp.hop_length} samples), but found local_channels="
                f"{self.local_channels}, local_hop_length={hop}.")
        if lp.embedding.embedding_dim != residual_channels:
            raise ValueError(f"Expected linear_prediction's residual_channels to be the model's "
                             f"{residual_channels}, but found {lp.embedding.embedding_dim}.")

    @property
    def receptive_field(self) -> int:
        """Past values (the current one included) that one output depends on."""
        first = self.input_layer.receptive_field
        context = 1 if self.context is None else self.context.receptive_field
        return receptive_field_of(first, self.stack.receptive_field, context)

    @property
    def head_hidden(self) -> nn.Conv1d:
        """The output head's first 1x1 convolution (skip -> skip channels)."""
        return self.head[1]

    @property
    def head_out(self) -> nn.Conv1d:
        """The output head's last 1x1 convolution (skip -> distribution parameters)."""
        return self.head[3]

    def embed_input(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        """Previous values ``(B, T)`` (and a source-filter generator's side inputs
        ``(B, 2, T)``) -> residual stream ``(B, R, T)``."""
        return self._add_side(self.input_layer(x), side)  # (B, R, T)

    def _add_side(self, h: Tensor, side: Tensor | None) -> Tensor:
        """``h (B, R, T)`` plus the embedded side inputs ``(B, 2, T)`` of a source-filter
        generator (checked: given exactly when the model has linear prediction)."""
        if self.linear_prediction is None:
            if side is not None:
                raise ValueError("This WaveNet has no linear prediction, but side inputs "
                                 "were given.")
            return h
        if side is None:
            raise ValueError("Expected side inputs (B, 2, T) for a generator with linear "
                             "prediction (see WaveNet.teacher_forcing), but found None.")
        return h + self.linear_prediction(side).to(h.dtype)  # (B, R, T)

    # -- what is modelled: emphasis, linear prediction, teacher forcing ----------------------

    def emphasize(self, audio: Tensor, previous: Tensor | None = None) -> Tensor:
        """Audio -> the signal the model learns (pre-emphasised, or as is).

        Shape:
            ``(B, T) -> (B, T)``
        """
        return preemphasis(audio, self.preemphasis, previous)

    def deemphasize(self, signal: Tensor, previous: Tensor | None = None) -> Tensor:
        """The model's signal -> audio (the inverse of :meth:`emphasize`; ``previous``
        the audio sample before ``signal``'s first, if it continues one).

        Shape:
            ``(B, T) -> (B, T)``
        """
        return deemphasis(signal, self.preemphasis, previous)

    def prediction_coefficients(self, local_cond: Tensor, length: int) -> Tensor:
        """Per-sample linear-prediction coefficients of the first ``length`` samples
        from mel frames (see :meth:`LinearPrediction.coefficients`).

        Shape:
            ``(B, F, N) -> (B, p, length)`` float64
        """
        if self.linear_prediction is None:
            raise ValueError("This WaveNet has no linear prediction.")
        self.upsample_local(local_cond, length)  # the same checks as the conditioning
        return self.linear_prediction.coefficients(local_cond, length, self.preemphasis)

    def teacher_forcing(self, audio: Tensor, local_cond: Tensor | None = None,
                        noise: float = 0.0, generator: torch.Generator | None = None
                        ) -> TeacherForcing:
        """Inputs and targets for training on ``audio``: the (pre-emphasised) signal
        encoded, shifted right as input; with linear prediction the excitation's codes
        and the side inputs, ``p_t`` predicted from the true past, or with ``noise > 0``
        from a past synthesised with excitation codes moved by about ``noise`` codes
        (:meth:`LinearPrediction.noisy_synthesis`, LPCNet's noise injection): the inputs
        are then that past's, the targets the true signal's excitation.

        Shape:
            ``audio (B, T), local_cond (B, F, N)? -> TeacherForcing((B, T), (B, T),
            (B, 2, T)?)``
        """
        y = self.emphasize(audio)  # (B, T)
        lp = self.linear_prediction
        if lp is None:
            target = self.output.encode(y)
            return TeacherForcing(self.shift_right(target), target)
        if local_cond is None:
            raise ValueError("Expected local_cond (mel frames) for a generator with linear "
                             "prediction, but found None.")
        y = y.double()
        coefficients = self.prediction_coefficients(local_cond, y.shape[-1])
        if noise > 0:
            past, prediction = lp.noisy_synthesis(y, coefficients, noise, generator)
            fed = lp.codes(past - prediction)  # the excitation a sampler would have drawn
        else:
            past, prediction = y, lp.predict(y, coefficients)
        target = lp.codes(y - prediction)  # (B, T) excitation codes
        fed = target if noise <= 0 else fed
        previous = torch.nn.functional.pad(past, (1, 0))[..., :-1]  # (B, T): y_{t-1}
        return TeacherForcing(self.shift_right(fed), target,
                              torch.stack([previous, prediction], dim=1))

    def global_vector(self, global_cond: Tensor | None) -> Tensor | None:
        """Class ids ``(B,)`` or vectors ``(B, E)`` -> vectors ``(B, E)`` (or None)."""
        if self.global_channels is None:
            if global_cond is not None:
                raise ValueError(
                    "This WaveNet has no global conditioning (global_classes and "
                    "global_channels are None), but global_cond was given."
                )
            return None
        if global_cond is None:
            what = (f"class ids in [0, {self.global_classes})" if self.global_embedding
                    else f"vectors of size {self.global_channels}")
            raise ValueError(f"Expected global_cond ({what}), but found None.")
        if self.global_embedding is not None:
            if global_cond.dtype.is_floating_point or global_cond.dim() != 1:
                raise ValueError(
                    "Expected global_cond to be class ids of shape (B,), but found "
                    f"{global_cond.dtype} of shape {tuple(global_cond.shape)}."
                )
            if global_cond.numel() and (
                global_cond.min() < 0 or global_cond.max() >= self.global_classes
            ):
                raise ValueError(
                    f"Expected global class ids in [0, {self.global_classes}), but found "
                    f"{global_cond.tolist()}."
                )
            return self.global_embedding(global_cond)  # (B, E)
        return global_cond

    def upsample_local(self, local_cond: Tensor | None, length: int) -> Tensor | None:
        """Frames ``(B, F, N)`` -> sample-rate features ``(B, L, length)`` (or None)."""
        if self.local_upsampler is None:
            if local_cond is not None:
                raise ValueError(
                    "This WaveNet has no local conditioning (local_channels is None), "
                    "but local_cond was given."
                )
            return None
        shape = None if local_cond is None else tuple(local_cond.shape)
        if shape is None or len(shape) != 3 or shape[1] != self.local_channels:
            found = None if local_cond is None else tuple(local_cond.shape)
            raise ValueError(
                f"Expected local_cond of shape (B, {self.local_channels}, frames), "
                f"but found {found}."
            )
        hop = self.local_upsampler.hop_length
        if local_cond.shape[-1] * hop < length:
            raise ValueError(
                f"Expected at least {-(-length // hop)} conditioning frames of {hop} samples "
                f"for {length} samples, but found {local_cond.shape[-1]} frames."
            )
        return self.local_upsampler(local_cond)[..., :length]  # (B, L, T)

    def forward(
        self,
        x: Tensor,
        local_cond: Tensor | None = None,
        global_cond: Tensor | None = None,
        side: Tensor | None = None,
    ) -> Tensor:
        local = self.upsample_local(local_cond, x.shape[-1])  # (B, L, T) or None
        return self.forward_prepared(x, local, self.global_vector(global_cond), side)

    def forward_prepared(
        self, x: Tensor, local: Tensor | None, global_vector: Tensor | None,
        side: Tensor | None = None,
    ) -> Tensor:
        """``forward`` with conditioning already prepared: ``local`` ``(B, L, T)`` from
        :meth:`upsample_local`, ``global_vector`` ``(B, E)`` from :meth:`global_vector`."""
        return self.forward_hidden(self.embed_input(x, side), local, global_vector)

    def forward_hidden(self, h: Tensor, local: Tensor | None, global_vector: Tensor | None
                       ) -> Tensor:
        """The network after its input layer: residual stream ``(B, R, T)`` ->
        distribution parameters ``(B, C, T)``."""
        skip = self.stack(h, local, global_vector).skip  # (B, S, T)
        if self.context is not None:
            skip = self.context(torch.relu(skip))  # (B, S, T)
        return self._head(skip)  # (B, C, T)

    def _head(self, skip: Tensor) -> Tensor:
        """The output head, its last layer in float32 under mixed precision: bf16's
        8-bit mantissa would blur a mixture's means to about 2^-8, far coarser than
        the 16-bit steps it models (``(B, S, T) -> (B, C, T)``)."""
        hidden = self.head[2](self.head_hidden(self.head[0](skip)))  # relu, 1x1, relu
        kind = hidden.device.type
        if torch.is_autocast_enabled(kind):
            with torch.autocast(kind, enabled=False):
                return self.head_out(hidden.float())
        return self.head_out(hidden)

    # -- streaming (one sample at a time) ------------------------------------------------

    def init_state(self, batch: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> WaveNetState:
        """Empty histories for :meth:`step`, as if the sequence were preceded by the
        zero padding that ``forward`` uses."""
        dtype = dtype or self.head_out.weight.dtype
        device = device or self.head_out.weight.device
        first = self.input_layer.init_cache(batch, device, dtype)
        context = (None if self.context is None
                   else self.context.init_cache(batch, device, dtype))
        return WaveNetState(first, self.stack.init_cache(batch, device, dtype), context)

    def step(
        self,
        x: Tensor,
        state: WaveNetState,
        local: Tensor | None = None,
        global_vector: Tensor | None = None,
        side: Tensor | None = None,
    ) -> tuple[Tensor, WaveNetState]:
        """One step of ``forward``: the parameters at step ``t = state.index``.

        Conditioning is given already prepared: ``local`` is the step's column of
        :meth:`upsample_local` and ``global_vector`` the output of :meth:`global_vector`
        (both computed once per sequence, not per step); ``side`` the step's side
        inputs of a source-filter generator.

        Shape:
            ``x (B, 1), local (B, L, 1)?, global_vector (B, E)?, side (B, 2, 1)?
            -> (B, C, 1), state``
        """
        h, first = self.input_layer.step(x, state.input)  # (B, R, 1)
        h = self._add_side(h, side)
        out, stack = self.stack.step(h, state.stack, local, global_vector)
        skip, context = out.skip, None  # (B, S, 1)
        if self.context is not None:
            skip, context = self.context.step(torch.relu(skip), state.context)
        return self._head(skip), WaveNetState(first, stack, context)  # (B, C, 1)

    def shift_right(self, values: Tensor) -> Tensor:
        """Teacher-forcing input for ``values``: silence, then all but the last.

        Output ``t`` of ``forward(shift_right(v))`` then predicts ``v[t]`` from
        ``v[<t]``, aligned with conditioning at ``t``.
        """
        start = torch.full_like(values[..., :1], self.output.silence())
        return torch.cat([start, values[..., :-1]], dim=-1)  # (B, T)
