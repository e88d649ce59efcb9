"""``wavedil-runs DIR``: one table of the training runs under a folder, e.g. a sweep.

    python train.py -m model.residual_channels=16,32 task.optimizer.lr=1e-3,3e-3
    wavedil-runs multirun/tones_generator/2026-12-06_12-00-00

Every run folder under ``DIR`` (one with the ``final_metrics.json`` that
``train.py`` writes at the end, or a Hydra job's ``.hydra/overrides.yaml``) becomes
a row: its path, the command-line overrides that vary between the runs (those every
run shares are said once, above the table), the steps it trained, and its final
metrics (test, validation, the training time). Written as ``runs.md`` and
``runs.csv`` into ``DIR`` (or ``--out``), never over existing files without
``--overwrite``. A run that did not finish is listed as such. ``python train.py -m``
writes this summary into the sweep folder by itself when the sweep ends
(:class:`SummarizeSweep`, a Hydra callback in ``conf/train.yaml``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wavedil.cli.common import UsageError, check_outputs, run_cli, write_together

__all__ = ["FINAL_METRICS", "Run", "SummarizeSweep", "find_runs", "main", "summarize"]

log = logging.getLogger("wavedil.runs")

#: what ``train.py`` writes into a run folder when it ends
FINAL_METRICS = "final_metrics.json"
#: metric name prefixes shown, in this order
SHOWN = ("test/", "val/", "loso/", "time/")


@dataclass
class Run:
    """One run folder: its overrides, and its final record (``None``: unfinished)."""

    path: Path
    overrides: dict[str, str] = field(default_factory=dict)
    final: dict[str, Any] | None = None


def _overrides(folder: Path) -> dict[str, str]:
    import yaml

    path = folder / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    items = yaml.safe_load(path.read_text()) or []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def find_runs(root: Path) -> list[Run]:
    """The run folders under ``root`` (``root`` itself included), in path order."""
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; expected a run or sweep folder.")
    folders = {p.parent for p in root.rglob(FINAL_METRICS)}
    folders |= {p.parent.parent for p in root.rglob(".hydra/overrides.yaml")}
    runs = []
    for folder in sorted(folders, key=lambda p: [int(x) if x.isdigit() else x
                                                 for x in p.relative_to(root).parts]):
        record = folder / FINAL_METRICS
        final = None
        if record.is_file():
            try:
                final = json.loads(record.read_text())
            except ValueError as err:
                raise UsageError(f"{record} is not valid JSON ({err}); expected the record "
                                 "train.py writes at the end of a run.") from None
        runs.append(Run(folder, _overrides(folder), final))
    if not runs:
        raise UsageError(f"No training runs under {root}: expected folders holding "
                         f"{FINAL_METRICS} (written when train.py ends) or .hydra/.")
    return runs


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def summarize(root: Path) -> tuple[str, str]:
    """The Markdown and CSV tables of the runs under ``root``."""
    runs = find_runs(root)
    keys = sorted({k for r in runs for k in r.overrides})
    shared = {k: runs[0].overrides.get(k) for k in keys
              if len({r.overrides.get(k) for r in runs}) == 1}
    varying = [k for k in keys if k not in shared]
    names = sorted({m for r in runs if r.final for m in r.final.get("metrics", {})
                    if m.startswith(SHOWN)},
                   key=lambda m: (next(i for i, p in enumerate(SHOWN) if m.startswith(p)), m))
    header = ["run", *varying, "status", "steps", *names]
    rows = []
    for run in runs:
        metrics = (run.final or {}).get("metrics", {})
        rows.append([str(run.path.relative_to(root)) if run.path != root else ".",
                     *[run.overrides.get(k, "") for k in varying],
                     "finished" if run.final else "unfinished",
                     _format((run.final or {}).get("steps")),
                     *[_format(metrics.get(m)) for m in names]])
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    lines = [f"# Runs under {root}", ""]
    if shared:
        lines += ["Every run: " + ", ".join(f"`{k}={v}`" for k, v in shared.items()), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines) + "\n", text.getvalue()


def write_summary(root: Path, out: Path | None = None, overwrite: bool = False) -> list[Path]:
    """Write ``runs.md`` and ``runs.csv`` for the runs under ``root`` into ``out``."""
    out = root if out is None else out
    targets = [out / "runs.md", out / "runs.csv"]
    markdown, table = summarize(root)  # reads only: a bad folder is named before any writing
    check_outputs(out, targets, overwrite)
    write_together([(targets[0], lambda p: p.write_text(markdown)),
                    (targets[1], lambda p: p.write_text(table))])
    return targets


try:  # Hydra's callback API (hydra-core 1.2 and later)
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - an older hydra-core
    _HydraCallback = object  # type: ignore[assignment,misc]


class SummarizeSweep(_HydraCallback):  # type: ignore[misc,valid-type]
    """A Hydra callback: when a ``-m`` sweep ends, write ``runs.md`` and ``runs.csv``
    into its folder (replacing those of an earlier summary of the same folder)."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        root = Path(config.hydra.sweep.dir)
        try:
            written = write_summary(root, overwrite=True)
        except UsageError as err:
            log.warning("No sweep summary: %s", err)
            return
        log.info("Sweep summary: %s", written[0])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-runs",
        description="One table (Markdown and CSV) of the training runs under a folder.")
    parser.add_argument("root", type=Path, help="a sweep folder (or any folder of runs)")
    parser.add_argument("--out", type=Path, help="where runs.md and runs.csv go (default: ROOT)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--print", action="store_true", help="also print the Markdown table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def work() -> None:
        written = write_summary(args.root, args.out, args.overwrite)
        if args.print:
            sys.stdout.write(written[0].read_text())
        print(f"Wrote {written[0]} and {written[1]}", file=sys.stderr)

    return run_cli("wavedil-runs", work)
