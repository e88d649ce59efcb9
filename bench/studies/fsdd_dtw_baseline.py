"""A classical reference for the FSDD classifier: nearest neighbours by dynamic
time warping, leave one speaker out.

Each recording is trimmed of leading and trailing silence (``librosa.effects.trim``)
and turned into the same per-clip mean-normalised MFCCs as the neural recipe
(``wavedil.nn.MFCCFrontend``, 13 coefficients, the first one, loudness, dropped).
For each held-out speaker, every one of his recordings is compared with
``--templates`` recordings per digit of each of the other four speakers by DTW
(``librosa.sequence.dtw`` over Euclidean frame distances, cost divided by the two
lengths' sum) and gets the majority digit of its ``--k`` nearest. Prints one JSON
line per speaker (accuracy, and per digit) and one with the mean and the worst:

    python bench/studies/fsdd_dtw_baseline.py --data-root ../shared/data/fsdd

No training, so it says how far apart the speakers' digits are before any
learning: a held-out speaker that DTW places well but the network does not
points at the network, one that both miss points at the data.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from wavedil.data.io import load_audio
from wavedil.data.sources import FSDD_PATTERN, scan_folder, speakers_of
from wavedil.nn import MFCCFrontend

SAMPLE_RATE = 8000


@torch.inference_mode()
def mfcc_frames(path: Path, frontend: MFCCFrontend, top_db: float) -> np.ndarray:
    """``(frames, n_mfcc - 1)`` MFCCs of the recording with its silent ends cut."""
    audio = load_audio(path, SAMPLE_RATE).numpy()
    trimmed, _ = librosa.effects.trim(audio, top_db=top_db)
    feats = frontend(torch.from_numpy(trimmed)[None]).features[0]  # (n_mfcc, N)
    return feats[1:].T.numpy().astype(np.float64)


def dtw_cost(a: np.ndarray, b: np.ndarray) -> float:
    """Length-normalised DTW cost between two ``(frames, dim)`` sequences."""
    total = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean", backtrack=False)[-1, -1]
    return float(total) / (len(a) + len(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="FSDD (recordings/)")
    parser.add_argument("--templates", type=int, default=12,
                        help="recordings per digit of each training speaker to compare with")
    parser.add_argument("--k", type=int, default=5, help="neighbours that vote")
    parser.add_argument("--top-db", type=float, default=30.0, help="silence threshold for trim")
    parser.add_argument("--speakers", nargs="*", default=None, help="held out (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.templates < 1 or args.k < 1:
        raise SystemExit("Expected --templates and --k of at least 1.")

    if not args.data_root.is_dir():
        raise SystemExit(f"--data-root {args.data_root} is not a folder; expected FSDD's "
                         "(recordings named like 7_jackson_32.wav).")
    try:
        files = scan_folder(args.data_root, labels="pattern", pattern=FSDD_PATTERN)
    except ValueError as error:
        raise SystemExit(f"{error} (expected FSDD's recordings under --data-root)") from None
    speakers = speakers_of(files)
    unknown = sorted(set(args.speakers or []) - set(speakers))
    if unknown:
        raise SystemExit(f"Unknown speakers {unknown}; the data holds {speakers}.")
    frontend = MFCCFrontend(SAMPLE_RATE, n_mfcc=13, n_fft=256, hop_length=64, n_mels=40).eval()
    start = time.perf_counter()
    feats = [mfcc_frames(f.path, frontend, args.top_db) for f in files]
    feature_seconds = time.perf_counter() - start
    digits = [int(f.label) for f in files]  # type: ignore[arg-type]
    rng = random.Random(args.seed)

    rows = []
    for held in args.speakers or speakers:
        templates = []  # indices into files
        for speaker in speakers:
            if speaker == held:
                continue
            for digit in range(10):
                pool = [i for i, f in enumerate(files)
                        if f.speaker == speaker and digits[i] == digit]
                templates += rng.sample(pool, min(args.templates, len(pool)))
        labels = np.array([digits[i] for i in templates])
        tested = [i for i, f in enumerate(files) if f.speaker == held]
        start = time.perf_counter()
        right = np.zeros(10, int)
        count = np.zeros(10, int)
        for i in tested:
            costs = np.array([dtw_cost(feats[i], feats[j]) for j in templates])
            votes = np.bincount(labels[np.argsort(costs)[:args.k]], minlength=10)
            count[digits[i]] += 1
            right[digits[i]] += int(votes.argmax() == digits[i])
        row = {"speaker": held, "accuracy": round(100 * right.sum() / count.sum(), 1),
               "per_digit": [round(100 * r / c, 1) for r, c in zip(right, count, strict=True)],
               "templates": len(templates), "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    worst = min(rows, key=lambda r: r["accuracy"])
    print(json.dumps({"summary": {"mean": round(statistics.mean(r["accuracy"] for r in rows), 2),
                                  "worst": worst["accuracy"], "worst_speaker": worst["speaker"]},
                      "k": args.k, "templates_per_digit": args.templates, "top_db": args.top_db,
                      "feature_seconds": round(feature_seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
