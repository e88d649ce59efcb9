"""``wavedil-voices``: write the synthetic voices to WAV files, to listen to them or
to score a classifier on them.

    wavedil-voices --out voices/                          # the ten digits in 10 voices
    wavedil-voices --out voices/ --voices 400 --seed 0    # exactly what data/tts=digits trains on
    wavedil-voices --out yes_no/ --words yes=yes no=no --sample-rate 16000
    wavedil-evaluate --checkpoint fsdd.ckpt voices/       # how a model hears them

Writes ``<out>/<class>/<class>_espeak_<voice>.wav`` (16-bit PCM; FSDD-style names
inside one folder per class, so ``wavedil-evaluate`` reads the labels either way),
``<out>/voices.json`` (each voice's accent, variant, pitch, rate and formant
factors) and ``<out>/voices.png`` (spectrograms of every word in the first few
voices). The
voices are those of :class:`wavedil.data.SyntheticVoices` with the same settings:
a pure function of ``--seed``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wavedil.cli.arguments import positive_int
from wavedil.cli.common import UsageError, check_outputs, run_cli
from wavedil.data.espeak import ACCENTS
from wavedil.data.io import load_audio
from wavedil.data.tts import SyntheticVoices
from wavedil.plots import plot_spectrogram_grid

__all__ = ["DIGIT_WORDS", "main"]

#: The words of ``conf/data/tts/digits.yaml``: FSDD's class names and their words.
DIGIT_WORDS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
               "6": "six", "7": "seven", "8": "eight", "9": "nine"}


def _word(text: str) -> tuple[str, str]:
    name, sep, word = text.partition("=")
    if not sep or not name.strip() or not word.strip():
        raise argparse.ArgumentTypeError(f"expected CLASS=TEXT, such as 7=seven, but found "
                                         f"{text!r}")
    if name in {".", ".."} or "/" in name or "\\" in name:
        raise argparse.ArgumentTypeError(f"expected a class name usable as a folder name, "
                                         f"but found {name!r}")
    return name, word


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-voices",
        description="Write synthetic eSpeak NG voices saying each class's word as WAV files.")
    parser.add_argument("--out", required=True, type=Path, help="folder to write into")
    parser.add_argument("--words", nargs="+", type=_word, metavar="CLASS=TEXT",
                        help="class name and the text to speak (default: the ten digits, "
                             "0=zero ... 9=nine)")
    parser.add_argument("--voices", type=positive_int, default=10, help="how many voices")
    parser.add_argument("--seed", type=int, default=0, help="which voices")
    parser.add_argument("--sample-rate", type=positive_int, default=8000, help="Hz")
    parser.add_argument("--accents", nargs="+", default=list(ACCENTS),
                        help="eSpeak NG English accents to draw from")
    parser.add_argument("--pitch", nargs=2, type=int, default=[20, 80], metavar=("LOW", "HIGH"),
                        help="eSpeak pitch range, 0-99")
    parser.add_argument("--rate", nargs=2, type=int, default=[120, 200],
                        metavar=("LOW", "HIGH"), help="words per minute")
    parser.add_argument("--noise-snr-db", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="noise in every clip at a signal-to-noise ratio in this range")
    parser.add_argument("--formant-scale", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="every voice's formant frequencies times a factor drawn from "
                             "this range (> 1: a shorter vocal tract)")
    parser.add_argument("--formant-jitter", type=float, default=0.0,
                        help="with --formant-scale: formants 1-3 each times a further "
                             "factor within 1 +- this")
    parser.add_argument("--word-formant-jitter", type=float, default=0.0,
                        help="each word's formants 1-3 times factors of its own within "
                             "1 +- this (vowels said each voice's own way)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the clips of an earlier run in --out (refused otherwise)")
    parser.add_argument("--plot-voices", type=int, default=4, metavar="N",
                        help="voices shown in voices.png (0: no picture)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-voices", lambda: _write(args))


def _outputs(out: Path, words: dict[str, str], voices: int, picture: bool) -> list[Path]:
    clips = [out / name / f"{name}_espeak_{n}.wav" for n in range(voices) for name in words]
    return [*clips, out / "voices.json", *([out / "voices.png"] if picture else [])]


def _write(args: argparse.Namespace) -> None:
    words = dict(args.words) if args.words else DIGIT_WORDS
    shown = min(args.plot_voices, args.voices)
    outputs = _outputs(args.out, words, args.voices, shown > 0)
    try:
        voices = SyntheticVoices(words, voices=args.voices, seed=args.seed,
                                 accents=args.accents, pitch=args.pitch, rate=args.rate,
                                 noise_snr_db=args.noise_snr_db,
                                 formant_scale=args.formant_scale,
                                 formant_jitter=args.formant_jitter,
                                 word_formant_jitter=args.word_formant_jitter)
    except (ImportError, RuntimeError) as err:  # no eSpeak NG
        raise UsageError(str(err)) from err
    # clips of an earlier, larger run would sit beside the new ones as if they were theirs
    earlier = set(args.out.glob("*/*_espeak_*.wav")) if args.out.is_dir() else set()
    stale = sorted(earlier - set(outputs))
    if stale and not args.overwrite:
        raise UsageError(f"{args.out} holds clips of an earlier run ({stale[0]} and "
                         f"{len(stale) - 1} more); pass --overwrite to replace them, or "
                         "choose another --out.")
    check_outputs(args.out, outputs, args.overwrite)
    for path in stale:
        path.unlink()
    try:
        paths = voices.save(args.out, args.sample_rate)
    except (ImportError, RuntimeError) as err:  # eSpeak NG failing on a voice
        raise UsageError(str(err)) from err
    if shown > 0:
        drawn = voices.draw()[:shown]
        grid = [[load_audio(args.out / name / f"{name}_espeak_{n}.wav") for name in words]
                for n in range(shown)]
        rows = [f"voice {n}\n{v.accent}\n+{v.variant}\npitch {v.pitch}\nrate {v.rate}"
                + (f"\nformants x{v.formants[4]:.2f}" if v.formants else "")
                for n, v in enumerate(drawn)]
        plot_spectrogram_grid(grid, args.sample_rate, args.out / "voices.png", rows=rows,
                              columns=list(words.values()),
                              title=f"synthetic voices (seed {args.seed})")
    print(f"wrote {len(paths)} clips of {args.voices} voices to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
