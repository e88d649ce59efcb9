"""``wavedil-resynth``: vocode audio files with a trained vocoder checkpoint.

    wavedil-resynth --checkpoint vocoder.ckpt recordings/ more.wav --out resynth/
    wavedil-resynth --checkpoint vocoder.ckpt clip.wav --out resynth/ --batch 1 --temperature 0.8

Each input's log-mel frames (the checkpoint's mel settings) are turned back into
audio by the generator, many files at once (batched across files of different
lengths). Writes ``<name>.wav`` (16-bit PCM at the model's rate) and
``<name>.png`` (the original's spectrogram above the resynthesis's) per input into
``--out``, keeping the layout of a folder given as input, and ``resynth.json``
(seed, temperature, the method that ran, real-time factor, the files written).
A name keeps its dots (``take.1.wav`` gives ``take.1.wav``). Existing outputs are
refused before any work (before the checkpoint is even read) unless
``--overwrite``, which replaces the earlier run in ``--out``: the files that run
wrote (as its ``resynth.json`` lists them) and this one does not are removed, never
any other file. A file that cannot be used (unreadable, silent, at another rate
without ``--resample``) is reported by name and the others still run; the exit
status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from wavedil.cli.arguments import device, non_negative_float, positive_int
from wavedil.cli.common import UsageError, check_outputs, count_failures, run_cli
from wavedil.data.io import AUDIO_EXTENSIONS, AudioError, write_audio
from wavedil.inference import METHODS
from wavedil.inference.vocoding import decode_for_vocoder, load_vocoder, mel_frames, resynthesize

__all__ = ["main", "plan_outputs"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-resynth",
        description="Resynthesise audio files from their mel frames with a vocoder checkpoint.")
    parser.add_argument("--checkpoint", required=True, type=Path,
                        help="a vocoder .ckpt (a generator with mel conditioning)")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                        help="audio files, or folders searched for .wav/.flac/.ogg")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--batch", type=positive_int, default=16,
                        help="files generated together (default 16)")
    parser.add_argument("--temperature", type=non_negative_float, default=1.0,
                        help="sampling temperature (0: always the most likely value)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--resample", action="store_true",
                        help="accept files at another rate (resampled to the model's); "
                             "refused otherwise, since that changes their bandwidth")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="sampler (same samples): auto (default), fast, compiled, ...")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG per file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def plan_outputs(inputs: Sequence[str | Path], out: Path) -> list[tuple[Path, Path]]:
    """``(input file, output stem)`` pairs: a file given by name lands as
    ``out/<stem>``, a file found in a given folder as ``out/<path inside it>``; a stem
    keeps every dot but the extension's (see :func:`output_file`)."""
    planned: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                planned.append((path, out / path.name))  # reported when it is read
            planned += [(p, out / p.relative_to(path).with_suffix("")) for p in found]
        else:
            planned.append((path, out / path.stem))
    return planned


def output_file(stem: Path, suffix: str) -> Path:
    """``stem`` with ``suffix`` appended (``Path.with_suffix`` would replace the part
    after a dot in the name: ``take.1`` + ``.wav`` is ``take.1.wav``, not ``take.wav``)."""
    return stem.with_name(stem.name + suffix)


