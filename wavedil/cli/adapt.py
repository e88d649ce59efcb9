"""``wavedil-adapt``: adapt a classifier checkpoint to a new speaker or microphone
from unlabelled recordings of it.

    wavedil-adapt --checkpoint fsdd.ckpt --out fsdd_jackson.ckpt jackson_recordings/
    wavedil-classify --checkpoint fsdd_jackson.ckpt new_recording.wav

Fine-tunes the whole network by information maximisation
(:mod:`wavedil.inference.classification.adapt`): confident predictions, spread over the
classes. The recordings should cover the classes roughly evenly (a speaker
saying each word a few times). Any sample rate and channel count is accepted; a
file that cannot be read is reported and left out (exit status 1 once the
adapted checkpoint is written). The output is a checkpoint like any other, for
``wavedil-classify`` and ``wavedil-evaluate``, with an ``adaptation`` entry in
its wavedil record; the input checkpoint is never overwritten.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from wavedil.checkpoint import load_model, save_derived
from wavedil.cli.arguments import device, non_negative_float, positive_float, positive_int
from wavedil.cli.common import UsageError, check_outputs, count_failures, expand_paths, run_cli
from wavedil.data.io import AudioError, load_audio
from wavedil.inference.classification.adapt import adapt

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-adapt",
        description="Adapt a classifier to unlabelled recordings of a new speaker.")
    parser.add_argument("--checkpoint", required=True, type=Path, help="a classifier .ckpt")
    parser.add_argument("--out", required=True, type=Path, help="the adapted .ckpt to write")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                        help="unlabelled audio files, or folders searched for .wav/.flac/.ogg")
    parser.add_argument("--epochs", type=positive_int, default=16,
                        help="passes over the recordings")
    parser.add_argument("--lr", type=positive_float, default=3e-4, help="Adam step size")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="recordings per step (several per class)")
    parser.add_argument("--diversity", type=non_negative_float, default=3.0,
                        help="weight of the term that keeps predictions spread over the "
                             "classes (1: plain information maximisation)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the order of recordings")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file (never the input checkpoint)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-adapt", lambda: run(args))


def run(args: argparse.Namespace) -> int:
    if args.out.resolve() == args.checkpoint.resolve():
        raise UsageError(f"Refusing to overwrite {args.checkpoint}, the input; expected a "
                         "different --out path.")
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"{args.out} already exists; pass --overwrite to replace it, or "
                         "choose another --out.")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; expected the path of a .ckpt file.")
    check_outputs(args.out.parent, [args.out], overwrite=True)  # the folder is writable
    loaded = load_model(args.checkpoint, kind="classifier", map_location=args.device)
    paths = expand_paths(args.inputs)
    clips: list[torch.Tensor] = []
    failed: list[Path] = []
    for path in paths:
        try:
            clips.append(load_audio(path, loaded.info.sample_rate))
        except (AudioError, OSError) as err:
            failed.append(path)
            print(f"{path}: error: {err}", file=sys.stderr)
    classes = loaded.model.num_classes
    if len(clips) < classes:
        raise UsageError(f"expected at least {classes} readable recordings (the model has "
                         f"{classes} classes, and they should all be present), but found "
                         f"{len(clips)} in {' '.join(args.inputs)}")
    generator = torch.Generator().manual_seed(args.seed)
    try:
        history = adapt(loaded.model, clips, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, diversity=args.diversity,
                        generator=generator, device=args.device)
    except FloatingPointError as err:
        raise UsageError(str(err)) from None
    save_derived(args.checkpoint, loaded.model, args.out, adaptation={
        "method": "information_maximization", "recordings": len(clips),
        "epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
        "diversity": args.diversity, "seed": args.seed, "objective": history,
    })
    print(f"adapted on {len(clips)} recordings, objective {history[0]:.3f} -> "
          f"{history[-1]:.3f} nats (the best possible is -diversity * log K = "
          f"{-args.diversity * math.log(classes):.3f}); wrote {args.out}")
    if failed:
        left_out = count_failures(paths, failed, "could not be read and were left out")
        print(f"wavedil-adapt: {left_out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
