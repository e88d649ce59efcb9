"""Accuracy of ensembles of leave-one-speaker-out runs on FSDD's held-out speakers.

Takes two or more ``loso=true`` runs (``python train.py experiment=fsdd_classifier
data.root=... loso=true``, each writing ``<run>/<speaker>/checkpoints/last.ckpt``)
and scores, for every speaker held out in all of them, each run's fold classifier
alone and the :class:`~wavedil.inference.classification.predict.Ensemble` of all of them (their
log-probabilities averaged: what ``wavedil-classify --checkpoint A --checkpoint B``
does) on that speaker's 500 recordings. No speaker's recordings are in any of the
fold classifiers' training data, so the ensemble stays speaker-independent. Prints
one JSON line per speaker (each run's accuracy, the ensemble's, and how often the
runs agree) and one with the mean and the worst:

    python bench/studies/fsdd_ensemble.py --runs outputs/mfcc_loso outputs/logmel_loso \\
        --data-root ../shared/data/fsdd
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from wavedil.checkpoint import CheckpointError, load_classifier
from wavedil.data.io import load_audio
from wavedil.data.sources import fsdd_recordings
from wavedil.inference.classification.predict import classify_clips
from wavedil.metrics.classification import mean_and_worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="two or more loso=true run folders")
    parser.add_argument("--data-root", type=Path, required=True, help="FSDD (recordings/)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if len(args.runs) < 2:
        parser.error("--runs: expected at least two loso=true runs to ensemble")
    folds = [{p.parent.parent.name for p in run.glob("*/checkpoints/last.ckpt")}
             for run in args.runs]
    for run, speakers in zip(args.runs, folds, strict=True):
        if not speakers:
            parser.error(f"--runs: no <speaker>/checkpoints/last.ckpt under {run}; expected "
                         "the folder of a loso=true run")
    speakers = sorted(set.intersection(*folds))
    if not speakers:
        parser.error("--runs: the runs hold out no speaker in common")

    names = [run.name for run in args.runs]
    if len(set(names)) < len(names):  # e.g. a/loso and b/loso
        names = [str(run) for run in args.runs]
    rows = []
    for speaker in speakers:
        # the library's loader checks that the folds share classes and sample rate
        try:
            ensemble, info = load_classifier([run / speaker / "checkpoints" / "last.ckpt"
                                              for run in args.runs])
        except CheckpointError as err:
            parser.error(f"--runs: {err}")
        try:
            files = fsdd_recordings(args.data_root, [speaker])
        except (OSError, ValueError) as err:
            parser.error(str(err))
        labels = torch.tensor([info.class_names.index(f.label) for f in files])
        clips = [load_audio(f.path, info.sample_rate) for f in files]
        each = [classify_clips(member, clips) for member in ensemble.members]
        together = classify_clips(ensemble, clips)
        row = {"speaker": speaker, "files": len(files),
               **{name: round(100 * float((p == labels).float().mean()), 1)
                  for name, p in zip(names, each, strict=True)},
               "ensemble": round(100 * float((together == labels).float().mean()), 1),
               "members_agree": round(100 * float(
                   torch.stack(each).eq(each[0]).all(0).float().mean()), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = mean_and_worst(rows, [*names, "ensemble"])
    print(json.dumps({"summary": summary, "runs": [str(r) for r in args.runs]}), flush=True)


if __name__ == "__main__":
    main()
