"""The signal side of sampling a source-filter generator: ``y_t = p_t + e_t``.

Shape legend: B batch (streams), T samples, p prediction order.

A generator with :class:`~wavedil.nn.LinearPrediction` draws the excitation's code
``e_t``; around each step this loop computes the prediction ``p_t`` from the signal
generated so far, hands the network its side inputs ``[y_{t-1}, p_t]``, and turns
the drawn code into the next sample ``y_t = p_t + decode(e_t)``, kept within the
pre-emphasised signal's range ``|y| <= 1 + a``. Every Python sampler runs this same
loop (the compiled one runs its own copy of it), in float64.
"""

from __future__ import annotations

import torch
from torch import Tensor

from wavedil.models.generator import WaveNet

__all__ = ["SignalLoop"]


class SignalLoop:
    """Prediction and synthesis around the network's steps.

    Args:
        model: a generator with linear prediction.
        coefficients: ``(B, p, T)`` from :meth:`WaveNet.prediction_coefficients`.

    Example:
        >>> from wavedil.models import WaveNet
        >>> from wavedil.nn import LinearPrediction
        >>> lp = LinearPrediction(8000, 20, 256, 64, residual_channels=8, order=4)
        >>> net = WaveNet(8, 8, 8, dilations=[1, 2], local_channels=20, local_hop_length=64,
        ...               linear_prediction=lp)
        >>> loop = SignalLoop(net, net.prediction_coefficients(torch.zeros(1, 20, 2), 128))
        >>> loop.side(0).tolist()  # y_{-1} and p_0: silence before the start
        [[0.0, 0.0]]
        >>> round(float(loop.draw(0, torch.tensor([128]))[0]), 6)  # mu-law code 128
        8.6e-05
    """

    def __init__(self, model: WaveNet, coefficients: Tensor) -> None:
        if model.linear_prediction is None:
            raise ValueError("Expected a generator with linear prediction.")
        self.lp = model.linear_prediction
        self.coefficients = coefficients  # (B, p, T) float64
        batch, order, length = coefficients.shape
        self.history = torch.zeros(batch, order, dtype=torch.float64,
                                   device=coefficients.device)  # y_{t-1} .. y_{t-p}
        self.signal = torch.empty(batch, length, dtype=torch.float64, device=coefficients.device)
        self.prediction = torch.zeros(batch, dtype=torch.float64, device=coefficients.device)
        self.bound = 1.0 + model.preemphasis

    def side(self, t: int) -> Tensor:
        """The side inputs of step ``t``, ``[y_{t-1}, p_t]`` (``(B, 2)`` float64)."""
        self.prediction = (self.coefficients[..., t] * self.history).sum(-1)  # (B,)
        return torch.stack([self.history[:, 0], self.prediction], dim=1)

    def draw(self, t: int, codes: Tensor) -> Tensor:
        """Sample ``t`` from the drawn excitation codes ``(B,)``: ``p_t + e_t``."""
        y = (self.prediction + self.lp.decode(codes)).clamp(-self.bound, self.bound)
        self._push(t, y)
        return y

    def force(self, t: int, y: Tensor) -> Tensor:
        """Take sample ``t`` as given (a prime); returns its excitation's codes ``(B,)``."""
        y = y.double()
        codes = self.lp.codes(y - self.prediction)
        self._push(t, y)
        return codes

    def _push(self, t: int, y: Tensor) -> None:
        self.signal[:, t] = y
        self.history = torch.cat([y[:, None], self.history[:, :-1]], dim=1)
