"""Scoring a vocoder: its resynthesis of held-out speech against the originals, next to
Griffin-Lim from the same frames (spectral distances, pitch, PESQ and STOI, and a
classifier's accuracy).

Shape legend: T samples.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from wavedil.data.features import check_mel_settings
from wavedil.inference.vocoding.synthesis import griffin_lim, mel_frames, resynthesize
from wavedil.models.generator import WaveNet

__all__ = ["METHODS_SCORED", "VocoderClip", "evaluate_vocoder", "perceptual_scores",
           "score_clip", "select_clips"]


def select_clips(paths: Sequence[Path], pattern: str, speakers: Sequence[str] | None,
                 limit: int | None) -> list[tuple[Path, str | None]]:
    """``(file, label name)`` for the inputs: filtered by speaker (from ``pattern``),
    evenly thinned to ``limit``. The label comes from ``pattern``'s ``label`` group,
    else the parent folder's name.

    Example:
        >>> from wavedil.data.sources import FSDD_PATTERN
        >>> select_clips([Path("a/7_bob_1.wav"), Path("a/3_eve_2.wav")], FSDD_PATTERN,
        ...              ["bob"], None)
        [(PosixPath('a/7_bob_1.wav'), '7')]
    """
    regex = re.compile(pattern)
    chosen = []
    for path in paths:
        match = regex.fullmatch(path.stem)
        groups = match.groupdict() if match else {}
        if speakers and groups.get("speaker") not in set(speakers):
            continue
        chosen.append((path, groups.get("label") or (path.parent.name or None)))
    if speakers and not chosen:
        raise ValueError(f"No input files of speakers {list(speakers)} (by the pattern "
                         f"{pattern!r}).")
    if limit is not None and len(chosen) > limit:
        step = len(chosen) / limit
        chosen = [chosen[int(i * step)] for i in range(limit)]
    return chosen


class VocoderClip(NamedTuple):
    """One clip to score: its name, ``(T,)`` audio and class index (or ``None``)."""

    name: str
    audio: Tensor
    label: int | None = None


METHODS_SCORED = ("vocoder", "griffin_lim")


def score_clip(reference: Tensor, test: Tensor, sample_rate: int,
               settings: Mapping[str, Any] | None = None,
               reference_pitch: Any = None) -> dict[str, float | None]:
    """Every per-clip quality measure of ``test`` against ``reference`` (see
    :mod:`wavedil.metrics`), on the analysis ``settings`` (default: the fixed
    :func:`~wavedil.metrics.analysis_settings` of the rate, whatever the vocoder's
    frames, so that vocoders with other frames are scored alike)."""
    from wavedil.metrics import (
        analysis_settings,
        f0_errors,
        log_mel_distance,
        mel_cepstral_distortion,
        pitch_track,
    )

    settings = settings or analysis_settings(sample_rate)
    hop = settings["hop_length"]
    if reference_pitch is None:
        reference_pitch = pitch_track(reference, sample_rate, hop)
    return {
        "mcd_db": round(mel_cepstral_distortion(reference, test, sample_rate, settings), 4),
        "log_mel_distance_db": round(log_mel_distance(reference, test, sample_rate, settings), 4),
        **f0_errors(reference_pitch, pitch_track(test, sample_rate, hop)),
    }


def perceptual_scores(references: Sequence[Tensor], tests: Sequence[Tensor],
                      sample_rate: int, seconds: float = 8.0) -> dict[str, Any]:
    """PESQ and STOI of ``tests`` against ``references``, on the clips joined into
    segments of about ``seconds`` (:func:`~wavedil.metrics.joined_segments`): the means
    over segments, and how many there were; ``None`` each without the ``pesq`` and
    ``pystoi`` packages (``pip install 'wavedil[quality]'``)."""
    from wavedil.metrics import joined_segments, perceptual_available, pesq_score, stoi_score

    if not perceptual_available() or not references:
        return {"pesq": None, "stoi": None, "perceptual_segments": 0}
    segments = joined_segments(references, tests, sample_rate, seconds)
    scores: dict[str, list[float]] = {"pesq": [], "stoi": []}
    for reference, test in segments:
        for name, score in (("pesq", pesq_score), ("stoi", stoi_score)):
            with contextlib.suppress(ValueError):  # a segment without speech: not scored
                scores[name].append(score(reference, test, sample_rate))
    return {**{k: round(sum(v) / len(v), 4) if v else None for k, v in scores.items()},
            "perceptual_segments": len(segments)}


def evaluate_vocoder(
    model: WaveNet,
    settings: Mapping[str, Any],
    sample_rate: int,
    clips: Sequence[VocoderClip],
    classifier: Any = None,
    *,
    batch_size: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
    griffin_lim_iters: int = 64,
    on_progress: Callable[[int], None] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Resynthesise ``clips`` with the vocoder and with Griffin-Lim from the same frames,
    and score both against the originals.

    Args:
        model: the vocoder.
        settings: its mel settings.
        sample_rate: its rate (the clips' rate).
        clips: the originals.
        classifier: a classifier ``(B, T), lengths -> (B, K)`` (e.g. from
            :func:`~wavedil.checkpoint.load_classifier`) whose accuracy on the
            originals and on each resynthesis measures intelligibility, or ``None``.
        batch_size, temperature, seed: of :func:`resynthesize`.
        griffin_lim_iters: Griffin-Lim iterations.
        on_progress: passed to :func:`resynthesize`.
        progress: a progress bar over the scoring.

    Returns:
        ``{"files": [per clip], "summary": {...}, "audio": {method: [clips]}}``:
        per clip the measures of each method; the summary holds their means, the
        accuracies (with ``relative_accuracy`` = method / originals), and timing.
    """
    from tqdm.auto import tqdm

    from wavedil.inference.classification.predict import classify_clips
    from wavedil.metrics import analysis_settings, pitch_track

    settings = check_mel_settings(settings)
    analysis = analysis_settings(sample_rate)
    frames = [mel_frames(c.audio, sample_rate, settings) for c in clips]
    lengths = [len(c.audio) for c in clips]
    vocoded = resynthesize(model, frames, lengths, batch_size, temperature=temperature,
                           seed=seed, on_progress=on_progress)
    begin = time.perf_counter()
    gl = [griffin_lim(f, sample_rate, settings, length=n, n_iter=griffin_lim_iters)
          for f, n in zip(frames, lengths, strict=True)]
    gl_seconds = time.perf_counter() - begin
    audio = {"vocoder": vocoded.audio, "griffin_lim": gl}

    rows: list[dict[str, Any]] = []
    for i, clip in enumerate(tqdm(clips, desc="scoring", unit="file", disable=not progress)):
        pitch = pitch_track(clip.audio, sample_rate, analysis["hop_length"])
        row: dict[str, Any] = {"file": clip.name, "samples": lengths[i]}
        for method in METHODS_SCORED:
            row[method] = score_clip(clip.audio, audio[method][i], sample_rate, analysis, pitch)
        rows.append(row)

    seconds = sum(lengths) / sample_rate
    summary: dict[str, Any] = {"files": len(clips), "audio_seconds": round(seconds, 3),
                               "analysis": analysis}
    for method in METHODS_SCORED:
        means = {}
        for key in rows[0][method] if rows else ():
            values = [r[method][key] for r in rows if r[method][key] is not None]
            means[key] = round(sum(values) / len(values), 4) if values else None
        summary[method] = means
        summary[method].update(perceptual_scores([c.audio for c in clips], audio[method],
                                                 sample_rate))
    summary["vocoder"]["real_time_factor"] = round(seconds / max(vocoded.seconds, 1e-9), 3)
    summary["vocoder"]["batch"] = batch_size
    summary["vocoder"]["temperature"] = temperature
    summary["griffin_lim"]["real_time_factor"] = round(seconds / max(gl_seconds, 1e-9), 3)
    summary["griffin_lim"]["iterations"] = griffin_lim_iters

    labelled = [i for i, c in enumerate(clips) if c.label is not None]
    if classifier is not None and labelled:
        truth = torch.tensor([clips[i].label for i in labelled])
        sources = {"original": [clips[i].audio for i in labelled],
                   **{m: [audio[m][i] for i in labelled] for m in METHODS_SCORED}}
        accuracy = {}
        for name, batch in sources.items():
            predicted = classify_clips(classifier, batch)
            accuracy[name] = round(float((predicted == truth).float().mean()), 4)
            for row_index, guess in zip(labelled, predicted.tolist(), strict=True):
                rows[row_index].setdefault("predicted", {})[name] = guess
        for i in labelled:
            rows[i]["label"] = clips[i].label
        summary["accuracy"] = accuracy
        summary["labelled_files"] = len(labelled)
        for method in METHODS_SCORED:
            base = accuracy["original"]
            summary[method]["relative_accuracy"] = (
                round(accuracy[method] / base, 4) if base > 0 else None)
    return {"files": rows, "summary": summary, "audio": audio}
