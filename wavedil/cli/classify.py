"""``wavedil-classify``: label audio files with a trained classifier checkpoint.

    wavedil-classify --checkpoint fsdd.ckpt recordings/7_jackson_32.wav more/ other.flac
    wavedil-classify --checkpoint fsdd.ckpt recordings/ --json --top 3
    wavedil-classify --checkpoint causal.ckpt long_recording.wav --stream --hop 0.1
    wavedil-classify --checkpoint fsdd.ckpt digits_read_aloud.wav --spot

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
``--spot`` finds the words in a long recording as it arrives (a streaming speech
detector, :mod:`wavedil.inference.classification.spotting`) and prints
``path<TAB>start<TAB>end<TAB>label<TAB>probability`` per word, each word classified
alone when it ends; any classifier, ensemble or ``--speeds`` spots. ``--spot
--stream`` (a causal waveform classifier) also prints, after each chunk while a word
is open, ``path<TAB>time<TAB>label<TAB>probability``: the verdict on the word so far.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from wavedil.checkpoint import load_classifier
from wavedil.cli.arguments import add_classifier_options, positive_float, positive_int
from wavedil.cli.common import UsageError, check_outputs, count_failures, expand_paths, run_cli
from wavedil.data.io import AUDIO_EXTENSIONS, AudioError, load_audio
from wavedil.inference.classification.predict import Failure, predict_files
from wavedil.inference.classification.spotting import Heard, SpeechGate, Word, spot_keywords

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
    parser.add_argument("--spot", action="store_true",
                        help="keyword spotting: find the words in each (long) recording as "
                             "it arrives and print each word's time span and label (with "
                             "--stream: also the verdict on the open word every --hop)")
    parser.add_argument("--hop", type=positive_float, default=0.1, metavar="SECONDS",
                        help="with --stream or --spot: seconds of audio per step")
    parser.add_argument("--margin-db", type=positive_float, default=6.0, metavar="DB",
                        help="with --spot: how far above the background level speech is")
    parser.add_argument("--min-silence", type=positive_float, default=0.2, metavar="SECONDS",
                        help="with --spot: the pause that ends a word")
    parser.add_argument("--plot", type=Path, metavar="DIR",
                        help="with --spot: a PNG per file in DIR, its waveform with the "
                             "words found shaded and labelled")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --plot: replace pictures already there (refused otherwise)")
    add_classifier_options(parser, batch_size=32)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-classify", lambda: _classify(args))


def _classify(args: argparse.Namespace) -> int:
    if args.spot:
        return _spot(args)
    if args.stream:
        return _stream(args)
    model, info = load_classifier(args.checkpoint, args.device, args.speeds)
    names = info.label_names(model.num_classes)
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
    return _report_failures(paths, failed)


def _stream(args: argparse.Namespace) -> int:
    """``--stream``: each file chunk by chunk through ``WaveNetClassifier.step``."""
    _check_one_model(args)
    model, info = load_classifier(args.checkpoint, args.device)
    names = info.label_names(model.num_classes)
    model.init_state()  # refuses a classifier that cannot stream, before any file is read
    hop = max(1, round(args.hop * info.sample_rate))
    paths, failed = expand_paths(args.inputs), []
    for path, audio in _read_each(paths, info.sample_rate, failed):
        audio = audio.to(args.device)
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
    return _report_failures(paths, failed)


def _check_one_model(args: argparse.Namespace) -> None:
    if len(args.checkpoint) > 1 or args.speeds:
        raise UsageError("--stream takes one --checkpoint and no --speeds (an ensemble or "
                         "speed averaging does not stream).")


def _spot(args: argparse.Namespace) -> int:
    """``--spot``: each file hop by hop through a :class:`SpeechGate`, each word
    classified when it closes; with ``--stream`` also heard as it arrives."""
    if args.stream:
        _check_one_model(args)
    paths, failed = expand_paths(args.inputs), []
    pictures = {}
    if args.plot:  # checked before any work: nothing of the user's is replaced unasked
        pictures = {p: args.plot / f"{p.stem}_words.png" for p in paths if not p.is_dir()}
        check_outputs(args.plot, list(pictures.values()), args.overwrite, protected=paths,
                      option="--plot")
    model, info = load_classifier(args.checkpoint, args.device, args.speeds)
    if args.stream:
        model.init_state()  # refuses a classifier that cannot stream, before any file is read
    names = info.label_names(model.num_classes)
    hop = max(1, round(args.hop * info.sample_rate))
    for path, audio in _read_each(paths, info.sample_rate, failed):
        gate = SpeechGate(info.sample_rate, margin_db=args.margin_db,
                          min_silence=args.min_silence)
        words: list[Word] = []
        for event in spot_keywords(model, audio.split(hop), info.sample_rate, names, gate,
                                   args.device, stream=args.stream):
            _print_spotted(path, event, args.json)
            if isinstance(event, Word):
                words.append(event)
        if path in pictures:
            from wavedil.plots import plot_spotted_words  # matplotlib only when asked

            plot_spotted_words(audio, info.sample_rate, [(w.start, w.end, w.label)
                                                         for w in words], pictures[path],
                               title=f"{path.name}: {len(words)} words")
        if not words:
            print(f"{path}: no words found: nothing rose {args.margin_db:g} dB above the "
                  f"background for 0.1 s (a lower --margin-db hears quieter words)",
                  file=sys.stderr)
    return _report_failures(paths, failed)


def _print_spotted(path: Path, event: Word | Heard, as_json: bool) -> None:
    """A word (its span) or, with ``--stream``, a verdict on the open word (its time)."""
    if isinstance(event, Heard):
        when = {"time": round(event.time, 4), "word_start": round(event.word_start, 4)}
        text = f"{event.time:.2f}s"
    else:
        when = {"start": round(event.start, 4), "end": round(event.end, 4)}
        text = f"{event.start:.2f}s\t{event.end:.2f}s"
    if as_json:
        print(json.dumps({"path": str(path), **when, "label": event.label,
                          "probability": round(event.probability, 6)}), flush=True)
    else:
        print(f"{path}\t{text}\t{event.label}\t{event.probability:.4f}", flush=True)


def _read_each(paths: Sequence[Path], sample_rate: int, failed: list[Path]
               ) -> Iterator[tuple[Path, torch.Tensor]]:
    """Each file's audio at ``sample_rate``; one that cannot be read is reported on
    stderr and appended to ``failed``, and the others go on."""
    for path in paths:
        try:
            yield path, load_audio(path, sample_rate)
        except (AudioError, OSError) as err:
            failed.append(path)
            print(f"{path}: error: {err}", file=sys.stderr)


def _report_failures(paths: Sequence[Path], failed: list[Path]) -> int:
    if failed:
        print(f"wavedil-classify: {count_failures(paths, failed, 'could not be classified')}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
