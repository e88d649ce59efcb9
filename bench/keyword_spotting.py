"""Keyword spotting on FSDD: a speaker's digits read in a row, found and labelled.

    python bench/keyword_spotting.py --checkpoint DIGITS.ckpt --data-root ../shared/data/fsdd \\
        --speaker george --words 100 --plot spotting.png

Joins ``--words`` recordings of ``--speaker`` (drawn with ``--seed``) into one
stream with pauses of 0.3-0.7 s (``--pause``) and background noise at -60 dBFS
(``--noise-db``)
(:func:`wavedil.data.functional.join_clips`), runs :func:`spot_keywords` over it in
0.1 s chunks as ``wavedil-classify --spot`` does, and prints one JSON line:

* ``found``: words with exactly one segment on them; ``missed``, ``merged`` (one
  segment over several words), ``split`` (a word cut in two) and ``false_alarms``
  (segments on no word);
* ``accuracy_spotted``: labels right among the found words; ``accuracy_clips``: the
  same classifier on the same words' clips given alone (what spotting can reach);
* ``real_time_factor``: seconds of audio spotted per second of compute.

Train the classifier on the other speakers so that the speaker is unseen, e.g.
``python train.py experiment=fsdd_classifier data.root=...`` (george held out).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch

from wavedil.checkpoint import load_classifier
from wavedil.data.functional import join_clips
from wavedil.data.io import load_audio
from wavedil.data.sources import fsdd_recordings
from wavedil.inference.classification.predict import classify_clips
from wavedil.inference.classification.spotting import SpeechGate, spot_keywords


def score(words, spans: list[tuple[int, int]], labels: list[str], rate: int) -> dict:
    """Match segments to words by overlap: each word's segments, each segment's words."""
    on_word = [[i for i, w in enumerate(words)
                if min(w.end * rate, end) > max(w.start * rate, start)] for start, end in spans]
    on_segment = [[j for j, hits in enumerate(on_word) if i in hits] for i in range(len(words))]
    found = [hits[0] for hits in on_word if len(hits) == 1 and len(on_segment[hits[0]]) == 1]
    right = sum(words[i].label == labels[j] for j, hits in enumerate(on_word)
                if len(hits) == 1 and len(on_segment[hits[0]]) == 1 for i in hits)
    return {"words": len(spans), "segments": len(words), "found": len(found),
            "missed": sum(not hits for hits in on_word),
            "split": sum(len(hits) > 1 for hits in on_word),
            "merged": sum(len(s) > 1 for s in on_segment),
            "false_alarms": sum(not s for s in on_segment),
            "accuracy_spotted": round(right / max(len(found), 1), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--speaker", default="george")
    parser.add_argument("--words", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hop", type=float, default=0.1, help="seconds per chunk")
    parser.add_argument("--noise-db", type=float, default=-60.0,
                        help="background noise level, dB below full scale")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.3, 0.7), metavar=("MIN", "MAX"),
                        help="seconds between words")
    parser.add_argument("--margin-db", type=float, default=6.0,
                        help="the speech gate's margin above the background (dB)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plot", type=Path, help="a PNG of the stream and its words")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model, info = load_classifier([args.checkpoint], "cpu")
    rate, names = info.sample_rate, info.class_names
    files = random.Random(args.seed).sample(fsdd_recordings(args.data_root, [args.speaker]),
                                            args.words)
    clips = [load_audio(f.path, rate) for f in files]
    labels = [str(f.label) for f in files]
    audio, spans = join_clips(clips, rate, tuple(args.pause), args.noise_db,
                              torch.Generator().manual_seed(args.seed))
    gate = SpeechGate(rate, margin_db=args.margin_db)
    start = time.perf_counter()
    words = list(spot_keywords(model, audio.split(round(args.hop * rate)), rate, names, gate))
    seconds = time.perf_counter() - start
    alone = classify_clips(model, clips)
    row = {"checkpoint": str(args.checkpoint), "speaker": args.speaker, "seed": args.seed,
           "noise_db": args.noise_db, "pause": list(args.pause), "margin_db": args.margin_db,
           **score(words, spans, labels, rate),
           "accuracy_clips": round(sum(names[int(k)] == y for k, y in zip(alone, labels,
                                                                             strict=True))
                                   / len(labels), 4),
           "audio_seconds": round(len(audio) / rate, 1),
           "real_time_factor": round(len(audio) / rate / seconds, 1),
           "threads": args.threads}
    print(json.dumps(row), flush=True)
    if args.plot:
        from wavedil.plots import plot_spotted_words

        shown = [w for w in words if w.start < 20]  # the first 20 s, readable
        truth = [next((labels[j] for j, (s, e) in enumerate(spans)
                       if min(w.end * rate, e) > max(w.start * rate, s)), "?") for w in shown]
        cut = round(20 * rate)
        plot_spotted_words(audio[:cut], rate, [(w.start, w.end, w.label) for w in shown],
                           args.plot, truth, title=f"{args.speaker}: spotted digits "
                                                   f"(red: wrong, true digit in brackets)")


if __name__ == "__main__":
    main()
