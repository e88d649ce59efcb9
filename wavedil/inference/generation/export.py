"""The generator's one-step function with its history as explicit tensors, for
export (``torch.export``) and for runtimes that know nothing of wavedil's caches.

:class:`StepProgram` computes what :meth:`WaveNet.step` computes, but each causal
convolution keeps its last ``(k - 1) * d`` inputs as a plain ``(B, C, span)``
window passed in and returned (shifted by one each step) instead of a ring buffer
object. A loop over it, drawing each value with the output distribution, makes
the same samples for a seed as :func:`wavedil.inference.generate` (tested). A
vocoder's mel frames are upsampled once per clip by :class:`UpsampleProgram` (a
second program) and each step takes its column.

Shape legend: B batch, C channels, span ``(k - 1) * dilation``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wavedil.models import WaveNet
from wavedil.models.inputs import EmbeddingInput
from wavedil.nn.conv import DilatedConv1d

__all__ = ["StepProgram", "UpsampleProgram", "export_step", "export_upsampler", "window_step"]


def window_step(conv: DilatedConv1d, x: Tensor, window: Tensor) -> tuple[Tensor, Tensor]:
    """One output of a causal ``conv`` from one input and the window of the inputs
    before it.

    Shape:
        ``x (B, C_in, 1), window (B, C_in, span) -> (B, C_out, 1), window``
    """
    full = torch.cat([window, x], dim=-1)  # (B, C_in, span + 1)
    taps = full[..., :: conv.dilation[0]]  # the k taps, oldest first
    y = F.conv1d(taps, conv.weight, conv.bias, groups=conv.groups)  # (B, C_out, 1)
    return y, full[..., 1:]


class StepProgram(nn.Module):
    """``WaveNet.step`` as a pure function of tensors.

    Supports generators with direct dilated convolutions, any input encoding, global
    and local conditioning; not (yet) a context module, linear prediction or separable /
    space-to-batch convolutions. A pre-emphasised model's values are those of the
    pre-emphasised signal: de-emphasise the decoded audio (``s[t] = y[t] + a s[t-1]``).

    Args:
        model: the generator (used in eval mode).

    Shape:
        ``forward(x (B,), windows, global_vector (B, E)?, local (B, L)?) ->
        (params (B, C), windows)``; ``local`` is the step's column of
        :class:`UpsampleProgram`'s output.
    """

    def __init__(self, model: WaveNet) -> None:
        super().__init__()
        if model.context is not None:
            raise ValueError("Exporting the step of a generator with a context module is not "
                             "supported yet.")
        if model.linear_prediction is not None:
            raise ValueError("Exporting a source-filter generator (linear prediction) is not "
                             "supported yet: its per-sample prediction loop lives outside the "
                             "network's step.")
        for block in model.stack.blocks:
            conv = block.conv
            if not (isinstance(conv, DilatedConv1d) and conv.direct_causal):
                raise ValueError("Exporting the step needs direct causal dilated convolutions "
                                 "(not separable or space-to-batch).")
        self.model = model.eval()

    def _convs(self) -> list[DilatedConv1d]:
        first = [] if isinstance(self.model.input_layer, EmbeddingInput) else [
            self.model.input_layer]
        return [*first, *(block.conv for block in self.model.stack.blocks)]

    def init_windows(self, batch: int) -> list[Tensor]:
        """The windows before the first step: zeros, as ``forward``'s causal padding."""
        weight = self.model.head_out.weight
        return [torch.zeros(batch, conv.in_channels, conv.pad_left, dtype=weight.dtype,
                            device=weight.device) for conv in self._convs()]

    def forward(self, x: Tensor, windows: list[Tensor], global_vector: Tensor | None = None,
                local: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        model = self.model
        values = x.unsqueeze(-1)  # (B, 1)
        new: list[Tensor] = []
        windows = list(windows)
        layer = model.input_layer
        if isinstance(layer, EmbeddingInput):
            h = layer.encode(values)  # (B, R, 1)
        else:
            h, window = window_step(layer, layer.encode(values), windows.pop(0))
            new.append(window)
        skip: Tensor | float = 0.0
        column = None if local is None else local.unsqueeze(-1)  # (B, L, 1)
        for block, window in zip(model.stack.blocks, windows, strict=True):
            conv_out, window = window_step(block.conv, h, window)
            out = block._gated(h, conv_out, column, global_vector)
            h, skip = out.residual, skip + out.skip
            new.append(window)
        assert isinstance(skip, Tensor)
        return model._head(skip)[..., 0], new  # (B, C)


class UpsampleProgram(nn.Module):
    """A vocoder's conditioning upsampler: frames ``(B, F, N)`` -> ``(B, L, N * hop)``,
    one column per sample (:meth:`WaveNet.upsample_local` without the trim)."""

    def __init__(self, model: WaveNet) -> None:
        super().__init__()
        if model.local_upsampler is None:
            raise ValueError("This generator has no local conditioning to upsample.")
        self.upsampler = model.local_upsampler.eval()

    def forward(self, frames: Tensor) -> Tensor:
        return self.upsampler(frames)


def export_step(model: WaveNet, batch: int = 2) -> torch.export.ExportedProgram:
    """:class:`StepProgram` of ``model`` as a ``torch.export`` program whose batch
    size is dynamic (traced at ``batch`` >= 2: export fixes sizes of 1); inputs
    ``(x, windows[, global_vector][, local])`` as :class:`StepProgram` (``None`` for
    the global vector of a vocoder without one).
    """
    program = StepProgram(model)
    weight = model.head_out.weight
    auto = torch.export.Dim.AUTO
    windows = program.init_windows(batch)
    vector = local = None  # an input the model does not take stays None
    if model.global_embedding is not None or model.global_channels is not None:
        vector = torch.zeros(batch, model.global_channels, dtype=weight.dtype)
    if model.local_upsampler is not None:
        local = torch.zeros(batch, model.local_upsampler.sample_conv.out_channels,
                            dtype=weight.dtype)
    args: tuple = (model.output.silence_values(batch, weight.device), windows, vector, local)
    while args[-1] is None:  # trailing inputs the model does not take are left out
        args = args[:-1]
    shapes = ({0: auto}, [{0: auto} for _ in windows], *(
        None if a is None else {0: auto} for a in args[2:]))
    with torch.no_grad():
        return torch.export.export(program, args, dynamic_shapes=shapes)


def export_upsampler(model: WaveNet, batch: int = 2, frames: int = 8
                     ) -> torch.export.ExportedProgram:
    """:class:`UpsampleProgram` of ``model`` with dynamic batch and frame count."""
    program = UpsampleProgram(model)
    weight = model.head_out.weight
    example = torch.zeros(batch, model.local_channels, frames, dtype=weight.dtype)
    auto = torch.export.Dim.AUTO
    with torch.no_grad():
        return torch.export.export(program, (example,), dynamic_shapes=({0: auto, 2: auto},))
