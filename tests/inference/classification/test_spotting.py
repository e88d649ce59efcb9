"""Keyword spotting: the streaming speech gate finds each word of a long recording
once, whatever the chunking and the level, and each word is labelled as its clip
would be."""

from __future__ import annotations

import pytest
import torch

from wavedil.data.functional import join_clips
from wavedil.data.io import load_audio
from wavedil.inference.classification.predict import classify_clips
from wavedil.inference.classification.spotting import Segment, SpeechGate, spot_keywords
from wavedil.models import WaveNetClassifier

RATE = 8000


def burst(seconds: float, seed: int) -> torch.Tensor:
    """A word stand-in: a tone with a noisy, rising and falling envelope."""
    n = round(seconds * RATE)
    g = torch.Generator().manual_seed(seed)
    envelope = torch.hann_window(n, periodic=False)
    return 0.3 * envelope * (torch.sin(torch.arange(n) * 0.2 * (1 + seed % 3))
                             + 0.3 * torch.randn(n, generator=g))


def words_and_spans(n: int = 6, seed: int = 0):
    clips = [burst(0.25 + 0.1 * (i % 4), seed + i) for i in range(n)]
    return join_clips(clips, RATE, pause=(0.35, 0.8), generator=torch.Generator().manual_seed(seed))


def overlaps(segment: Segment, span: tuple[int, int]) -> int:
    return max(0, min(segment.end, span[1]) - max(segment.start, span[0]))


def run(gate: SpeechGate, audio: torch.Tensor, chunk: int) -> list[Segment]:
    return [s for part in audio.split(chunk) for s in gate.push(part)] + gate.flush()


def assert_one_segment_per_word(segments: list[Segment], spans: list[tuple[int, int]]) -> None:
    assert len(segments) == len(spans)
    for segment, span in zip(segments, spans, strict=True):  # in order, each on its word
        assert overlaps(segment, span) >= 0.8 * (span[1] - span[0])
        assert segment.end - segment.start < (span[1] - span[0]) + 0.5 * RATE


def test_each_word_is_found_once_whatever_the_chunks():
    audio, spans = words_and_spans()
    found = {chunk: run(SpeechGate(RATE), audio, chunk) for chunk in (len(audio), 800, 37)}
    assert found[800] == found[len(audio)] == found[37]
    assert_one_segment_per_word(found[800], spans)
    assert all(b.start >= a.end for a, b in zip(found[800], found[800][1:]))  # no overlaps


def test_the_level_does_not_matter_and_the_floor_follows_the_background():
    audio, spans = words_and_spans(n=10, seed=3)
    assert_one_segment_per_word(run(SpeechGate(RATE), 0.02 * audio, 800), spans)
    # the background 20 dB louder after the third word: the gate first takes the step for
    # speech, then its floor rises to the new level and the later words are found again
    louder = audio.clone()
    middle = spans[2][1] + 100
    louder[middle:] += 0.01 * torch.randn(len(audio) - middle,
                                          generator=torch.Generator().manual_seed(1))
    segments = run(SpeechGate(RATE, floor_rise_db=20.0), louder, 800)
    settled = middle + 2 * RATE
    late = [span for span in spans if span[0] > settled]
    assert len(late) >= 3
    assert_one_segment_per_word([s for s in segments if s.start > settled - RATE // 10], late)


def test_short_pauses_join_short_clicks_drop_and_long_words_split():
    gap = torch.zeros(round(0.1 * RATE))  # shorter than min_silence: one word
    word = torch.cat([burst(0.2, 1), gap, burst(0.2, 2)])
    click = burst(0.03, 3)  # shorter than min_speech
    audio, spans = join_clips([word, click], RATE, pause=(0.5, 0.5))
    segments = run(SpeechGate(RATE), audio, 800)
    assert len(segments) == 1 and overlaps(segments[0], spans[0]) == spans[0][1] - spans[0][0]
    long_audio, _ = join_clips([burst(3.0, 4)], RATE, pause=(0.5, 0.5))
    pieces = run(SpeechGate(RATE, max_length=1.0), long_audio, 800)
    assert len(pieces) >= 2 and all(s.end - s.start <= RATE for s in pieces)


def test_a_word_running_to_the_end_of_the_stream_closes_at_flush():
    audio = torch.cat([torch.zeros(RATE // 2), burst(0.4, 0)])
    gate = SpeechGate(RATE)
    assert gate.push(audio) == []
    assert gate.open_since is not None
    (segment,) = gate.flush()
    assert segment.end == len(audio)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="min_silence"):
        SpeechGate(RATE, min_silence=-1)
    with pytest.raises(ValueError, match="sample_rate"):
        SpeechGate(0)


def spotting_model() -> WaveNetClassifier:
    torch.manual_seed(0)
    return WaveNetClassifier(10, None, 8, 8, 8, dilations=[1, 2, 4, 8]).eval()


@pytest.mark.parametrize("chunk", [800, 123])
def test_fsdd_digits_read_in_a_row_are_found_and_labelled_as_their_clips(fsdd_root, chunk):
    names = [f"{d}_george_{i}.wav" for d, i in zip(range(10), (3, 7, 11, 15, 19, 23, 27, 31,
                                                               35, 39), strict=True)]
    clips = [load_audio(fsdd_root / "recordings" / n, RATE) for n in names]
    audio, spans = join_clips(clips, RATE, generator=torch.Generator().manual_seed(0))
    model = spotting_model()
    words = list(spot_keywords(model, audio.split(chunk), RATE, [str(d) for d in range(10)]))
    segments = [Segment(round(w.start * RATE), round(w.end * RATE)) for w in words]
    assert len(words) == len(spans)
    for segment, span in zip(segments, spans, strict=True):
        assert overlaps(segment, span) >= 0.5 * (span[1] - span[0])
    # each word labelled as its audio alone is classified
    alone = classify_clips(model, [audio[s.start:s.end] for s in segments])
    assert [w.index for w in words] == alone.tolist()
    assert all(abs(float(w.probabilities.sum()) - 1) < 1e-5 for w in words)


def test_spotted_digits_of_an_unseen_speaker_are_recognised(fsdd_root, digit_classifier):
    # a classifier that has learnt digits (without george) hears 30 of george's digits read
    # in a row: every word is found, and most are labelled right (chance: 10%)
    names = [f"{d}_george_{i}.wav" for i in (2, 21, 44) for d in range(10)]
    clips = [load_audio(fsdd_root / "recordings" / n, RATE) for n in names]
    audio, spans = join_clips(clips, RATE, generator=torch.Generator().manual_seed(1))
    words = list(spot_keywords(digit_classifier, audio.split(800), RATE,
                               [str(d) for d in range(10)]))
    assert len(words) == len(spans)
    truth = [int(n.split("_")[0]) for n in names]
    right = sum(w.index == t for w, t in zip(words, truth, strict=True))
    assert right / len(truth) >= 0.5, f"{right} of {len(truth)}"
    # mostly as the clips alone are (the gate adds pre- and post-roll and background noise)
    alone = classify_clips(digit_classifier, clips).tolist()
    assert sum(w.index == a for w, a in zip(words, alone, strict=True)) >= 0.6 * len(words)
