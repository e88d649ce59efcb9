"""Spectrograms of the same recordings resynthesised by several vocoders and by
Griffin-Lim, one row each, for the eye:

    python bench/studies/vocoder_pictures.py --data-root ../shared/data/fsdd \\
        --vocoder plain=RUN_E.ckpt --vocoder source-filter=RUN_F.ckpt:70 \\
        --files 0_george_0 3_george_12 7_george_25 --out vocoders.png

``NAME=CHECKPOINT[:HIGHPASS_HZ]`` per vocoder (the high-pass overrides the checkpoint's
synthesis setting; ``none`` switches it off); every vocoder resynthesises the files at
temperature 1, seed 0, batch 1, and Griffin-Lim (64 iterations) from the first
vocoder's frames. Refuses to overwrite ``--out`` without ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wavedil.inference.vocoding import (
    decode_for_vocoder,
    griffin_lim,
    load_vocoder,
    mel_frames,
    resynthesize,
)
from wavedil.plots import plot_spectrogram_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--vocoder", action="append", required=True, metavar="NAME=CKPT[:HZ]")
    parser.add_argument("--files", nargs="+", required=True, help="FSDD names without .wav")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    if args.out.exists() and not args.overwrite:
        raise SystemExit(f"{args.out} exists; pass --overwrite to replace it.")
    rows, names = [], []
    originals = None
    first = None
    for spec in args.vocoder:
        name, _, rest = spec.partition("=")
        path, _, highpass = rest.partition(":")
        model, info, settings = load_vocoder(path)
        rate = info.sample_rate
        if highpass:
            model.set_highpass(None if highpass == "none" else float(highpass), rate)
        if originals is None:
            originals = [decode_for_vocoder(args.data_root / "recordings" / f"{f}.wav", rate,
                                            False) for f in args.files]
            rows.append(originals)
            names.append("original")
            first = (rate, settings)
        frames = [mel_frames(c, rate, settings) for c in originals]
        rows.append(resynthesize(model, frames, [len(c) for c in originals], 1).audio)
        names.append(name)
    assert originals is not None and first is not None
    rate, settings = first
    rows.append([griffin_lim(mel_frames(c, rate, settings), rate, settings, length=len(c))
                 for c in originals])
    names.append("Griffin-Lim")
    print(plot_spectrogram_grid(rows, rate, args.out, rows=names, columns=args.files))


if __name__ == "__main__":
    main()
