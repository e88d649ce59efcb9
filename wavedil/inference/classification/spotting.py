"""Keyword spotting: find the words in a long recording as it arrives, and label each.

Shape legend: T samples, K classes.

A clip classifier (trained on one word per clip, as FSDD's digits are) labels
whole words; a recording holds many, with pauses between. :class:`SpeechGate`
finds the words chunk by chunk with an energy detector that needs no look-ahead:

* the level of each 10 ms frame, ``10 log10(mean x^2)`` in dB;
* a noise floor that follows the quietest frames: it drops to any quieter frame at
  once and creeps up by ``floor_rise_db`` per second otherwise (minimum tracking),
  so a change of microphone gain or background level is followed within seconds;
* a frame is speech when it is ``margin_db`` above the floor. A word opens at its
  first speech frame (with ``pre_roll`` seconds before it, the soft onset the
  detector misses) and closes after ``min_silence`` seconds without speech (the
  closure in "six" or "eight" is shorter), keeping ``post_roll`` seconds after its
  last speech frame; shorter than ``min_speech``: a click, dropped. A word still
  open after ``max_length`` seconds is closed there.

:func:`spot_keywords` buffers each word's audio (at most ``max_length`` seconds)
and classifies it when it closes, so any classifier spots: an ensemble, speed
averaging or a spectral front end that looks ahead. The verdict on a word comes
``min_silence`` seconds after the word ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from wavedil.nn.checks import check_positive_int

__all__ = ["Heard", "Segment", "SpeechGate", "Word", "spot_keywords"]


class Segment(NamedTuple):
    """A stretch of speech, in samples from the start of the stream (end exclusive)."""

    start: int
    end: int


class Word(NamedTuple):
    """A word found and labelled by :func:`spot_keywords` (times in seconds).

    Attributes:
        start: where the word's audio begins (pre-roll included).
        end: where it ends (post-roll included).
        index: the predicted class id.
        label: its name.
        probability: its softmax probability.
        probabilities: all ``(K,)`` probabilities.
    """

    start: float
    end: float
    index: int
    label: str
    probability: float
    probabilities: Tensor


class Heard(NamedTuple):
    """With ``stream=True``: a streaming classifier's verdict on the open word so far.

    Attributes:
        time: seconds of the stream heard.
        word_start: where the open word began.
        index, label, probability: the verdict on the word's audio up to ``time``.
    """

    time: float
    word_start: float
    index: int
    label: str
    probability: float


def _check_at_least(name: str, value: float, minimum: float = 0.0, unit: str = "seconds"
                    ) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= minimum):
        raise ValueError(f"Expected {name} >= {minimum} {unit}, but found {value!r}.")
    return float(value)


class SpeechGate:
    """Streaming speech detector: push chunks, get back the segments that closed.

    Args:
        sample_rate: samples per second of the stream.
        margin_db: how far above the noise floor a frame must be to count as speech.
        min_silence: seconds without speech that close a segment.
        pre_roll: seconds kept before a segment's first speech frame.
        post_roll: seconds kept after its last speech frame.
        min_speech: segments with less speech than this are dropped (clicks).
        max_length: a segment open this long is closed (bounds the buffered audio).
        floor_rise_db: how fast the noise floor creeps up, in dB per second.
        frame: seconds per analysis frame.

    Example:
        >>> gate = SpeechGate(8000)
        >>> word = torch.sin(torch.arange(4000) * 0.3)        # 0.5 s of "speech"
        >>> quiet = torch.zeros(8000)
        >>> gate.push(torch.cat([quiet, word, quiet]))
        [Segment(start=7200, end=12800)]
    """

    def __init__(self, sample_rate: int, margin_db: float = 6.0, min_silence: float = 0.2,
                 pre_roll: float = 0.1, post_roll: float = 0.1, min_speech: float = 0.1,
                 max_length: float = 4.0, floor_rise_db: float = 3.0,
                 frame: float = 0.01) -> None:
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.margin_db = _check_at_least("margin_db", margin_db, unit="dB")
        self.frame = max(1, round(_check_at_least("frame", frame) * sample_rate))
        per_frame = self.frame / sample_rate
        self.min_silence = math.ceil(_check_at_least("min_silence", min_silence) / per_frame)
        self.pre_roll = round(_check_at_least("pre_roll", pre_roll) * sample_rate)
        self.post_roll = round(_check_at_least("post_roll", post_roll) * sample_rate)
        self.min_speech = round(_check_at_least("min_speech", min_speech) * sample_rate)
        self.max_length = round(_check_at_least("max_length", max_length, minimum=per_frame)
                                * sample_rate)
        self.floor_rise = _check_at_least("floor_rise_db", floor_rise_db, unit="dB/s") * per_frame
        self._pending = torch.zeros(0)  # samples not yet making a whole frame
        self.samples = 0  # samples analysed (whole frames)
        self.floor: float | None = None
        self._open: int | None = None  # where the open segment starts (pre-roll included)
        self._first_speech = self._last_speech = 0  # sample bounds of its speech frames
        self._quiet_frames = 0
        self._closed_at = 0  # a new segment starts after the last one ended

    @property
    def open_since(self) -> int | None:
        """Start of the segment now open (pre-roll included), or ``None``."""
        return self._open

    def push(self, chunk: Tensor) -> list[Segment]:
        """Analyse the next ``(n,)`` samples; the segments that closed within them."""
        audio = torch.cat([self._pending, chunk.detach().float().cpu().reshape(-1)])
        whole = audio.shape[0] // self.frame * self.frame
        self._pending = audio[whole:]
        if whole == 0:
            return []
        power = audio[:whole].view(-1, self.frame).square().mean(-1)
        levels = (10 * torch.log10(power + 1e-10)).tolist()
        closed = []
        for level in levels:
            start, self.samples = self.samples, self.samples + self.frame
            self.floor = level if self.floor is None else min(level, self.floor + self.floor_rise)
            if level > self.floor + self.margin_db:
                if self._open is None:
                    self._open = max(start - self.pre_roll, self._closed_at)
                    self._first_speech = start
                self._last_speech, self._quiet_frames = self.samples, 0
            elif self._open is not None:
                self._quiet_frames += 1
            if self._open is not None and (self._quiet_frames >= self.min_silence
                                           or self.samples - self._open >= self.max_length):
                closed += self._close()
        return closed

    def flush(self) -> list[Segment]:
        """End of stream: the segment still open, if any, closes at the last sample."""
        if self._pending.numel():
            self.samples += self._pending.shape[0]
            self._pending = torch.zeros(0)
        return self._close() if self._open is not None else []

    def _close(self) -> list[Segment]:
        assert self._open is not None
        end = min(self._last_speech + self.post_roll, self.samples)
        segment = Segment(self._open, end)
        speech = self._last_speech - self._first_speech
        self._open, self._quiet_frames, self._closed_at = None, 0, end
        return [segment] if speech >= self.min_speech else []


@torch.inference_mode()
def spot_keywords(
    model: nn.Module,
    chunks: Iterable[Tensor],
    sample_rate: int,
    class_names: Sequence[str],
    gate: SpeechGate | None = None,
    device: torch.device | str = "cpu",
    stream: bool = False,
) -> Iterator[Word | Heard]:
    """Find and label the words in a stream of ``(n,)`` audio chunks at ``sample_rate``.

    Each word is yielded as soon as it closes (see :class:`SpeechGate`); its audio is
    classified alone by ``model`` (``(1, T) -> (1, K)`` logits), as a clip would be.
    With ``stream``, a causal :class:`~wavedil.models.WaveNetClassifier` also hears
    each word as it arrives (its state started afresh at the word's start) and a
    :class:`Heard` verdict follows every chunk while a word is open. The stream's
    audio is held only back to the open word's start.

    Raises:
        ValueError: ``stream`` with a classifier that cannot stream (see
            :meth:`~wavedil.models.WaveNetClassifier.init_state`).
    """
    model.eval()
    gate = gate or SpeechGate(sample_rate)
    kept, kept_from = torch.zeros(0), 0  # audio from sample kept_from on
    if stream:
        model.init_state(1, device)  # refuses a classifier that cannot stream, up front
    state, word, fed = None, -1, 0  # the open word's streaming state, start, samples fed

    def verdict(logits: Tensor) -> tuple[int, str, float, Tensor]:
        probs = logits.softmax(-1)[0].cpu()  # (K,)
        k = int(probs.argmax())
        return k, class_names[k], float(probs[k]), probs

    def label(segment: Segment) -> Word:
        clip = kept[segment.start - kept_from:segment.end - kept_from]
        k, name, p, probs = verdict(model(clip[None].to(device)))
        return Word(segment.start / sample_rate, segment.end / sample_rate, k, name, p, probs)

    def hear() -> Heard | None:  # feed the open word's new audio to its streaming state
        nonlocal state, word, fed
        start = gate.open_since
        if start is None:
            return None
        if start != word:  # a new word: its state starts afresh
            state, word, fed = model.init_state(1, device), start, start
        upto = kept_from + kept.shape[0]
        if upto <= fed:
            return None
        logits, state = model.step(kept[None, fed - kept_from:upto - kept_from].to(device),
                                   state)
        fed = upto
        k, name, p, _ = verdict(logits)
        return Heard(upto / sample_rate, start / sample_rate, k, name, p)

    def forget() -> None:  # drop audio no segment can still reach back to
        nonlocal kept, kept_from
        keep_from = gate.open_since
        if keep_from is None:
            keep_from = max(gate.samples - gate.pre_roll, 0)
        kept, kept_from = kept[keep_from - kept_from:], keep_from

    for chunk in chunks:
        kept = torch.cat([kept, chunk.detach().float().cpu().reshape(-1)])
        for segment in gate.push(chunk):
            yield label(segment)
        if stream and (heard := hear()) is not None:
            yield heard
        forget()
    for segment in gate.flush():
        yield label(segment)
