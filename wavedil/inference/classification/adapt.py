"""Unsupervised adaptation of a classifier to a new speaker or microphone, from
unlabelled recordings of it.

Shape legend: B batch, T samples, K classes.

A classifier trained on a few voices meets a new one with its decision
boundaries shifted: on FSDD, a held-out speaker's recordings of one digit often
land, all of them, on another digit. Information maximisation (Liang et al.,
2020, "Do we really need to access the source data?", the SHOT objective
without pseudo-labels) fine-tunes the whole network on the new recordings alone
so that each prediction is confident (low entropy per clip) while the
predictions over all the recordings stay spread over the classes (high entropy
of their mean, weighted by ``diversity``). The second term assumes the
recordings cover the classes roughly evenly, as a speaker reading each label a
few times does; on a skewed set it pulls predictions toward a spread that is not
there. Measurements on FSDD, skewed sets included, are in
docs/experiments/fsdd.md ("Adapting to a new speaker").

The network runs in eval mode throughout (no dropout, no SpecAugment, no
waveform augmentation): the objective is built from its own predictions, and
noise in them would only blur it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from wavedil.data.functional import pad_batch
from wavedil.nn.checks import check_positive_int

__all__ = ["adapt", "information_maximization"]


def information_maximization(logits: Tensor, diversity: float = 1.0) -> Tensor:
    """Mean per-clip entropy minus ``diversity`` times the entropy of the mean
    prediction (nats).

    ``(B, K) -> ()``, in ``[-diversity * log K, log K]``. The minimum is reached
    by confident predictions spread evenly over the ``K`` classes, while confident
    predictions that all name one class score 0, and so does an undecided
    (uniform) prediction when ``diversity`` is 1.

    Example:
        >>> confident = torch.eye(4) * 50   # each clip sure of a different class
        >>> round(information_maximization(confident).item(), 4) == round(-math.log(4), 4)
        True
        >>> information_maximization(torch.zeros(4, 4)).abs().item() < 1e-6   # undecided
        True
    """
    log_p = logits.log_softmax(-1)  # (B, K)
    p = log_p.exp()
    per_clip = -(p * log_p).sum(-1).mean()
    mean = p.mean(0)  # (K,)
    spread = -(mean * mean.clamp_min(1e-12).log()).sum()
    return per_clip - diversity * spread


def adapt(
    model: nn.Module,
    clips: Sequence[Tensor],
    epochs: int = 16,
    lr: float = 3e-4,
    batch_size: int = 64,
    diversity: float = 3.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[float]:
    """Fine-tune ``model`` in place on unlabelled ``clips`` by information maximisation.

    Args:
        model: a classifier mapping ``(B, T), lengths (B,) -> (B, K)`` logits.
        clips: ``(T,)`` waveforms at the model's rate, of any lengths.
        epochs: passes over the clips.
        lr: Adam's step size (all parameters are adapted).
        batch_size: clips per step; the spread term is measured per batch, so a
            batch should hold several clips of every class (64 for 10 classes).
        diversity: weight of the spread term (1 is plain information
            maximisation). Larger trusts the even coverage of the classes more:
            on FSDD's held-out speakers 3 did better than 1, 1.5 or 2.
        generator: seeds the order of the clips.
        device: where the model runs.
        progress: show a progress bar.

    Returns:
        The objective averaged over each epoch's batches, one value per epoch.

    Raises:
        ValueError: fewer than two clips, ``batch_size`` below 2, non-positive
            ``epochs`` / ``lr``, or negative ``diversity``.
        FloatingPointError: the objective stopped being finite.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size, minimum=2)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"Expected a positive, finite lr, but found {lr!r}.")
    if not (isinstance(diversity, (int, float)) and math.isfinite(diversity) and diversity >= 0):
        raise ValueError(f"Expected a finite diversity >= 0, but found {diversity!r}.")
    if len(clips) < 2:
        raise ValueError(f"Expected at least 2 clips to adapt on, but found {len(clips)}.")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    model.eval()
    history: list[float] = []
    steps = epochs * math.ceil(len(clips) / batch_size)
    with tqdm(total=steps, desc="adapting", unit="step", disable=not progress,
              leave=False) as bar:
        for _ in range(epochs):
            order = torch.randperm(len(clips), generator=generator)
            losses = []
            for batch in order.split(batch_size):
                if len(batch) < 2:  # a lone last clip has no spread to keep
                    bar.update()
                    continue
                audio, lengths = pad_batch([clips[int(i)] for i in batch])  # (B, T), (B,)
                logits = model(audio.to(device), lengths.to(device))  # (B, K)
                loss = information_maximization(logits, diversity)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"The adaptation objective became {loss.item()}; expected a finite "
                        "value (try a smaller lr). The model was left part-way adapted.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                bar.update()
                bar.set_postfix(objective=f"{loss.item():.3f}")
            history.append(sum(losses) / len(losses))
    model.eval()
    return history
