"""Where a vocoder's spectral distance comes from: the mean log-mel level of its
resynthesis minus the original's, band by band, next to Griffin-Lim's.

    python bench/studies/vocoder_bands.py --checkpoint VOCODER.ckpt \\
        --data-root ../shared/data/fsdd --speaker george --every 10 --highpass-hz none 70

For every ``--every``-th recording of the speaker, the vocoder (batches of 16,
temperature 1, seed 0) and Griffin-Lim resynthesise it from its own frames; both are
analysed with the evaluation's fixed settings (:func:`wavedil.metrics.analysis_settings`)
and one JSON line per method (and per ``--highpass-hz`` setting of the vocoder's
synthesis high-pass) gives the per-band mean difference in dB (positive: louder than
the original), the band centre frequencies, and the mean log-mel distance.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from wavedil.data.sources import fsdd_recordings
from wavedil.inference.vocoding import (
    decode_for_vocoder,
    griffin_lim,
    load_vocoder,
    mel_frames,
    resynthesize,
)
from wavedil.metrics import analysis_settings, log_mel_distance
from wavedil.metrics.audio import _DB_PER_NEPER, _log_mel


def band_levels(originals: list[torch.Tensor], outputs: list[torch.Tensor], rate: int
                ) -> list[float]:
    """Mean over clips and frames of the log-mel power difference per band, in dB."""
    settings = analysis_settings(rate)
    per_clip = []
    for original, output in zip(originals, outputs, strict=True):
        a, b = _log_mel(original, rate, settings), _log_mel(output, rate, settings)
        n = min(a.shape[1], b.shape[1])
        per_clip.append((b[:, :n] - a[:, :n]).mean(1) * _DB_PER_NEPER)
    return [round(float(v), 2) for v in torch.stack(per_clip).mean(0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--speaker", default="george")
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--highpass-hz", nargs="+", default=["none"],
                        help="synthesis high-pass settings to score ('none' or Hz)")
    args = parser.parse_args()
    model, info, settings = load_vocoder(args.checkpoint)
    rate = info.sample_rate
    paths = [f.path for f in fsdd_recordings(args.data_root, [args.speaker])][::args.every]
    clips = [decode_for_vocoder(p, rate, False) for p in paths]
    frames = [mel_frames(c, rate, settings) for c in clips]
    lengths = [len(c) for c in clips]
    analysis = analysis_settings(rate)
    import torchaudio

    centres = torchaudio.functional.melscale_fbanks(
        analysis["n_fft"] // 2 + 1, 0.0, rate / 2, analysis["n_mels"], rate)
    hz = torch.linspace(0, rate / 2, centres.shape[0])
    centre_hz = [round(float((centres[:, m] * hz).sum() / centres[:, m].sum().clamp(min=1e-9)))
                 for m in range(centres.shape[1])]
    outputs = {"griffin_lim": [griffin_lim(f, rate, settings, length=n)
                               for f, n in zip(frames, lengths, strict=True)]}
    for setting in args.highpass_hz:
        model.set_highpass(None if setting == "none" else float(setting), rate)
        outputs[f"vocoder/highpass={setting}"] = resynthesize(model, frames, lengths, 16).audio
    for method, audio in outputs.items():
        print(json.dumps({
            "checkpoint": str(args.checkpoint), "method": method, "files": len(clips),
            "log_mel_distance_db": round(statistics.mean(
                log_mel_distance(c, a, rate, analysis) for c, a in zip(clips, audio, strict=True)
            ), 3),
            "band_difference_db": band_levels(clips, audio, rate), "band_centre_hz": centre_hz,
        }), flush=True)


if __name__ == "__main__":
    main()
