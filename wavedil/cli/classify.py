"""``wavedil-classify``: label audio files with a trained classifier checkpoint.

    wavedil-classify --checkpoint fsdd.ckpt recordings/7_jackson_32.wav more/ other.flac
    wavedil-classify --checkpoint fsdd.ckpt recordings/ --json --top 3
    wavedil-classify --checkpoint causal.ckpt long_recording.wav --stream --hop 0.1

One line per file: ``path<TAB>label<TAB>probability`` (or a JSON object with
``--json``). Any sample rate and channel count is accepted (resampled, mixed
down). A file that cannot be read is reported on stderr, and with ``--json`` as
a line with an ``"error"`` key, and the others are still classified; the exit
status is then 1. ``--speeds 0.9 1.0 1.1`` averages each file's prediction over
those playback speeds (test-time augmentation); ``--checkpoint`` given more than
once averages the predictions of several classifiers (an ensemble). ``--stream``
feeds each file to a causal waveform classifier chunk by chunk, as audio would
arrive, and prints ``path<TAB>time<TAB>label<TAB>probability`` after each chunk:
the verdict on everything heard so far (equal to classifying that prefix offline).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from wavedil.checkpoint import load_classifier
from wavedil.cli.arguments import add_classifier_options, positive_float, positive_int
from wavedil.cli.common import UsageError, count_failures, expand_paths, run_cli
from wavedil.data.io import AUDIO_EXTENSIONS, AudioError, load_audio
from wavedil.inference.classify import Failure, predict_files

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavedil-classify",
                                     description="Classify audio files with a checkpoint.")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                        help="audio files, or folders searched for .wav/.flac/.ogg")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of text")
    parser.add_argument("--top", type=positive_int, default=1, help="also list the K best labels")
    parser.add_argument("--stream", action="store_true",
                        help="feed each file to a causal classifier as it would arrive and "
                             "print a time-stamped prediction of everything heard so far "
                             "every --hop seconds")
    parser.add_argument("--hop", type=positive_float, default=0.1, metavar="SECONDS",
                        help="with --stream: seconds of audio per step")
    add_classifier_options(parser, batch_size=32)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-classify", lambda: _classify(args))


def _classify(args: argparse.Namespace) -> int:
    if args.stream:
        return _stream(args)
    model, info = load_classifier(args.checkpoint, args.device, args.speeds)
    names = info.class_names or [str(i) for i in range(model.num_classes)]
    paths = expand_paths(args.inputs)
    if all(path.is_dir() for path in paths):  # only folders, none holding audio
        raise UsageError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in "
                         f"{', '.join(args.inputs)}")
    failed: list[Path] = []
    for result in predict_files(model, names, info.sample_rate, paths,
                                args.batch_size, args.device):
        if isinstance(result, Failure):
            failed.append(result.path)
            print(f"{result.path}: error: {result.error}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": str(result.path), "error": result.error}), flush=True)
            continue
        top = torch.topk(result.probabilities, min(args.top, len(names)))
        if args.json:
            row = {"path": str(result.path), "label": result.label,
                   "probability": round(result.probability, 6)}
            if args.top > 1:
                row["top"] = [[names[int(i)], round(float(p), 6)]
                              for p, i in zip(top.values, top.indices, strict=True)]
            print(json.dumps(row), flush=True)
        else:
            extra = "".join(f"\t{names[int(i)]}:{float(p):.4f}"
                            for p, i in zip(top.values[1:], top.indices[1:], strict=True))
            print(f"{result.path}\t{result.label}\t{result.probability:.4f}{extra}", flush=True)
    if failed:
        print(f"wavedil-classify: {count_failures(paths, failed, 'could not be classified')}",
              file=sys.stderr)
    return 1 if failed else 0


def _stream(args: argparse.Namespace) -> int:
    """``--stream``: each file chunk by chunk through ``WaveNetClassifier.step``."""
    if len(args.checkpoint) > 1 or args.speeds:
        raise UsageError("--stream takes one --checkpoint and no --speeds (an ensemble or "
                         "speed averaging does not stream).")
    model, info = load_classifier(args.checkpoint, args.device)
    names = info.class_names or [str(i) for i in range(model.num_classes)]
    model.init_state()  # refuses a classifier that cannot stream, before any file is read
    hop = max(1, round(args.hop * info.sample_rate))
    failed: list[Path] = []
    paths = expand_paths(args.inputs)
    for path in paths:
        try:
            audio = load_audio(path, info.sample_rate).to(args.device)
        except (AudioError, OSError) as err:
            failed.append(path)
            print(f"{path}: error: {err}", file=sys.stderr)
            continue
        state = model.init_state(1, args.device)
        with torch.no_grad():
            for start in range(0, audio.shape[-1], hop):
                logits, state = model.step(audio[None, start:start + hop], state)
                probability, index = torch.softmax(logits[0], dim=-1).max(dim=-1)
                seconds = state.samples / info.sample_rate
                label = names[int(index)]
                if args.json:
                    print(json.dumps({"path": str(path), "time": round(seconds, 4),
                                      "label": label,
                                      "probability": round(float(probability), 6)}),
                          flush=True)
                else:
                    print(f"{path}\t{seconds:.2f}s\t{label}\t{float(probability):.4f}",
                          flush=True)
    if failed:
        print(f"wavedil-classify: {count_failures(paths, failed, 'could not be classified')}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
