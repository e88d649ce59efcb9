"""``wavedil-export``: a trained model as a file that runs without wavedil (a
classifier whole, a generator as its one-step function).

    wavedil-export --checkpoint fsdd.ckpt --format torchscript --out fsdd.ts
    wavedil-export --checkpoint fsdd.ckpt --format export --out fsdd.pt2
    wavedil-export --checkpoint fsdd.ckpt --format onnx --out fsdd.onnx     # needs wavedil[onnx]
    wavedil-export --checkpoint tones.ckpt --format export --out step.pt2   # a generator

Formats:

- ``torchscript``: ``torch.jit.load(path)(audio)``, from C++ (LibTorch) too.
- ``export``: a ``torch.export`` program (``.pt2``, ``torch.export.load``), the
  input for AOTInductor and ExecuTorch.
- ``onnx``: an ONNX model (opset 20, input ``audio``, output ``logits``) for
  onnxruntime and other ONNX runtimes; needs the ``onnx`` extra (onnx, onnxscript,
  and onnxruntime, which checks the file).

All three take ``(B, T)`` audio at the checkpoint's sample rate, any ``T`` of at least
a tenth of a second, and return ``(B, K)`` logits (the class names are printed, and
stored beside the file as ``<out>.json``); clips in a batch have the same length (no
``lengths``). Before writing, the exported model is run on clips of two other
lengths and compared with the checkpoint's model (within 1e-4; an ONNX file in
onnxruntime); the file is refused otherwise.

A generator is exported (``export`` format) as its one-step function with the
history as explicit tensors (:class:`wavedil.inference.generation.export.StepProgram`):
``params, windows = program(x, windows[, global_vector])``, ``x`` the previous
values ``(B,)``, ``windows`` zeros of the shapes listed in ``<out>.json`` before the
first step; draw each next value from ``params`` with the output distribution
named there. A vocoder (local conditioning) also gets ``<out stem>.upsample.pt2``:
mel frames ``(B, F, N)`` -> ``(B, L, N * hop)``, whose column ``t`` is step ``t``'s
``local`` input. Context modules and source-filter generators are not exported yet;
a pre-emphasised generator's ``preemphasis`` is in ``<out>.json`` (de-emphasise its
audio). Nothing is written unless every part exported and checked: the files are
written under temporary names and renamed into place together.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wavedil.checkpoint import load_model
from wavedil.cli.common import UsageError, check_outputs, run_cli, write_together
from wavedil.models.parallel import ParallelWaveNet

__all__ = ["export_classifier", "main"]

FORMATS = ("torchscript", "export", "onnx")
TOLERANCE = 1e-4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavedil-export",
                                     description="Export a classifier, or a generator's "
                                                 "step, to run without wavedil.")
    parser.add_argument("--checkpoint", required=True, type=Path, metavar="CKPT")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--out", required=True, type=Path, help="the file to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out (refused otherwise)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-export", lambda: _export(args))


def _export(args: argparse.Namespace) -> None:
    meta = args.out.with_name(args.out.name + ".json")
    check_outputs(args.out.parent, [args.out, meta], args.overwrite,
                  protected=[args.checkpoint])
    loaded = load_model(args.checkpoint)
    rate = loaded.info.sample_rate
    if isinstance(loaded.model, ParallelWaveNet):
        _export_parallel(args, loaded, meta)
        return
    if loaded.kind == "generator":
        _export_generator(args, loaded, meta)
        return
    worst, save = export_classifier(loaded.model, rate, args.format)
    names = loaded.info.label_names(loaded.model.num_classes)
    record = json.dumps({"format": args.format, "sample_rate": rate, "class_names": names,
                         "checkpoint": str(args.checkpoint), "max_abs_difference": worst},
                        indent=1) + "\n"
    write_together([(args.out, save), (meta, lambda path: path.write_text(record))])
    print(f"wrote {args.out} ({args.format}; {rate} Hz audio (B, T) -> logits over "
          f"{', '.join(names)}; largest difference from the checkpoint's model {worst:.1e})")


def _export_parallel(args: argparse.Namespace, loaded: Any, meta: Path) -> None:
    from wavedil.spec import to_spec

    model, info = loaded.model, loaded.info
    worst, save = export_parallel_vocoder(model, args.format)
    record = json.dumps({"format": args.format, "kind": "parallel-vocoder",
                         "sample_rate": info.sample_rate, "hop_length": model.hop_length,
                         "local_features": info.local_features,
                         "highpass_hz": model.highpass_hz, "model": to_spec(model),
                         "checkpoint": str(args.checkpoint), "max_abs_difference": worst},
                        indent=1) + "\n"
    write_together([(args.out, save), (meta, lambda path: path.write_text(record))])
    print(f"wrote {args.out} ({args.format}; mel frames (B, {model.local_channels}, N) and "
          f"noise (B, N * {model.hop_length}) -> audio (B, N * {model.hop_length}); largest "
          f"difference from the checkpoint's model {worst:.1e})")


class _Generate(nn.Module):
    """A parallel vocoder's network without its input checks (data-dependent)."""

    def __init__(self, model: ParallelWaveNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.model.generate(frames, noise)


def export_parallel_vocoder(model: ParallelWaveNet, fmt: str
                            ) -> tuple[float, Callable[[Path], object]]:
    """Export a parallel vocoder as one program, ``(frames (B, F, N), noise (B, N * hop))
    -> audio (B, N * hop)`` with dynamic batch and frames, checked against the model on
    other batch sizes and lengths; returns the largest difference and a writer.

    Raises:
        UsageError: ``torchscript`` (not supported for it).
        ValueError: the program differs from the model by more than 1e-4.
    """
    if fmt == "torchscript":
        raise UsageError("A parallel vocoder is exported with --format export or onnx.")
    wrapped = _Generate(model.eval())
    hop, bands = model.hop_length, model.local_channels
    g = torch.Generator().manual_seed(0)

    def inputs(batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(batch, bands, frames, generator=g) - 4,
                torch.randn(batch, frames * hop, generator=g))

    example = inputs(2, 24)
    checks = [inputs(1, 9), inputs(3, 41)]
    batch = torch.export.Dim("batch")
    frames = torch.export.Dim("frames", min=max(2, model.min_frames))
    dynamic = ({0: batch, 2: frames}, {0: batch, 1: hop * frames})
    with torch.no_grad():
        if fmt == "export":
            exported = torch.export.export(wrapped, example, dynamic_shapes=dynamic)
            run, save = exported.module(), lambda path: torch.export.save(exported, str(path))
        else:
            onnx_program = _to_onnx(wrapped, example, dynamic, ["frames", "noise"], ["audio"])
            run, save = _onnxruntime(onnx_program), lambda path: onnx_program.save(str(path))
        worst = max(float((run(*x) - wrapped(*x)).abs().max()) for x in checks)
    if not worst <= TOLERANCE:
        raise ValueError(f"The {fmt} program differs from the model by {worst:.2e} (more than "
                         f"{TOLERANCE}); nothing was written.")
    return worst, save


def upsampler_path(out: Path) -> Path:
    """Where a vocoder's upsampler program goes, beside its step: ``step.upsample.pt2``."""
    return out.with_name(f"{out.stem}.upsample{out.suffix}")


def _export_generator(args: argparse.Namespace, loaded: Any, meta: Path) -> None:
    from wavedil.inference.generation.export import StepProgram, export_step, export_upsampler
    from wavedil.spec import to_spec

    model, info = loaded.model, loaded.info
    if args.format != "export":
        raise UsageError("A generator is exported as its step function with --format export.")
    program = StepProgram(model)  # ValueError for what it does not support
    extra: dict[str, Any] = {}
    parts = []  # every program exported before any file is written, then all written together
    if model.local_upsampler is not None:  # a vocoder: its upsampler as a second program
        upsampler = upsampler_path(args.out)
        check_outputs(args.out.parent, [upsampler], args.overwrite, protected=[args.checkpoint])
        upsample_program = export_upsampler(model)
        parts.append((upsampler, lambda path: torch.export.save(upsample_program, str(path))))
        extra = {"upsampler": upsampler.name, "hop_length": model.local_upsampler.hop_length,
                 "local_features": info.local_features}
    step_program = export_step(model)
    parts.append((args.out, lambda path: torch.export.save(step_program, str(path))))
    windows = [list(w.shape[1:]) for w in program.init_windows(1)]
    record = json.dumps({"format": "export", "kind": "generator-step",
                         "sample_rate": info.sample_rate, "output": to_spec(model.output),
                         "windows": windows, "global_channels": model.global_channels,
                         "preemphasis": model.preemphasis, "highpass_hz": model.highpass_hz,
                         **extra, "checkpoint": str(args.checkpoint)}, indent=1) + "\n"
    parts.append((meta, lambda path: path.write_text(record)))
    write_together(parts)
    also = f" and its upsampler {extra['upsampler']}" if extra else ""
    print(f"wrote {args.out} (the generator's step: {len(windows)} history windows{also}; see "
          f"{meta.name})")


def export_classifier(model: nn.Module, sample_rate: int, fmt: str
                      ) -> tuple[float, Callable[[Path], object]]:
    """Export ``model`` in format ``fmt`` and check the program against it on clips of
    lengths it was not traced with; returns the largest absolute difference in logits
    and a function that writes the program to a path (nothing is written here).

    Raises:
        ValueError: the exported program differs from the model by more than 1e-4.
    """
    model = model.eval()
    generator = torch.Generator().manual_seed(0)
    example = 0.1 * torch.randn(2, sample_rate, generator=generator)  # 1 s
    checks = [0.1 * torch.randn(b, n, generator=generator)  # other batch sizes and lengths
              for b, n in ((1, sample_rate // 10 * 7), (3, sample_rate * 2 + 37))]
    # batch and length are dynamic: AUTO lets export find its range (an STFT's framing
    # makes guards a strict Dim cannot state)
    dynamic = ({0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO},)
    with torch.no_grad():
        save: Callable[[Path], object]
        if fmt == "torchscript":
            program = torch.jit.trace(model, example, check_trace=False)
            run, save = program, lambda path: program.save(str(path))
        elif fmt == "export":
            exported = torch.export.export(model, (example,), dynamic_shapes=dynamic)
            run, save = exported.module(), lambda path: torch.export.save(exported, str(path))
        else:
            onnx_program = _to_onnx(model, example, dynamic)
            run, save = _onnxruntime(onnx_program), lambda path: onnx_program.save(str(path))
        worst = max(float((run(x) - model(x)).abs().max()) for x in checks)
    if not worst <= TOLERANCE:
        raise ValueError(f"The {fmt} program differs from the model by {worst:.2e} (more than "
                         f"{TOLERANCE}); nothing was written.")
    return worst, save


def _to_onnx(model: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], dynamic: tuple,
             input_names: Sequence[str] = ("audio",), output_names: Sequence[str] = ("logits",)
             ) -> Any:
    """A model as an ONNX program (torch's dynamo-based exporter)."""
    try:
        import onnxruntime  # noqa: F401  (checked here: the file is tested in it before writing)
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise UsageError(f"--format onnx needs onnx, onnxscript and onnxruntime ({error}); "
                         f"install them with: pip install 'wavedil[onnx]'") from None
    # the exporter logs a warning per torchvision op it cannot register; none are used here
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecations inside the exporter
        args = example if isinstance(example, tuple) else (example,)
        return torch.onnx.export(model, args, input_names=list(input_names),
                                 output_names=list(output_names), dynamic_shapes=dynamic,
                                 dynamo=True, verbose=False)


def _onnxruntime(program: Any) -> Callable[..., torch.Tensor]:
    """The ONNX model in an onnxruntime session, called like the torch model."""
    import onnxruntime

    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *x: torch.from_numpy(session.run(None, {
        n: t.numpy() for n, t in zip(names, x, strict=True)})[0])


if __name__ == "__main__":
    sys.exit(main())
