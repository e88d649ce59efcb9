"""How well linear prediction from mel frames predicts speech: the prediction gain
of each way of undoing the mel filterbank, against the STFT's own power spectrum.

For every tenth of a speaker's FSDD recordings, per-sample predictor coefficients are
computed as a source-filter vocoder computes them (:class:`wavedil.nn.LinearPrediction`:
power spectrum -> optional pre-emphasis response -> autocorrelation -> lag window ->
per-sample interpolation -> Levinson-Durbin) from three power spectra:

* ``pinv``, ``interpolate``: the clip's own log-mel frames through
  :func:`wavedil.dsp.mel_to_linear_power` (what a vocoder has);
* ``stft``: the clip's STFT power itself, with the same windows (an upper bound: what
  the frames were made from).

and the gain ``10 log10(sum y^2 / sum (y - p)^2)`` over all clips is printed as one
JSON line per (frame setting, pre-emphasis, order, inversion):

    python bench/studies/lpc_prediction_gain.py --data-root ../shared/data/fsdd
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import torch

from wavedil.data.features import mel_extractor
from wavedil.data.io import load_audio
from wavedil.data.sources import fsdd_recordings
from wavedil.dsp import autocorrelation_from_power, emphasis_response, levinson_durbin, preemphasis
from wavedil.nn import LinearPrediction

SETTINGS = {"fine": {"n_mels": 40, "n_fft": 256, "hop_length": 64},
            "tts": {"n_mels": 32, "n_fft": 400, "hop_length": 100}}


def stft_coefficients(lp: LinearPrediction, audio: torch.Tensor, settings: dict,
                      emphasis: float) -> torch.Tensor:
    """Per-sample coefficients from the STFT power (the same windows as the frames)."""
    n_fft, hop = settings["n_fft"], settings["hop_length"]
    window = torch.hann_window(n_fft, dtype=torch.float64)
    power = torch.stft(audio.double(), n_fft, hop, window=window, return_complex=True,
                       pad_mode="constant").abs().pow(2).T[None]  # (1, N, K)
    if emphasis:
        power = power * emphasis_response(power.shape[-1], emphasis)
    r = autocorrelation_from_power(power, lp.order)
    r = r / r[..., :1].clamp(min=1e-300) * lp.lag_window  # (1, N, p + 1)
    position = torch.arange(len(audio), dtype=torch.float64) / hop
    left = position.floor().long().clamp(max=r.shape[1] - 1)
    right = (left + 1).clamp(max=r.shape[1] - 1)
    w = (position - left)[None, :, None]
    return (-levinson_durbin(r[:, left] * (1 - w) + r[:, right] * w).a).transpose(1, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--speaker", default="george")
    parser.add_argument("--every", type=int, default=10, help="every n-th recording")
    parser.add_argument("--orders", type=int, nargs="+", default=[12, 16])
    args = parser.parse_args()
    files = [f.path for f in fsdd_recordings(args.data_root, [args.speaker])][::args.every]
    clips = [load_audio(p, 8000).double() for p in files]
    for (name, settings), emphasis, order in itertools.product(SETTINGS.items(), (0.0, 0.85),
                                                               args.orders):
        extractor = mel_extractor(8000, settings)
        for method in ("pinv", "interpolate", "stft"):
            lp = LinearPrediction(8000, residual_channels=1, order=order,
                                  mel_inversion="pinv" if method == "stft" else method,
                                  **settings)
            signal = residual = 0.0
            for audio in clips:
                y = preemphasis(audio, emphasis)
                if method == "stft":
                    c = stft_coefficients(lp, audio, settings, emphasis)
                else:
                    frames = extractor(audio.float()[None]).features
                    c = lp.coefficients(frames, len(audio), emphasis)
                e = y - LinearPrediction.predict(y[None], c)[0]
                signal, residual = signal + float(y.pow(2).sum()), residual + float(e.pow(2).sum())
            print(json.dumps({"frames": name, **settings, "preemphasis": emphasis, "order": order,
                              "spectrum": method, "clips": len(clips),
                              "prediction_gain_db": round(10 * math.log10(signal / residual), 2)}),
                  flush=True)


if __name__ == "__main__":
    main()
