"""``wavedil-sample``: generate audio from a trained generator checkpoint.

    wavedil-sample --checkpoint run/checkpoints/last.ckpt --seconds 2 --batch 4 --out samples/
    wavedil-sample --checkpoint fsdd.ckpt --speaker jackson --seed 7 --temperature 0.9
    wavedil-sample --checkpoint vocoder.ckpt --wav speech.wav          # mel frames of the WAV
    wavedil-sample --checkpoint tones.ckpt --prime start.wav --seconds 1

Writes ``sample_000.wav`` (16-bit PCM at the model's rate) and ``sample_000.png``
(waveform and spectrogram) per stream into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from wavedil.checkpoint import load_model
from wavedil.cli.arguments import device, non_negative_float, positive_float, positive_int
from wavedil.cli.common import UsageError, check_outputs, run_cli
from wavedil.data.io import load_audio, write_audio
from wavedil.data.sources import DataInfo
from wavedil.inference import METHODS, generate
from wavedil.inference.vocoding import mel_frames
from wavedil.models import WaveNet

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-sample", description="Generate audio with a trained WaveNet checkpoint.")
    parser.add_argument("--checkpoint", required=True, type=Path, help="a generator .ckpt")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=positive_float, help="length per clip in seconds")
    length.add_argument("--samples", type=positive_int, help="length per clip in samples")
    parser.add_argument("--batch", type=positive_int, default=None,
                        help="independent clips (default 1, or one per --speaker value)")
    parser.add_argument("--temperature", type=non_negative_float, default=1.0,
                        help="sampling temperature; 0 always takes the most likely value (for a "
                             "logistic mixture, its likeliest component's mean)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (printed when drawn, so a run can be repeated)")
    parser.add_argument("--speaker", "--class", dest="classes", nargs="+", metavar="NAME",
                        help="global conditioning: class or speaker names (or ids), one for "
                             "all clips or one per clip")
    local = parser.add_mutually_exclusive_group()
    local.add_argument("--wav", type=Path, help="local conditioning: mel frames of this audio")
    local.add_argument("--mel", type=Path,
                       help="local conditioning: a .npy or .pt array of shape (n_mels, frames)")
    parser.add_argument("--prime", type=Path, help="audio that the generation continues")
    parser.add_argument("--out", type=Path, default=Path("samples"), help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the samples already in --out (refused otherwise)")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="sampler, all giving the same samples: auto (default: compiled "
                             "for small models at batches up to 4 on the CPU, else fast), "
                             "fast, compiled, graph (CUDA), cached, naive")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG per clip")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def resolve_classes(names: Sequence[str] | None, info: DataInfo, model: WaveNet) -> Tensor | None:
    """Class/speaker names (or ids) -> ``(B,)`` ids, checked against the checkpoint."""
    known = info.global_names
    what = info.global_label or "class"
    if model.global_classes is None:
        if names:
            raise UsageError("This model has no global conditioning; drop --speaker/--class.")
        return None
    if not names:
        choices = ", ".join(known) if known else f"0..{model.global_classes - 1}"
        raise UsageError(f"This model is conditioned on a {what}: pass --speaker/--class "
                         f"with one of: {choices}.")
    ids = []
    for name in names:
        if name in known:
            ids.append(known.index(name))
        elif name.isdigit() and int(name) < model.global_classes:
            ids.append(int(name))
        else:
            choices = ", ".join(known) if known else f"0..{model.global_classes - 1}"
            raise UsageError(f"Unknown {what} {name!r}; expected one of: {choices}.")
    return torch.tensor(ids)


def local_features(args: argparse.Namespace, info: DataInfo, model: WaveNet) -> Tensor | None:
    """``(1, n_mels, frames)`` conditioning frames from --wav or --mel, or None."""
    if model.local_channels is None:
        if args.wav or args.mel:
            raise UsageError("This model has no local conditioning; drop --wav/--mel.")
        return None
    if not (args.wav or args.mel):
        raise UsageError(f"This model is conditioned on {model.local_channels} mel bands per "
                         "frame: pass --wav AUDIO (its mel frames are used) or --mel ARRAY.")
    if args.wav:
        if not info.local_features:
            raise UsageError(f"{args.checkpoint} does not record its mel settings; use --mel.")
        audio = load_audio(args.wav, info.sample_rate)
        return mel_frames(audio, info.sample_rate, info.local_features).unsqueeze(0)
    path = args.mel
    if not path.is_file():
        raise FileNotFoundError(f"Mel file not found: {path}")
    expected = f"a .npy or .pt array of shape ({model.local_channels}, frames)"
    try:
        if path.suffix == ".pt":
            array = torch.load(path, map_location="cpu", weights_only=True)
        else:
            array = torch.from_numpy(np.load(path, allow_pickle=False))
        array = torch.as_tensor(array, dtype=torch.float32)
    except Exception as err:  # numpy and torch raise many kinds for a bad file
        raise UsageError(f"Cannot read the mel array {path} ({type(err).__name__}); "
                         f"expected {expected}.") from None
    if array.dim() != 2 or array.shape[0] != model.local_channels:
        raise UsageError(f"Expected {expected} in {path}, but found shape "
                         f"{tuple(array.shape)}.")
    if not torch.isfinite(array).all():
        raise UsageError(f"{path} holds NaN or Inf; expected finite log-mel values.")
    return array.unsqueeze(0)


def prepare_out(out: Path, overwrite: bool) -> None:
    """Check ``--out`` before any work: a folder (made here) holding no earlier samples,
    or, with ``overwrite``, whose earlier samples are removed so none is left stale."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; expected a folder (new or empty).")
    earlier = sorted(p for p in out.glob("sample*") if p.is_file()) if out.is_dir() else []
    if earlier and not overwrite:
        raise UsageError(f"--out {out} already holds samples ({earlier[0].name} and "
                         f"{len(earlier) - 1} more); pass --overwrite to replace them, or "
                         "choose another --out.")
    check_outputs(out, [], overwrite=True)  # makes it, and checks it is writable
    for path in earlier:
        if path.name == "sample.json" or path.stem.startswith("sample_"):
            path.unlink()


