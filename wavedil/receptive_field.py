"""Measure a receptive field from input gradients, whatever the module.

The reported ``receptive_field`` properties are arithmetic; this module checks
them empirically: it back-propagates from one output step and reads which input
steps received a non-zero gradient. :func:`layer_fields` does so for the output
of every dilated layer of a model at once (what ``wavedil-receptive-field`` plots).

Shape legend: C channels, T time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn.conv import DilatedConv1d, input_channels_of

__all__ = ["Extent", "LayerField", "layer_fields", "measure_receptive_field"]


class Extent(NamedTuple):
    """Which inputs one output step sees.

    Attributes:
        size: ``last - first + 1`` input steps.
        past: steps before the output's own position.
        future: steps after it (0 for a causal module).
    """

    size: int
    past: int
    future: int


def measure_receptive_field(
    fn: Callable[[Tensor], Tensor],
    channels: int,
    length: int,
    position: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> Extent:
    """Extent of the inputs that output ``position`` depends on, by autograd.

    Args:
        fn: ``(1, channels, length) -> (1, C', length)`` (a tuple output: its first item).
        channels: input channels.
        length: input steps; make it longer than the field on both sides.
        position: output step to probe (default: the middle).
        dtype: computation dtype (float64 keeps tiny gradients from rounding to 0).

    Example:
        >>> from wavedil.nn import CausalConv1d
        >>> measure_receptive_field(CausalConv1d(1, 1, 3, dilation=2).double(), 1, 20)
        Extent(size=5, past=4, future=0)
    """
    position = length // 2 if position is None else position
    x = torch.randn(1, channels, length, dtype=dtype, requires_grad=True)
    y = fn(x)
    y = y[0] if isinstance(y, tuple) else y
    if y.shape[-1] != length:
        raise ValueError(f"Expected an output of {length} steps, but found {y.shape[-1]}.")
    y[..., position].sum().backward()
    assert x.grad is not None
    return _extent(x.grad[0].abs().sum(0), position)


def _extent(influence: Tensor, position: int) -> Extent:
    """Extent of the non-zero entries of ``influence`` ``(T,)`` around ``position``."""
    touched = (influence > 0).nonzero().flatten()
    if touched.numel() == 0:
        raise ValueError("No input step received a gradient; is the module's output constant?")
    first, last = int(touched.min()), int(touched.max())
    return Extent(size=last - first + 1, past=position - first, future=last - position)


class LayerField(NamedTuple):
    """What one layer's output sees of the model's input.

    Attributes:
        name: the layer's module path (``"(output)"`` for the model's last per-step output).
        extent: input steps the probed output step depends on.
        influence: ``|d output / d input|`` per input step, ``(T,)``, max-normalised.
        position: the input step the probed output is aligned with.
    """

    name: str
    extent: Extent
    influence: Tensor
    position: int


def layer_fields(model: nn.Module, length: int | None = None,
                 clip_normalization: bool = False, random_weights: bool = False,
                 seed: int = 0) -> list[LayerField]:
    """Gradient-measured field of every dilated layer and of the model's output.

    Every :class:`~wavedil.nn.DilatedConv1d` inside ``model`` is hooked (in module
    order); one forward pass on random input, then one backward pass per layer
    from the output step in the middle of the sequence, gives which input steps
    that step depends on (the nearest step with a non-zero gradient when a ReLU
    blocks the middle one). The input is what the model reads:

    * a :class:`~wavedil.models.WaveNet`: its input sequence (after an embedding,
      which is per step; before an input convolution, which is counted);
    * a :class:`~wavedil.models.WaveNetClassifier`: the audio, so a front end's
      frames are measured in samples; the output row is the last per-frame
      features before pooling;
    * any other module: a ``(1, C, T)`` float input (``C`` from its first conv).

    A front end that normalises each clip (subtracts its mean) makes every frame
    depend, weakly, on the whole clip; by default that normalisation is switched
    off for the measurement so that the local field shows.

    Args:
        model: the network (put in eval mode and float64 for the measurement; the
            caller's copy is left untouched).
        length: input steps (default: 3 receptive fields, at least 256).
        clip_normalization: keep a front end's per-clip normalisation on.
        random_weights: measure with random weights instead of the model's: the
            field the architecture allows. Trained or specially initialised weights
            can use less of it (an identity-initialised context module sees one
            step until it trains).
        seed: seed of the random input (and weights).

    Example:
        >>> from wavedil.nn import DilatedStack
        >>> fields = layer_fields(DilatedStack(4, 4, 4, [1, 2, 4]), length=40)
        >>> [(f.name, f.extent.size) for f in fields]
        [('blocks.0.conv', 2), ('blocks.1.conv', 4), ('blocks.2.conv', 8), ('(output)', 8)]
    """
    import copy

    generator = torch.Generator().manual_seed(seed)
    model = copy.deepcopy(model).double().eval()
    if random_weights:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
    frontend = getattr(model, "frontend", None)
    if not clip_normalization and getattr(frontend, "normalize", False):
        frontend.normalize = False
    field = getattr(model, "receptive_field", 1)
    length = length or max(256, 3 * int(field))
    captured: dict[str, Tensor] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, DilatedConv1d):
            hooks.append(module.register_forward_hook(
                lambda _m, _i, out, name=name: captured.__setitem__(name, out)))
    try:
        x, time_axis, output = _probe(model, length, generator)
        output = getattr(output, "skip", output)  # a stack's summed skips
        if isinstance(output, tuple):
            output = output[0]
        if isinstance(output, Tensor) and output.dim() == 3:
            captured["(output)"] = output
    finally:
        for hook in hooks:
            hook.remove()

    fields = []
    for name, out in captured.items():
        steps = out.shape[-1]
        # The middle output step, or the nearest one whose gradient a ReLU lets through.
        for at in sorted(range(steps), key=lambda t: abs(t - steps // 2))[:64]:
            (grad,) = torch.autograd.grad(out[0, :, at].sum(), x, retain_graph=True,
                                          allow_unused=True)
            if grad is None or grad.any():
                break
        if grad is None or not grad.any():
            continue  # a layer the input does not reach (e.g. conditioning only)
        g = grad[0].abs()
        influence = g if g.dim() == 1 else g.sum(1 - time_axis)  # (T,)
        position = length // 2 if steps == 1 else at * length // steps
        influence = influence / influence.max()
        fields.append(LayerField(name, _extent(influence, position), influence.float(),
                                 position))
    return fields


def _probe(model: nn.Module, length: int, generator: torch.Generator
           ) -> tuple[Tensor, int, Any]:
    """Run ``model`` on random input: the input leaf ``(1, ., .)``, the time axis of
    ``leaf[0]`` and the model's last per-step output."""
    if hasattr(model, "input_layer") and hasattr(model, "forward_hidden"):  # the generator
        # the leaf is the per-step encoding of the values (a vector per code, a one-hot
        # vector, an amplitude), before any context enters
        layer = model.input_layer
        values = layer.probe_values(length, generator)
        leaf = layer.encode(values).detach().requires_grad_(True)  # (1, E, T)
        kwargs = _generator_conditioning(model, length, generator)
        local = model.upsample_local(kwargs.get("local_cond"), length)
        output = model.forward_hidden(layer.mix(leaf), local,
                                      model.global_vector(kwargs.get("global_cond")))
        return leaf, 1, output
    if hasattr(model, "frontend") and hasattr(model, "post"):  # the classifier
        audio = torch.rand(1, length, dtype=torch.float64, generator=generator) * 2 - 1
        audio.requires_grad_(True)
        kept: dict[str, Tensor] = {}
        model.post.register_forward_hook(lambda _m, _i, out: kept.__setitem__("out", out))
        model(audio)
        return audio, 0, kept["out"]
    channels = input_channels_of(model)
    if channels is None:
        raise ValueError(f"Cannot tell the input channels of {type(model).__name__}.")
    x = torch.randn(1, channels, length, dtype=torch.float64, generator=generator)
    x.requires_grad_(True)
    return x, 1, model(x)


def _generator_conditioning(model: nn.Module, length: int, generator: torch.Generator
                            ) -> dict[str, Tensor]:
    """Random conditioning inputs so that a conditioned generator can run."""
    kwargs: dict[str, Tensor] = {}
    if model.local_upsampler is not None:
        frames = -(-length // model.local_upsampler.hop_length)
        kwargs["local_cond"] = torch.randn(1, model.local_channels, frames,
                                           dtype=torch.float64, generator=generator)
    if model.global_embedding is not None:
        kwargs["global_cond"] = torch.zeros(1, dtype=torch.long)
    elif model.global_channels is not None:
        kwargs["global_cond"] = torch.randn(1, model.global_channels, dtype=torch.float64,
                                            generator=generator)
    return kwargs
