"""The fast step as a CUDA graph: captured once, replayed every sample.

Shape legend: B batch, N layers, G gate channels, C output channels.

On a GPU a :class:`~wavedil.inference.generation.fast.FastStepper` step is ~90 small kernels,
each launched from Python; at small batches the launches, not the arithmetic, set
the pace. A CUDA graph records the kernels of one step once and replays them with
one call. What changes from step to step is written into fixed input buffers
before each replay, device to device (the fed value, the ring slots to read and
write, and the layers' constant terms with the step's local conditioning); the
graph is captured and replayed on the model's device. The step itself is the
fast stepper's own code (:meth:`FastStepper.network`, ``skip``, ``head``), so the
numbers are the fast path's.

Needs a CUDA device, an embedding input layer (mu-law codes; the presets' default),
no context block and no linear prediction: :func:`graph_stepper_or_reason` says why otherwise, and
:func:`~wavedil.inference.generate` then uses the fast path with a warning.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavedil.inference.generation.fast import FastStepper
from wavedil.models.generator import WaveNet

__all__ = ["CudaGraphStepper", "graph_stepper_or_reason"]


def graph_stepper_or_reason(model: WaveNet, batch: int, global_vector: Tensor | None = None,
                            local: Tensor | None = None) -> CudaGraphStepper | str:
    """A :class:`CudaGraphStepper`, or why this model or machine cannot have one."""
    if getattr(model, "context", None) is not None:
        return "the model has a context block on its skip connections"
    if getattr(model, "linear_prediction", None) is not None:
        return ("the model is a source-filter generator (linear prediction), whose side "
                "inputs the captured step does not take")
    device = model.head_out.weight.device
    if device.type != "cuda":
        return f"CUDA graphs need the model on a CUDA device, not on {device}"
    try:
        return CudaGraphStepper(model, batch, global_vector, local)
    except ValueError as error:  # what the fast stepper or the graph does not take
        return str(error)
    except RuntimeError as error:  # the capture itself failed (CUDA or torch refused it)
        return f"the CUDA graph capture failed ({type(error).__name__}: {error})"


class CudaGraphStepper:
    """Stateful one-sample-at-a-time evaluation of a :class:`WaveNet` by graph replay.

    Called like :class:`~wavedil.inference.generation.fast.FastStepper` (values ``(B,)`` at step
    ``t`` -> distribution parameters ``(B, C)``, a new tensor each call).

    Args:
        model: the generator, on a CUDA device.
        batch: independent streams ``B``.
        global_vector: ``(B, E)`` from :meth:`WaveNet.global_vector`, or ``None``.
        local: ``(B, L, T)`` from :meth:`WaveNet.upsample_local`, or ``None``.
        warmup: steps run (and undone) before the capture, as CUDA graphs require.
    """

    @torch.no_grad()
    def __init__(self, model: WaveNet, batch: int, global_vector: Tensor | None = None,
                 local: Tensor | None = None, warmup: int = 3) -> None:
        fast = FastStepper(model, batch, global_vector, local)
        if fast.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, not {fast.device}.")
        if fast.embedding is None or fast.context_cache is not None:
            raise ValueError("The CUDA graph step takes an embedding input layer and no "
                             "context block.")
        self.fast = fast
        read, write = fast.ring_rows(0)
        # the inputs of a replay: fixed buffers, rewritten before each one
        self._x = torch.zeros(batch, dtype=torch.long, device=fast.device)
        self._read, self._write = read.clone(), write.clone()
        self._bias = fast.bias.clone()  # (N, B, 2G): constants (+ the step's local term)
        history = fast.history.clone()  # the warm-up steps write into the rings; undone below
        # capture on the model's device, whichever device is current (a model on cuda:1
        # with cuda:0 current would otherwise record on the wrong one)
        with torch.cuda.device(fast.device):
            stream = torch.cuda.Stream(device=fast.device)
            stream.wait_stream(torch.cuda.current_stream(fast.device))
            with torch.cuda.stream(stream):  # kernels chosen and workspaces made off the graph
                for _ in range(warmup):
                    self._step()
            torch.cuda.current_stream(fast.device).wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self._out = self._step()  # (B, C), rewritten by every replay
        fast.history.copy_(history)
        self.t = 0

    def _step(self) -> Tensor:
        fast = self.fast
        torch.index_select(fast.embedding, 0, self._x, out=fast._embedded)
        fast._first_input.copy_(fast._embedded)
        fast.network(self._read, self._write, self._bias)
        return fast.head(fast.skip())

    @torch.no_grad()
    def __call__(self, x: Tensor) -> Tensor:
        fast, t = self.fast, self.t
        if fast.local is not None:
            if t >= fast.local.shape[-1]:
                raise ValueError(f"Local conditioning covers {fast.local.shape[-1]} steps; "
                                 f"step {t} asked for more.")
            self._bias.copy_(fast._step_bias(t))
        read, write = fast.ring_rows(t)  # device tensors: a table row or device arithmetic
        self._x.copy_(x)
        self._read.copy_(read)
        self._write.copy_(write)
        with torch.cuda.device(fast.device):
            self.graph.replay()
        self.t = fast.t = t + 1
        return self._out.clone()
