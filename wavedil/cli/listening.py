"""The listening report of ``wavedil-evaluate-vocoder --html``: one self-contained
folder with ``index.html`` (the score table, then per clip the original, the vocoder
and Griffin-Lim as audio players, each clip's three spectrograms one above the
other) and its ``listen/`` folder of WAVs and PNGs. The page has no script and
loads nothing from elsewhere: it opens from disk, or from any static web server.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = ["LISTENED", "listening_files", "pick_clips", "write_listening_report"]

#: what each clip offers to listen to, in page order: (file suffix, heading)
LISTENED = (("original", "original"), ("vocoder", "vocoder"), ("griffin_lim", "Griffin-Lim"))

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
section.clip { border-top: 1px solid #ddd; padding: 1em 0; }
div.player { display: flex; align-items: center; gap: 1em; margin: 0.3em 0; }
div.player span { width: 8em; }
img { max-width: 100%; }
"""


def pick_clips(count: int, limit: int) -> list[int]:
    """``limit`` indices spread evenly over ``count`` clips (all when fewer)."""
    if count <= limit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)}) if limit > 1 \
        else [0]


def listening_files(out: Path, names: Sequence[str]) -> list[Path]:
    """Every file the report writes for clips named ``names`` (their file names)."""
    files = [out / "index.html"]
    for name in names:
        stem = Path(name).stem
        files += [out / "listen" / f"{stem}_{suffix}.wav" for suffix, _ in LISTENED]
        files.append(out / "listen" / f"{stem}.png")
    return files


def _table(markdown: str) -> str:
    """A Markdown table (``|``-separated lines) as an HTML table; other lines as text."""
    rows = [line.strip().strip("|").split("|") for line in markdown.splitlines()
            if line.startswith("|") and not set(line) <= set("|- ")]
    text = [line for line in markdown.splitlines() if line and not line.startswith("|")]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row)
                   + "</tr>" for row in rows[1:])
    caption = "".join(f"<p>{html.escape(line)}</p>" for line in text)
    return f"{caption}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _scores(row: Mapping[str, Any] | None) -> str:
    if not row:
        return ""
    parts = []
    for method, heading in LISTENED[1:]:
        scores = row.get(method) or {}
        if "mcd_db" in scores:
            parts.append(f"{heading}: MCD {scores['mcd_db']:.2f} dB, log-mel distance "
                         f"{scores['log_mel_distance_db']:.2f} dB")
    label = f"label {row['label']}; " if "label" in row else ""
    return f"<p>{html.escape(label + '; '.join(parts))}</p>"


def write_listening_report(out: Path, title: str, table_markdown: str,
                           clips: Sequence[tuple[str, Tensor]],
                           audio: Mapping[str, Sequence[Tensor]], rate: int,
                           rows: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Write ``index.html`` and ``listen/`` into ``out``.

    Args:
        out: the report's folder (its paths checked by the caller: :func:`listening_files`).
        title: the page's heading (the checkpoint's name).
        table_markdown: the score table, as ``report_markdown`` writes it.
        clips: ``(file name, original audio)`` of the clips to listen to.
        audio: ``{"vocoder": [...], "griffin_lim": [...]}``, one waveform per clip.
        rate: the sample rate.
        rows: the per-file scores of these clips (``vocoder_eval.json``'s ``files``).
    """
    from wavedil.data.io import write_audio
    from wavedil.plots import plot_spectrogram_grid

    listen = out / "listen"
    listen.mkdir(parents=True, exist_ok=True)
    by_file = {Path(str(r.get("file", ""))).name: r for r in rows}
    sections = []
    for i, (name, original) in enumerate(clips):
        stem = Path(name).stem
        waves = {"original": original, **{m: audio[m][i] for m, _ in LISTENED[1:]}}
        players = []
        for suffix, heading in LISTENED:
            wav = f"{stem}_{suffix}.wav"
            write_audio(listen / wav, waves[suffix], rate)
            players.append(f'<div class="player"><span>{html.escape(heading)}</span>'
                           f'<audio controls preload="metadata" src="listen/{html.escape(wav)}">'
                           "</audio></div>")
        plot_spectrogram_grid([[waves[s]] for s, _ in LISTENED], rate, listen / f"{stem}.png",
                              rows=[h for _, h in LISTENED], columns=[name], panel_width=5.0)
        alt = f"spectrograms of {name}: original, vocoder, Griffin-Lim"
        sections.append(
            f'<section class="clip"><h3>{html.escape(name)}</h3>{_scores(by_file.get(name))}'
            + "".join(players)
            + f'<img src="listen/{html.escape(stem)}.png" alt="{html.escape(alt)}"></section>')
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Listening report: {html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>Listening report: {html.escape(title)}</h1>"
        "<p>Each clip resynthesised from its log-mel frames by the vocoder and by "
        "Griffin-Lim from the same frames, beside the original.</p>"
        f"<h2>Scores</h2>{_table(table_markdown)}"
        f"<h2>Listen ({len(clips)} clips)</h2>{''.join(sections)}</body></html>\n")
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
