"""Vocoding: log-mel frames in, a waveform out, with a trained generator or with
Griffin-Lim (the classical baseline that the neural vocoder has to beat).

Shape legend: B batch, F mel bands, N frames, T samples.

:func:`resynthesize` generates many clips of different lengths in batches: clips
are sorted by length, each batch's frames are padded with silence to its longest
clip, every stream is generated to that length, and each is cut back to its own.
Sorting keeps the padding (work thrown away) small.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torchaudio
from torch import Tensor

from wavedil.data.features import check_mel_settings, mel_extractor, pad_frames
from wavedil.data.functional import resample, to_mono
from wavedil.data.io import AudioError, read_audio
from wavedil.inference.generation.sampler import generate
from wavedil.models.generator import WaveNet
from wavedil.models.parallel import ParallelWaveNet
from wavedil.nn.checks import check_positive_int

__all__ = [
    "SILENCE_PEAK",
    "LoadedVocoder",
    "Resynthesis",
    "check_vocoder",
    "decode_for_vocoder",
    "griffin_lim",
    "load_vocoder",
    "mel_frames",
    "resynthesize",
]

#: Silent frames after each clip's own: the upsampler's convs reach this far.
_EDGE_FRAMES = 2

#: A clip whose loudest sample stays below this (about -80 dBFS) is silent.
SILENCE_PEAK = 1e-4


class Resynthesis(NamedTuple):
    """What :func:`resynthesize` returns.

    Attributes:
        audio: one ``(T_i,)`` clip per input, in input order.
        seconds: wall time of generation.
        samples: samples generated, padding included (``sum T_i`` without it).
        methods: the sampling method that ran for each batch (``"auto"`` resolved).
    """

    audio: list[Tensor]
    seconds: float
    samples: int
    methods: tuple[str, ...] = ()


def check_vocoder(model: WaveNet | ParallelWaveNet, settings: Mapping[str, Any] | None
                  ) -> dict[str, Any]:
    """The mel settings of a locally conditioned generator, checked against the model.

    Raises:
        ValueError: the model has no local conditioning, or records no mel settings,
            or its settings do not match its layers.
    """
    if model.local_upsampler is None:
        raise ValueError("Expected a vocoder (a generator with local mel conditioning), but "
                         "this generator has none (it was trained with data.local_features=null).")
    if not settings:
        raise ValueError("This generator is conditioned on mel frames, but its checkpoint does "
                         "not record the mel settings (data.local_features).")
    settings = check_mel_settings(settings)
    if (settings["n_mels"], settings["hop_length"]) != (
            model.local_channels, model.local_upsampler.hop_length):
        raise ValueError(
            f"Expected mel settings of {model.local_channels} bands and a hop of "
            f"{model.local_upsampler.hop_length} (the model's), but found {settings}.")
    return settings


class LoadedVocoder(NamedTuple):
    """What :func:`load_vocoder` returns: the model, its data info and mel settings."""

    model: WaveNet
    info: Any
    settings: dict[str, Any]


def load_vocoder(path: str | Path, map_location: Any = "cpu") -> LoadedVocoder:
    """A vocoder checkpoint: a generator with mel conditioning and its mel settings.

    Raises:
        FileNotFoundError, CheckpointError: a missing or unusable checkpoint.
        ValueError: naming the checkpoint, when it is not a vocoder.
    """
    from wavedil.checkpoint import load_model

    loaded = load_model(path, kind="generator", map_location=map_location)
    try:
        settings = check_vocoder(loaded.model, loaded.info.local_features)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return LoadedVocoder(loaded.model, loaded.info, settings)


def decode_for_vocoder(path: Path, sample_rate: int, allow_resample: bool) -> torch.Tensor:
    """``(T,)`` mono audio of ``path`` at ``sample_rate``, refused when it is silent or
    at another rate (unless ``allow_resample``).

    Raises:
        FileNotFoundError, AudioError: naming the file and what was expected.
    """
    audio, rate = read_audio(path)  # (C, T)
    mono = to_mono(audio)
    if rate != sample_rate:
        if not allow_resample:
            raise AudioError(f"{path} is at {rate} Hz; this vocoder expects {sample_rate} Hz "
                             "(allow resampling to convert it: --resample in the CLIs).")
        mono = resample(mono, rate, sample_rate)
    peak = float(mono.abs().max())
    if peak < SILENCE_PEAK:
        raise AudioError(f"{path} is silent (peak amplitude {peak:.1e}); expected audio with "
                         "something to resynthesise.")
    return mono


def mel_frames(audio: Tensor, sample_rate: int, settings: Mapping[str, Any]) -> Tensor:
    """``(T,)`` audio -> ``(F, T // hop + 1)`` log-mel frames, as training computed them."""
    with torch.no_grad():
        return mel_extractor(sample_rate, settings)(audio.unsqueeze(0)).features[0]


def griffin_lim(frames: Tensor, sample_rate: int, settings: Mapping[str, Any],
                length: int | None = None, n_iter: int = 64, seed: int | None = 0) -> Tensor:
    """Audio from log-mel frames by Griffin-Lim: mel power back to a linear
    magnitude spectrogram (torchaudio's least-squares ``InverseMelScale``), then
    fast Griffin-Lim phase recovery (momentum 0.99).

    Shape:
        ``(F, N) -> (T,)`` or ``(B, F, N) -> (B, T)``; ``T = length`` if given.
    """
    settings = check_mel_settings(settings)
    n_fft, hop = settings["n_fft"], settings["hop_length"]
    inverse = torchaudio.transforms.InverseMelScale(
        n_fft // 2 + 1, settings["n_mels"], sample_rate, settings.get("f_min", 0.0),
        settings.get("f_max"), driver="gelsd").double()
    power = inverse(frames.double().exp()).clamp(min=0)  # (..., n_fft // 2 + 1, N)
    generator_state = None
    if seed is not None:  # GriffinLim draws its initial phases from the global generator
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    try:
        audio = torchaudio.transforms.GriffinLim(
            n_fft, n_iter=n_iter, hop_length=hop, power=1.0, length=length,
        ).double()(power.sqrt())
    finally:
        if generator_state is not None:
            torch.random.set_rng_state(generator_state)
    return audio.float().clamp(-1.0, 1.0)


def resynthesize(
    model: WaveNet | ParallelWaveNet,
    frames: Sequence[Tensor],
    lengths: Sequence[int],
    batch_size: int = 16,
    *,
    temperature: float = 1.0,
    seed: int = 0,
    method: str = "fast",
    on_progress: Callable[[int], None] | None = None,
) -> Resynthesis:
    """Generate one clip per conditioning sequence, batched across clips.

    Args:
        model: a locally conditioned generator.
        frames: ``(F, N_i)`` log-mel frames per clip.
        lengths: samples to generate per clip (at most ``N_i * hop``).
        batch_size: clips generated together.
        temperature: sampling temperature (see :func:`~wavedil.inference.generate`).
        seed: batch ``j`` (in length order) samples with ``seed + j``: the same inputs,
            batch size and seed give the same audio.
        method: a method of :func:`~wavedil.inference.generate` (``"fast"``, ``"compiled"``,
            ...); a :class:`~wavedil.models.ParallelWaveNet` makes each batch in one
            forward pass instead (its noise from the batch's seed; method ``"parallel"``).
        on_progress: called with the samples generated so far, padding included.

    Returns:
        :class:`Resynthesis`, clips in input order.
    """
    check_positive_int("batch_size", batch_size)
    if len(frames) != len(lengths):
        raise ValueError(f"Expected one length per clip, but found {len(lengths)} lengths for "
                         f"{len(frames)} clips.")
    if model.local_upsampler is None:
        check_vocoder(model, None)
    hop = model.local_upsampler.hop_length
    for i, (f, n) in enumerate(zip(frames, lengths, strict=True)):
        if f.dim() != 2 or f.shape[0] != model.local_channels:
            raise ValueError(f"Expected frames of shape ({model.local_channels}, N) for clip {i}, "
                             f"but found {tuple(f.shape)}.")
        if not torch.isfinite(f).all():
            raise ValueError(f"Expected finite mel frames for clip {i}, but found NaN or Inf.")
        if n < 1 or n > f.shape[-1] * hop:
            raise ValueError(f"Expected 1 to {f.shape[-1] * hop} samples for clip {i} "
                             f"({f.shape[-1]} frames of {hop}), but found {n}.")
    order = sorted(range(len(frames)), key=lambda i: -lengths[i])
    out: list[Tensor | None] = [None] * len(frames)
    done, seconds, methods = 0, 0.0, []
    for j, start in enumerate(range(0, len(order), batch_size)):
        chunk = order[start:start + batch_size]
        longest = lengths[chunk[0]]
        # every clip's own frames, then silence (as training pads crops past a clip's
        # end), at least _EDGE_FRAMES of it, so that a clip ends the same way alone
        # or beside longer ones
        n_frames = max(frames[i].shape[-1] for i in chunk) + _EDGE_FRAMES
        local = torch.stack([pad_frames(frames[i], n_frames) for i in chunk])  # (B, F, N)

        def report(steps: int, base: int = done, width: int = len(chunk)) -> None:
            if on_progress is not None:
                on_progress(base + steps * width)

        begin = time.perf_counter()
        if isinstance(model, ParallelWaveNet):  # one forward pass from noise
            audio, ran = _parallel(model, local, seed + j), "parallel"
            report(longest)
        else:
            result = generate(model, longest, len(chunk), method=method,
                              temperature=temperature, seed=seed + j, local_cond=local,
                              on_progress=report)
            audio, ran = result.audio, result.method
        seconds += time.perf_counter() - begin
        methods.append(ran)
        done += longest * len(chunk)
        for row, i in enumerate(chunk):
            out[i] = audio[row, :lengths[i]].cpu()
    return Resynthesis([a for a in out if a is not None], seconds, done, tuple(methods))


@torch.inference_mode()
def _parallel(model: ParallelWaveNet, local: Tensor, seed: int) -> Tensor:
    """A parallel vocoder's audio ``(B, N * hop)`` for frames ``(B, F, N)``, its noise
    drawn from ``seed``, through its synthesis high-pass, in [-1, 1]."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    # chunks of about 2^18 samples per stream bound the activations' memory
    chunk = max(1, (1 << 18) // model.hop_length)
    audio = model.synthesize(local.to(device), generator=generator, chunk_frames=chunk)
    return model.filter_output(audio.double()).clamp(-1.0, 1.0).float()
