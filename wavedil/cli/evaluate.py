"""``wavedil-evaluate``: score a classifier checkpoint on a labelled folder.

    wavedil-evaluate --checkpoint fsdd.ckpt ../shared/data/fsdd --speakers george
    wavedil-evaluate --checkpoint animals.ckpt test_set/ --labels folder --out eval/

Labels come from the file names (``--labels pattern``, FSDD's
``{digit}_{speaker}_{index}`` by default) or from sub-folder names
(``--labels folder``); ``auto`` picks the pattern when every name matches it.
Writes into ``--out``: ``confusion.png`` (row-normalised confusion matrix with
counts), ``per_class.md`` (accuracy per class, and per speaker when names carry
speakers) and ``report.json``; prints the tables. ``--speeds 0.9 1.0 1.1`` averages
each file's prediction over those playback speeds (test-time augmentation), and
``--checkpoint`` given more than once the predictions of several classifiers.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from wavedil.checkpoint import load_classifier
from wavedil.cli.arguments import add_classifier_options, regex
from wavedil.cli.common import UsageError, check_outputs, run_cli
from wavedil.data.sources import FSDD_PATTERN, AudioFile, scan_folder
from wavedil.inference.classification.predict import Failure, predict_files
from wavedil.metrics.classification import accuracy_report, report_markdown
from wavedil.plots import plot_confusion_matrix

__all__ = ["evaluate_folder", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavedil-evaluate",
                                     description="Confusion matrix and per-class accuracy.")
    parser.add_argument("folder", type=Path, help="labelled audio files (searched recursively)")
    parser.add_argument("--labels", choices=("auto", "pattern", "folder"), default="auto")
    parser.add_argument("--pattern", type=regex, default=FSDD_PATTERN,
                        help="file-name regex with a (?P<label>...) group (and optionally "
                             "(?P<speaker>...)); default: FSDD's {digit}_{speaker}_{index}")
    parser.add_argument("--speakers", nargs="+", help="only files of these speakers")
    parser.add_argument("--out", type=Path, default=Path("evaluation"))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier report in --out (refused otherwise)")
    add_classifier_options(parser, batch_size=64)
    return parser


def _scan(args: argparse.Namespace) -> list[AudioFile]:
    mode = args.labels
    if mode == "auto":
        files = scan_folder(args.folder)
        regex = re.compile(args.pattern)
        mode = "pattern" if all(regex.fullmatch(f.path.stem) for f in files) else "folder"
    files = scan_folder(args.folder, labels=mode,
                        pattern=args.pattern if mode == "pattern" else None)
    if args.speakers:
        files = [f for f in files if f.speaker in set(args.speakers)]
        if not files:
            raise UsageError(f"No files of speakers {args.speakers} under {args.folder}.")
    return files


REPORT_FILES = ("confusion.png", "per_class.md", "report.json")


def evaluate_folder(args: argparse.Namespace) -> dict:
    check_outputs(args.out, [args.out / name for name in REPORT_FILES],
                  getattr(args, "overwrite", False))
    model, info = load_classifier(args.checkpoint, args.device, args.speeds)
    names = info.class_names
    files = _scan(args)
    unknown = sorted({f.label for f in files} - set(names))
    if unknown:
        raise UsageError(f"Labels {unknown} under {args.folder} are not classes of the "
                         f"checkpoint; expected labels from {names}.")
    by_path = {f.path: f for f in files}
    truth, guess, speakers, failures = [], [], [], []
    results = predict_files(model, names, info.sample_rate, [f.path for f in files],
                            args.batch_size, args.device)
    for result in tqdm(results, total=len(files), desc="evaluating", unit="file", leave=False):
        if isinstance(result, Failure):
            failures.append({"path": str(result.path), "error": result.error})
            print(f"{result.path}: error: {result.error}", file=sys.stderr)
            continue
        entry = by_path[result.path]
        truth.append(names.index(entry.label))
        guess.append(result.index)
        speakers.append(entry.speaker)
    if not truth:
        raise UsageError(f"None of the {len(files)} files under {args.folder} could be read.")

    checkpoints = [str(path) for path in args.checkpoint]
    report: dict = {"checkpoint": checkpoints[0] if len(checkpoints) == 1 else checkpoints,
                    "folder": str(args.folder),
                    "speeds": args.speeds,
                    "failures": failures, **accuracy_report(truth, guess, names, speakers)}
    args.out.mkdir(parents=True, exist_ok=True)
    which = " + ".join(path.name for path in args.checkpoint)
    title = f"{which} on {args.folder.name}: accuracy {report['accuracy']:.2%}"
    plot_confusion_matrix(np.asarray(report["confusion"]), names, args.out / "confusion.png",
                          title)
    (args.out / "per_class.md").write_text(report_markdown(report))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-evaluate", lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    report = evaluate_folder(args)
    print(report_markdown(report), end="")
    print(f"wrote {args.out / 'confusion.png'}, {args.out / 'per_class.md'}, "
          f"{args.out / 'report.json'}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
