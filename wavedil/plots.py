"""PNG pictures: waveforms with spectrograms, training curves, confusion matrices,
receptive fields per layer.

Matplotlib is driven through its non-interactive Agg backend; every function
writes one PNG and returns its path.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.mlab
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

__all__ = ["plot_confusion_matrix", "plot_curves", "plot_layer_fields", "plot_predictions",
           "plot_spectrogram_grid", "plot_spotted_words", "plot_waveform"]


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_waveform(audio: Tensor, sample_rate: int, path: str | os.PathLike,
                  title: str = "") -> Path:
    """Waveform (top) and log-power spectrogram (bottom) of a ``(T,)`` clip."""
    x = audio.detach().cpu().float().numpy()
    t = np.arange(len(x)) / sample_rate
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    top.plot(t, x, linewidth=0.5)
    top.set_ylabel("amplitude")
    top.set_ylim(-1.05, 1.05)
    top.set_title(title)
    nfft = min(256, max(16, len(x) // 4))
    bottom.specgram(x + 1e-9, NFFT=nfft, Fs=sample_rate, noverlap=nfft * 3 // 4, cmap="magma")
    bottom.set_ylabel("Hz")
    bottom.set_xlabel("seconds")
    return _save(fig, path)


def plot_spotted_words(audio: Tensor, sample_rate: int,
                       words: Sequence[tuple[float, float, str]], path: str | os.PathLike,
                       truth: Sequence[str] | None = None, title: str = "") -> Path:
    """A long recording's waveform with each spotted word ``(start s, end s, label)``
    shaded and labelled; with ``truth`` (a label per word), right ones green, wrong
    ones red."""
    x = audio.detach().cpu().float().numpy()
    seconds = len(x) / sample_rate
    fig, ax = plt.subplots(figsize=(min(4 + 0.9 * seconds, 40), 3))
    ax.plot(np.arange(len(x)) / sample_rate, x, linewidth=0.4, color="0.3")
    top = float(np.abs(x).max()) or 1.0
    for i, (start, end, label) in enumerate(words):
        right = truth is None or truth[i] == label
        ax.axvspan(start, end, color="tab:green" if right else "tab:red", alpha=0.25)
        ax.text((start + end) / 2, 1.05 * top, label if right else f"{label} ({truth[i]})",
                ha="center", va="bottom", fontsize=8)
    ax.set_xlim(0, seconds)
    ax.set_ylim(-1.1 * top, 1.3 * top)
    ax.set_xlabel("seconds")
    ax.set_title(title)
    return _save(fig, path)


def plot_spectrogram_grid(clips: Sequence[Sequence[Tensor]], sample_rate: int,
                          path: str | os.PathLike, rows: Sequence[str] = (),
                          columns: Sequence[str] = (), title: str = "",
                          floor_db: float = 80.0, panel_width: float = 1.3) -> Path:
    """Spectrograms of ``clips[row][column]`` (each ``(T,)``) in a grid, labelled by
    ``rows`` and ``columns``: the same words side by side in several voices, say;
    ``panel_width`` inches per column.

    Every panel shares the time axis and one colour scale: dB below the loudest
    time-frequency bin of its clip, down to ``floor_db`` (digital silence shows as
    the floor instead of upsetting the scale)."""
    n_rows, n_cols = len(clips), max(len(r) for r in clips)
    longest = max(len(c) for r in clips for c in r) / sample_rate
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(panel_width * n_cols + 1.5,
                                                             1.1 * n_rows + 0.7),
                             sharex=True, sharey=True, squeeze=False,
                             layout="constrained")  # room for the colour bar beside the grid
    shown = None
    for i, row in enumerate(clips):
        for j in range(n_cols):
            ax = axes[i, j]
            if j < len(row) and len(row[j]) > 1:
                x = row[j].detach().cpu().double().numpy()
                nfft = min(256, max(16, len(x) // 4))
                power, _, _ = matplotlib.mlab.specgram(
                    x, NFFT=nfft, Fs=sample_rate, noverlap=nfft * 3 // 4)
                db = 10 * np.log10(np.maximum(power / max(power.max(), 1e-30), 1e-30))
                shown = ax.imshow(np.maximum(db, -floor_db), origin="lower", aspect="auto",
                                  cmap="magma", vmin=-floor_db, vmax=0,
                                  extent=(0, len(x) / sample_rate, 0, sample_rate / 2))
            ax.set_xlim(0, longest)
            ax.tick_params(labelsize=6)
            if i == 0 and j < len(columns):
                ax.set_title(columns[j], fontsize=8)
            if j == 0 and i < len(rows):
                ax.set_ylabel(rows[i], fontsize=6, rotation=0, ha="right", va="center")
    fig.supxlabel("seconds", fontsize=8)
    fig.suptitle(title, fontsize=9)
    if shown is not None:
        fig.colorbar(shown, ax=axes, label="dB below the clip's peak", pad=0.01, shrink=0.8)
    return _save(fig, path)

def plot_curves(metrics_csv: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """Plot every ``train/*`` and ``val/*`` column of a Lightning CSVLogger file against
    step, one panel per metric name (loss, bits_per_sample, accuracy)."""
    with open(metrics_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    names = sorted({k.split("/", 1)[1] for k in rows[0] if k.startswith(("train/", "val/"))
                    and not k.endswith("_epoch")})
    names = [n.removesuffix("_step") for n in names]
    names = sorted(set(names))
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        for stage in ("train", "val"):
            for key in (f"{stage}/{name}", f"{stage}/{name}_step"):
                points = [(int(r["step"]), float(r[key])) for r in rows
                          if r.get(key) not in (None, "")]
                if points:
                    steps, values = zip(*points)
                    ax.plot(steps, values, marker="o" if stage == "val" else None,
                            markersize=3, label=stage)
                    break
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str],
                          path: str | os.PathLike, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) with counts."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in ticks:
        for j in ticks:
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_predictions(pairs: Tensor, class_names: Sequence[str], path: str | os.PathLike,
                     split: str) -> dict:
    """The confusion matrix of ``(N, 2)`` ``(label, prediction)`` pairs, titled with the
    ``split``'s accuracy; returns the :func:`~wavedil.metrics.classification.accuracy_report`."""
    from wavedil.metrics.classification import accuracy_report

    report = accuracy_report(pairs[:, 0].tolist(), pairs[:, 1].tolist(), class_names)
    plot_confusion_matrix(np.asarray(report["confusion"]), class_names, path,
                          f"{split}: accuracy {report['accuracy']:.2%}")
    return report


def plot_layer_fields(fields: Sequence, sample_rate: int | None, path: str | os.PathLike,
                      title: str = "") -> Path:
    """Which input samples each layer's output sees (from
    :func:`wavedil.receptive_field.layer_fields`).

    Left: one row per layer, the gradient magnitude of its middle output step with
    respect to every input step, log colour scale, x in samples (or ms) relative to
    that output step. Right: the field size per layer on a log axis, where a
    dilation schedule's exponential growth is a straight line.
    """
    names = [f.name for f in fields]
    rows = np.stack([f.influence.numpy() for f in fields])  # (layers, T)
    offsets = np.arange(rows.shape[1]) - fields[-1].position
    aligned = np.stack([np.roll(r, fields[-1].position - f.position)
                        for r, f in zip(rows, fields)])
    scale = 1000.0 / sample_rate if sample_rate else 1.0
    unit = "ms" if sample_rate else "samples"
    reach = max(max(f.extent.past, f.extent.future) for f in fields)
    pad = max(8, reach // 10)
    keep = (offsets >= -reach - pad) & (offsets <= reach + pad)
    image = np.log10(np.maximum(aligned[:, keep], 1e-8))

    height = max(3.0, 0.28 * len(fields) + 1.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, height), sharey=True,
                                      gridspec_kw={"width_ratios": [3, 1]})
    extent = (offsets[keep][0] * scale, offsets[keep][-1] * scale, len(fields) - 0.5, -0.5)
    shown = left.imshow(image, aspect="auto", cmap="viridis", vmin=-8, vmax=0,
                        extent=extent, interpolation="nearest")
    left.axvline(0.0, color="white", linewidth=0.6, linestyle="--")
    left.set_yticks(range(len(fields)), names, fontsize=7)
    left.set_xlabel(f"input offset from the output step ({unit})")
    left.set_title(title or "gradient of each layer's output w.r.t. the input")
    fig.colorbar(shown, ax=left, label="log10 |gradient| (row max = 0)", pad=0.01)
    sizes = [f.extent.size * scale for f in fields]
    right.barh(range(len(fields)), sizes, color="tab:blue")
    right.set_xscale("log")
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel(f"receptive field ({unit})")
    for i, f in enumerate(fields):
        right.text(sizes[i], i, f" {f.extent.size}", va="center", fontsize=6)
    return _save(fig, path)
