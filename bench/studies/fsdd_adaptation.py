"""Accuracy of unsupervised speaker adaptation on FSDD's held-out speakers.

Takes the fold checkpoints of a leave-one-speaker-out run
(``python train.py experiment=fsdd_classifier data.root=... loso=true``, which
writes ``<run>/<speaker>/checkpoints/last.ckpt``) and, for each held-out speaker,
adapts the fold's classifier on the speaker's recordings with index below
``--split`` (labels unused: what ``wavedil-adapt`` does) and scores it on his
recordings from ``--split`` on, which the adaptation never saw. Prints one JSON
line per speaker (accuracy before and after, on the same scored recordings) and
one with the mean and the worst:

    python bench/studies/fsdd_adaptation.py --runs outputs/fsdd_loso --data-root ../shared/data/fsdd
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from wavedil.checkpoint import load_model
from wavedil.data.io import load_audio
from wavedil.data.sources import fsdd_recordings
from wavedil.inference.classification.adapt import adapt
from wavedil.inference.classification.predict import classify_clips
from wavedil.metrics.classification import mean_and_worst


def accuracy(model: torch.nn.Module, clips: list[torch.Tensor], labels: torch.Tensor) -> float:
    return float((classify_clips(model, clips) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="a loso=true run folder")
    parser.add_argument("--data-root", type=Path, required=True, help="FSDD (recordings/)")
    parser.add_argument("--split", type=int, default=25,
                        help="adapt on recordings with index below this, score the rest")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--diversity", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folds = sorted(p.parent.parent for p in args.runs.glob("*/checkpoints/last.ckpt"))
    if not folds:
        raise SystemExit(f"No <speaker>/checkpoints/last.ckpt under {args.runs}; expected "
                         "the folder of a `loso=true` run.")
    rows = []
    for fold in folds:
        speaker = fold.name
        loaded = load_model(fold / "checkpoints" / "last.ckpt", kind="classifier")
        try:
            files = fsdd_recordings(args.data_root, [speaker])
        except (OSError, ValueError) as err:
            raise SystemExit(str(err)) from None
        digit = [int(f.label) for f in files]
        index = [f.index for f in files]
        clips = [load_audio(f.path, loaded.info.sample_rate) for f in files]
        unlabelled = [c for c, i in zip(clips, index, strict=True) if i < args.split]
        scored = [c for c, i in zip(clips, index, strict=True) if i >= args.split]
        labels = torch.tensor([d for d, i in zip(digit, index, strict=True) if i >= args.split])
        before = accuracy(loaded.model, scored, labels)
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        adapt(loaded.model, unlabelled, epochs=args.epochs, lr=args.lr, diversity=args.diversity,
              generator=torch.Generator().manual_seed(args.seed), progress=False)
        seconds = time.perf_counter() - start
        after = accuracy(loaded.model, scored, labels)
        row = {"speaker": speaker, "adapted_on": len(unlabelled), "scored": len(scored),
               "before": round(100 * before, 1), "after": round(100 * after, 1),
               "adapt_seconds": round(seconds, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = mean_and_worst(rows, ("before", "after"))
    print(json.dumps({"summary": summary, "epochs": args.epochs, "lr": args.lr,
                      "diversity": args.diversity,
                      "split": args.split, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