def _rescue(audio: Tensor, rate: int) -> Path:
    """Clips that could not be written where asked, written to a fresh temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="wavedil-sample-"))
    for i, clip in enumerate(audio):
        write_audio(folder / f"sample_{i:03d}.wav", clip.cpu(), rate)
    return folder


def run(args: argparse.Namespace) -> list[Path]:
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_model(args.checkpoint, kind="generator", map_location=args.device)
    model, info = loaded.model, loaded.info
    rate = info.sample_rate
    classes = resolve_classes(args.classes, info, model)
    local = local_features(args, info, model)
    prime = load_audio(args.prime, rate).unsqueeze(0) if args.prime else None
    prime_len = 0 if prime is None else prime.shape[-1]

    if args.samples is not None:
        length = args.samples
    elif args.seconds is not None:
        length = round(args.seconds * rate)
    elif local is not None:  # as long as the conditioning allows
        length = local.shape[-1] * model.local_upsampler.hop_length - prime_len
    else:
        length = rate
    if length < 1:
        raise UsageError(f"Expected a positive length, but found {length} samples.")
    if local is not None:
        covered = local.shape[-1] * model.local_upsampler.hop_length
        if prime_len + length > covered:
            raise UsageError(
                f"The conditioning covers {covered} samples ({local.shape[-1]} frames), but "
                f"{prime_len + length} were asked for; expected --samples/--seconds of at "
                f"most {covered - prime_len} samples.")

    batch = args.batch or (len(classes) if classes is not None else 1)
    if classes is not None:
        if len(classes) == 1:
            classes = classes.expand(batch)
        elif len(classes) != batch:
            raise UsageError(f"Expected one --speaker/--class or {batch} (one per clip), "
                             f"but found {len(classes)}.")
    if local is not None:
        local = local.expand(batch, -1, -1)
    if prime is not None:
        prime = prime.expand(batch, -1)
    prepare_out(args.out, args.overwrite)  # the last check, just before the work
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.seed is None:
        print(f"seed: {seed}", file=sys.stderr)

    result = generate(model, length, batch, method=args.method, temperature=args.temperature,
                      seed=seed, global_cond=classes, local_cond=local, prime=prime,
                      progress=not args.quiet)
    rate_str = f"{batch * (length + prime_len) / max(result.seconds, 1e-9):,.0f} samples/s"
    print(f"generated {batch} x {length} samples ({length / rate:.2f} s at {rate} Hz) "
          f"in {result.seconds:.1f} s: {rate_str}", file=sys.stderr)

    written: list[Path] = []
    try:
        _write(args, result, rate, seed, length, batch, classes, info, written)
    except OSError as err:
        wavs = sum(p.suffix == ".wav" for p in written)
        saved = _rescue(result.audio, rate)
        raise UsageError(f"Writing to {args.out} failed after generation ({err.strerror or err}; "
                         f"{wavs} of {batch} clips written there); all {batch} clips were "
                         f"saved to {saved} instead.") from None
    for path in written:
        print(path)
    return written


def _write(args: argparse.Namespace, result: Any, rate: int, seed: int, length: int,
           batch: int, classes: Tensor | None, info: DataInfo, written: list[Path]) -> None:
    for i in range(batch):
        stem = args.out / f"sample_{i:03d}"
        wav = write_audio(stem.with_suffix(".wav"), result.audio[i].cpu(), rate)
        written.append(wav)
        if not args.no_plots:
            from wavedil.plots import plot_waveform

            label = "" if classes is None else f", {info.global_label or 'class'} " + (
                info.global_names[int(classes[i])] if info.global_names else str(int(classes[i])))
            title = f"{wav.name}: seed {seed}, temperature {args.temperature}{label}"
            written.append(plot_waveform(result.audio[i], rate, stem.with_suffix(".png"), title))
    (args.out / "sample.json").write_text(json.dumps({
        "checkpoint": str(args.checkpoint), "seed": seed, "temperature": args.temperature,
        "samples": length, "batch": batch, "method": result.method, "seconds": result.seconds,
    }, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-sample", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
