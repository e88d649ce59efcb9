"""Signal processing as pure, batched functions: pre-emphasis (noise shaping), a
Butterworth high-pass for generated audio, and linear prediction (Levinson-Durbin
from the autocorrelation of a power spectrum, itself recovered from mel frames).

    >>> from wavedil.dsp import levinson_durbin, preemphasis
"""

from wavedil.dsp.emphasis import check_emphasis, deemphasis, preemphasis
from wavedil.dsp.filters import butterworth_qs, highpass
from wavedil.dsp.lpc import (
    LPC,
    MEL_INVERSIONS,
    autocorrelation_from_power,
    emphasis_response,
    lag_window,
    levinson_durbin,
    lpc_spectrum,
    mel_to_linear_power,
    prediction_gain_db,
)

__all__ = [
    "LPC",
    "MEL_INVERSIONS",
    "autocorrelation_from_power",
    "butterworth_qs",
    "check_emphasis",
    "deemphasis",
    "emphasis_response",
    "highpass",
    "lag_window",
    "levinson_durbin",
    "lpc_spectrum",
    "mel_to_linear_power",
    "prediction_gain_db",
    "preemphasis",
]
