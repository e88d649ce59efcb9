"""``wavedil-evaluate-vocoder``: how good a vocoder is, next to Griffin-Lim.

    wavedil-evaluate-vocoder --checkpoint vocoder.ckpt --classifier digits.ckpt \\
        ../shared/data/fsdd/recordings --speakers george --out vocoder_eval/

Every input is resynthesised from its log-mel frames twice, by the vocoder and by
Griffin-Lim (torchaudio), and both are scored against the original: mel-cepstral
distortion, log-mel distance, F0 error and voicing decision error (see
:mod:`wavedil.metrics.audio`; on fixed analysis settings per rate), and PESQ and
STOI on the clips joined into segments of about 8 s (:mod:`wavedil.metrics.perceptual`;
with the ``quality`` extra installed). With ``--classifier``, intelligibility too: the
classifier's accuracy on each resynthesis next to its accuracy on the originals
(labels from FSDD-style names ``{label}_{speaker}_{index}``, ``--pattern``, or
else the parent folder's name).

Prints one JSON line per file and a summary line (``--quiet``: the summary only);
writes ``vocoder_eval.json``, ``vocoder_eval.md`` and ``examples.png`` (original,
Griffin-Lim and vocoder spectrograms of a few files) into ``--out``, with
``--save-audio`` both resyntheses of every file, and with ``--html`` a listening
report (:mod:`wavedil.cli.listening`): ``index.html`` with the scores and, for
``--html-clips`` clips spread over the inputs, the original, the vocoder and
Griffin-Lim as audio players above their spectrograms. Outputs are checked before any
work; existing ones are refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from wavedil.checkpoint import load_classifier
from wavedil.cli.arguments import device, non_negative_float, positive_int, regex
from wavedil.cli.common import UsageError, check_outputs, expand_paths, run_cli
from wavedil.cli.listening import listening_files, pick_clips, write_listening_report
from wavedil.data.io import AudioError, write_audio
from wavedil.data.sources import FSDD_PATTERN
from wavedil.inference.vocoding import (
    METHODS_SCORED,
    VocoderClip,
    decode_for_vocoder,
    evaluate_vocoder,
    load_vocoder,
    select_clips,
)

__all__ = ["main", "report_markdown"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-evaluate-vocoder",
        description="Score a vocoder's resynthesis against the originals and Griffin-Lim.")
    parser.add_argument("--checkpoint", required=True, type=Path, help="a vocoder .ckpt")
    parser.add_argument("--classifier", type=Path, action="append", metavar="CKPT",
                        help="a classifier .ckpt for intelligibility (repeat: an ensemble)")
    parser.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER",
                        help="original audio files, or folders searched for them")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--speakers", nargs="+", help="only files of these speakers (by name)")
    parser.add_argument("--pattern", type=regex, default=FSDD_PATTERN,
                        help="file-name regex with (?P<label>...) and optionally "
                             "(?P<speaker>...) groups; default: FSDD's")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="score this many files, evenly spaced over the sorted inputs")
    parser.add_argument("--batch", type=positive_int, default=16, help="files generated together")
    parser.add_argument("--temperature", type=non_negative_float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--griffin-lim-iters", type=positive_int, default=64)
    parser.add_argument("--resample", action="store_true",
                        help="accept files at another rate (resampled to the model's)")
    parser.add_argument("--save-audio", action="store_true",
                        help="also write each resynthesis (vocoder/ and griffin_lim/)")
    parser.add_argument("--html", action="store_true",
                        help="also write a listening report: index.html with the scores and, "
                             "per clip, audio players and spectrograms (listen/)")
    parser.add_argument("--html-clips", type=positive_int, default=8, metavar="N",
                        help="clips on the listening page, spread over the inputs (default 8)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true", help="summary only, no progress bars")
    return parser


def report_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table: one row per method."""
    lines = [f"{summary['files']} files, {summary['audio_seconds']:.1f} s of audio", "",
             "| method | MCD (dB) | log-mel distance (dB) | PESQ | STOI | F0 RMSE (cents) "
             "| voicing error | accuracy | relative accuracy | real-time factor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    accuracy = summary.get("accuracy", {})

    def cell(value: Any, fmt: str = "{:.2f}") -> str:
        return "-" if value is None else fmt.format(value)

    if accuracy:
        lines.append(f"| original | 0 | 0 | - | 1 | 0 | 0 "
                     f"| {cell(accuracy['original'], '{:.1%}')} | 1 | - |")
    for method in METHODS_SCORED:
        row = summary[method]
        lines.append(
            f"| {method.replace('_', '-')} | {cell(row['mcd_db'])} "
            f"| {cell(row['log_mel_distance_db'])} | {cell(row.get('pesq'))} "
            f"| {cell(row.get('stoi'), '{:.3f}')} | {cell(row['f0_rmse_cents'], '{:.0f}')} "
            f"| {cell(row['voicing_error'], '{:.3f}')} "
            f"| {cell(accuracy.get(method), '{:.1%}')} "
            f"| {cell(row.get('relative_accuracy'), '{:.3f}')} "
            f"| {cell(row['real_time_factor'])} |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    model, info, settings = load_vocoder(args.checkpoint, args.device)
    classifier, class_names = None, []
    if args.classifier:
        classifier, cinfo = load_classifier(args.classifier, args.device)
        if cinfo.sample_rate != info.sample_rate:
            raise UsageError(f"The classifier works at {cinfo.sample_rate} Hz, the vocoder at "
                             f"{info.sample_rate} Hz; expected one rate.")
        class_names = cinfo.class_names

    chosen = select_clips(expand_paths(args.inputs), args.pattern, args.speakers, args.limit)
    outputs = [args.out / name for name in ("vocoder_eval.json", "vocoder_eval.md",
                                            "examples.png")]
    if args.save_audio:
        outputs += [args.out / method / path.name for path, _ in chosen
                    for method in METHODS_SCORED]
    listened = ([chosen[i][0] for i in pick_clips(len(chosen), args.html_clips)]
                if args.html else [])
    outputs += listening_files(args.out, [p.name for p in listened])
    check_outputs(args.out, outputs, args.overwrite, protected=[p for p, _ in chosen])

    clips, failures = [], []
    for path, label in tqdm(chosen, desc="decoding", unit="file", disable=args.quiet,
                            leave=False):
        try:
            audio = decode_for_vocoder(path, info.sample_rate, args.resample)
        except (AudioError, OSError) as err:
            failures.append({"file": str(path), "error": str(err)})
            print(f"{path}: error: {err}", file=sys.stderr)
            continue
        index = class_names.index(label) if label in class_names else None
        clips.append(VocoderClip(str(path), audio, index))
    if not clips:
        raise UsageError("None of the inputs could be used; nothing was evaluated.")
    if classifier is not None and not any(c.label is not None for c in clips):
        raise UsageError(f"No input's label is a class of the classifier ({class_names}); "
                         "expected FSDD-style names, --pattern, or class-named folders.")

    total = sum(len(c.audio) for c in clips)
    bar = tqdm(total=total, unit="sample", unit_scale=True, desc="resynthesising",
               disable=args.quiet, smoothing=0.1)
    begin = time.perf_counter()
    result = evaluate_vocoder(
        model, settings, info.sample_rate, clips, classifier, batch_size=args.batch,
        temperature=args.temperature, seed=args.seed, griffin_lim_iters=args.griffin_lim_iters,
        on_progress=lambda done: bar.update(min(done, total) - bar.n), progress=not args.quiet)
    bar.close()
    summary = {"checkpoint": str(args.checkpoint),
               "classifier": [str(p) for p in args.classifier or []],
               **result["summary"], "failures": failures,
               "wall_seconds": round(time.perf_counter() - begin, 1), "mel": settings}
    for row in result["files"]:
        if "label" in row:
            row["label"] = class_names[row["label"]]
            row["predicted"] = {k: class_names[v] for k, v in row["predicted"].items()}
        if not args.quiet:
            print(json.dumps(row), flush=True)
    print(json.dumps({"summary": summary}), flush=True)

    (args.out / "vocoder_eval.json").write_text(
        json.dumps({"summary": summary, "files": result["files"]}, indent=2))
    (args.out / "vocoder_eval.md").write_text(report_markdown(summary))
    from wavedil.plots import plot_spectrogram_grid

    shown = list(range(0, len(clips), max(1, len(clips) // 4)))[:4]
    plot_spectrogram_grid(
        [[clips[i].audio for i in shown], *[[result["audio"][m][i] for i in shown]
                                            for m in METHODS_SCORED]],
        info.sample_rate, args.out / "examples.png",
        rows=["original", *[m.replace("_", "-") for m in METHODS_SCORED]],
        columns=[Path(clips[i].name).name for i in shown], title=args.checkpoint.name)
    if args.save_audio:
        for method in METHODS_SCORED:
            for clip, audio in zip(clips, result["audio"][method], strict=True):
                write_audio(args.out / method / Path(clip.name).name, audio, info.sample_rate)
    if args.html:
        wanted = {str(p) for p in listened}
        picked = [i for i, clip in enumerate(clips) if clip.name in wanted]
        index = write_listening_report(
            args.out, args.checkpoint.name, report_markdown(summary),
            [(Path(clips[i].name).name, clips[i].audio) for i in picked],
            {m: [result["audio"][m][i] for i in picked] for m in METHODS_SCORED},
            info.sample_rate, [result["files"][i] for i in picked])
        print(f"Listening report: {index}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-evaluate-vocoder", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
