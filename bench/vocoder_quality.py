"""Vocoder quality and speed on held-out speech, next to Griffin-Lim from the same frames.

    python bench/vocoder_quality.py --checkpoint VOCODER.ckpt --classifier DIGITS.ckpt \\
        --data-root ../shared/data/fsdd --speaker george

Prints JSON lines:

* one per file: mel-cepstral distortion, log-mel distance, F0 error and voicing
  error of the vocoder's and Griffin-Lim's resynthesis against the original, and
  the classifier's prediction on all three (``--no-files``: left out);
  PESQ and STOI are scored on the clips joined into ~8 s segments (summary only);
* ``{"summary": ...}``: the means, the classifier's accuracy on the originals and on
  each resynthesis (``relative_accuracy`` = resynthesis / originals) and each
  method's real-time factor in that run (the vocoder batched at ``--batch``);
* ``{"speed": ...}``: the vocoder's real-time factor at batch 1 and batched, and at
  batch 1 with ``method="compiled"``, timed side by side on the same
  ``--speed-files`` files, alternating over ``--repeats`` rounds (median; the machine
  drifts, so the ratios are the reliable figures). ``--speed-only``: this line alone.

The scoring is :func:`wavedil.inference.vocoding.evaluate_vocoder`, as
``wavedil-evaluate-vocoder`` runs it. ``--highpass-hz 70`` (or ``none``) overrides the
checkpoint's synthesis high-pass (:meth:`wavedil.models.WaveNet.set_highpass`), to
score a vocoder trained before the setting existed with and without it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from timing import interleaved, medians, spread_pct

from wavedil.checkpoint import load_classifier
from wavedil.data.sources import FSDD_PATTERN, fsdd_recordings
from wavedil.inference.vocoding import (
    VocoderClip,
    decode_for_vocoder,
    evaluate_vocoder,
    load_vocoder,
    mel_frames,
    resynthesize,
    select_clips,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--classifier", type=Path, action="append")
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--speaker", nargs="+", default=["george"])
    parser.add_argument("--limit", type=int, default=None, help="evenly spaced files")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--highpass-hz", default=None,
                        help="override the model's synthesis high-pass: a frequency in Hz, "
                             "or 'none' (default: the checkpoint's own setting)")
    parser.add_argument("--no-files", action="store_true", help="summary and speed only")
    parser.add_argument("--speed-only", action="store_true", help="the speed line only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, info, settings = load_vocoder(args.checkpoint)
    rate = info.sample_rate
    if args.highpass_hz is not None:
        model.set_highpass(None if args.highpass_hz == "none" else float(args.highpass_hz), rate)
    classifier, names = None, []
    if args.classifier:
        classifier, cinfo = load_classifier(args.classifier)
        names = cinfo.class_names
    recordings = [f.path for f in fsdd_recordings(args.data_root, args.speaker)]
    chosen = select_clips(recordings, FSDD_PATTERN, args.speaker, args.limit)
    clips = [VocoderClip(str(p), decode_for_vocoder(p, rate, False),
                         names.index(label) if label in names else None)
             for p, label in chosen]

    if not args.speed_only:
        result = evaluate_vocoder(model, settings, rate, clips, classifier,
                                  batch_size=args.batch, temperature=args.temperature,
                                  seed=args.seed, progress=sys.stderr.isatty())
        if not args.no_files:
            for row in result["files"]:
                print(json.dumps(row), flush=True)
        print(json.dumps({"summary": {"checkpoint": str(args.checkpoint),
                                      "speakers": args.speaker, "threads": args.threads,
                                      "highpass_hz": model.highpass_hz,
                                      **result["summary"]}}), flush=True)

    few = clips[:: max(1, len(clips) // args.speed_files)][: args.speed_files]
    frames = [mel_frames(c.audio, rate, settings) for c in few]
    lengths = [len(c.audio) for c in few]
    seconds = sum(lengths) / rate
    def real_time_factor(batch: int, method: str = "fast") -> float:
        run = resynthesize(model, frames, lengths, batch, temperature=args.temperature,
                           seed=args.seed, method=method)
        return seconds / run.seconds

    cases = {"1": lambda: real_time_factor(1), str(args.batch): lambda: real_time_factor(
        args.batch), "1/compiled": lambda: real_time_factor(1, "compiled")}
    rtf = interleaved(cases, args.repeats)
    median = medians(rtf)

    def ratio(a: str, b: str) -> float:
        return round(statistics.median(y / x for x, y in zip(rtf[a], rtf[b], strict=True)), 2)

    print(json.dumps({"speed": {
        "files": len(few), "audio_seconds": round(seconds, 3), "threads": args.threads,
        "real_time_factor_batch1": round(median["1"], 3),
        f"real_time_factor_batch{args.batch}": round(median[str(args.batch)], 3),
        "real_time_factor_batch1_compiled": round(median["1/compiled"], 3),
        "batched_speedup": ratio("1", str(args.batch)),
        "compiled_speedup_batch1": ratio("1", "1/compiled"),
        "spread_pct": {b: spread_pct(v) for b, v in rtf.items()},
    }}), flush=True)


if __name__ == "__main__":
    main()