def earlier_outputs(summary: Path) -> list[Path]:
    """The files an earlier run listed in its ``resynth.json`` (inside its folder
    only; none when there is no such record or it cannot be read)."""
    try:
        listed = json.loads(summary.read_text()).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        return []
    folder = summary.parent.resolve()
    found = []
    for name in listed if isinstance(listed, list) else []:
        path = (folder / str(name)).resolve()
        if path.is_relative_to(folder) and path != summary.resolve():
            found.append(path)
    return found


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    planned = plan_outputs(args.inputs, args.out)
    outputs = [output_file(stem, ".wav") for _, stem in planned]
    if not args.no_plots:
        outputs += [output_file(stem, ".png") for _, stem in planned]
    summary = args.out / "resynth.json"
    existed = args.out.exists()
    check_outputs(args.out, [*outputs, summary], args.overwrite,
                  protected=[p for p, _ in planned])
    stale = earlier_outputs(summary) if args.overwrite else []
    try:
        model, info, settings = load_vocoder(args.checkpoint, args.device)
    except BaseException:
        if not existed and not any(args.out.iterdir()):  # leave no empty folder behind
            args.out.rmdir()
        raise
    rate = info.sample_rate

    failed: list[Path] = []
    kept: list[tuple[Path, Path, torch.Tensor]] = []
    for path, stem in planned:
        try:
            if path.is_dir():
                raise AudioError(f"{path} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}).")
            kept.append((path, stem, decode_for_vocoder(path, rate, args.resample)))
        except (AudioError, OSError) as err:
            failed.append(path)
            print(f"{path}: error: {err}", file=sys.stderr)
    if not kept:
        raise UsageError("None of the inputs could be used; nothing was resynthesised.")

    clips = [audio for _, _, audio in kept]
    frames = [mel_frames(audio, rate, settings).to(args.device) for audio in clips]
    lengths = [len(audio) for audio in clips]
    order = sorted(lengths, reverse=True)
    total = sum(order[i] * min(args.batch, len(order) - i)
                for i in range(0, len(order), args.batch))  # padding included
    audio_seconds = sum(lengths) / rate
    bar = tqdm(total=total, unit="sample", unit_scale=True, desc="resynthesising",
               disable=args.quiet, smoothing=0.1)
    start = time.perf_counter()

    def progress(done: int) -> None:
        bar.update(done - bar.n)
        elapsed = time.perf_counter() - start
        bar.set_postfix_str(f"{done / max(elapsed, 1e-9) / rate:.2f}x real time", refresh=False)

    result = resynthesize(model, frames, lengths, args.batch, temperature=args.temperature,
                          seed=args.seed, method=args.method, on_progress=progress)
    bar.close()
    rtf = audio_seconds / max(result.seconds, 1e-9)
    print(f"resynthesised {len(kept)} file(s), {audio_seconds:.2f} s of audio, in "
          f"{result.seconds:.1f} s: {rtf:.2f}x real time at batch {args.batch}", file=sys.stderr)

    written: list[Path] = []
    try:
        for (path, stem, original), audio in zip(kept, result.audio, strict=True):
            written.append(write_audio(output_file(stem, ".wav"), audio, rate))
            if not args.no_plots:
                from wavedil.plots import plot_spectrogram_grid

                written.append(plot_spectrogram_grid(
                    [[original], [audio]], rate, output_file(stem, ".png"),
                    rows=["original", "resynthesised"], title=f"{path.name} ({rate} Hz)"))
        ran = sorted(set(result.methods))
        summary.write_text(json.dumps({
            "checkpoint": str(args.checkpoint), "seed": args.seed,
            "temperature": args.temperature, "batch": args.batch,
            "method": ran[0] if len(ran) == 1 else ran, "method_requested": args.method,
            "files": len(kept), "failed": [str(p) for p in failed],
            "audio_seconds": round(audio_seconds, 3), "seconds": round(result.seconds, 3),
            "real_time_factor": round(rtf, 3), "mel": settings,
            "outputs": [str(Path(p).resolve().relative_to(args.out.resolve()))
                        for p in written],
        }, indent=2))
    except OSError as err:
        raise UsageError(f"Writing the outputs failed after generation ({err}); "
                         f"{len(written)} file(s) were written to {args.out}.") from err
    for path in written:
        print(path)
    kept_now = {Path(p).resolve() for p in written}
    removed = [p for p in stale if p not in kept_now and p.is_file()]
    for path in removed:  # the earlier run's outputs this run replaced by nothing
        path.unlink()
    if removed:
        print(f"wavedil-resynth: removed {len(removed)} output(s) of the earlier run in "
              f"{args.out} that this run did not write again", file=sys.stderr)
    if failed:
        what = "could not be resynthesised"
        print(f"wavedil-resynth: {count_failures([p for p, _ in planned], failed, what)}",
              file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-resynth", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
