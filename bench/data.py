"""Data at scale: a training run from a corpus decoded into memory (``data.format=files``)
against the same corpus prepared once into shards (``data.format=shards``).

    python bench/data.py                                 # 1, 4 and 16 hours
    python bench/data.py --hours 1 4 --steps 20 --repeats 3 --workdir /tmp/wavedil-data
    python bench/data.py --plot docs/data_at_scale.png    # and draw the curves

The benchmark makes its corpora itself: speech-like audio (voiced syllables - a
gliding pitch with harmonics under a syllable envelope - noise bursts and pauses),
10-second 16-bit WAV files at 16 kHz, as many as the hours ask; kept in
``--workdir`` between calls. Each is prepared once with ``wavedil-prepare``
(``--workers`` processes; its wall time is reported).

Each training run is ``python train.py data=folder_generation data.root=...`` with the
default generator and ``train.py``'s default batch (8 crops of 2,048 samples; no
validation) in a fresh process,
``--steps`` steps; it reports

- ``first_step_s``: seconds from starting the process to its first training batch
  (decoding the corpus, for ``files``; reading the shard index, for ``shards``);
- ``peak_rss_mb``: the process's peak resident memory (``wait4``);
- ``samples_per_s``: training samples per second after the first step.

Formats are alternated within each round, ``--repeats`` rounds, medians reported
with their spread. One JSON line per run, then one summary line per corpus with the
ratios shards/files, then the targets: peak memory of shards flat in corpus size
(16 h within 1.2x of 1 h) and under 2 GB; first step from shards under 10 s at
16 h; shards' samples/s at least 0.95x files'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
CLIP_SECONDS = 10
BATCH, CROP = 8, 2048  # train.py's default generator batch (conf/data/tones.yaml)


def speechlike(seconds: float, rng: np.random.Generator, rate: int = RATE) -> np.ndarray:
    """``seconds`` of voiced syllables, noise bursts and pauses (float32 in [-1, 1])."""
    out = np.zeros(int(seconds * rate), dtype=np.float32)
    at = 0
    while at < len(out):
        kind = rng.choice(3, p=[0.6, 0.15, 0.25])
        n = min(len(out) - at, int(rate * rng.uniform(0.08, 0.35)))
        if kind == 0:  # voiced: f0 gliding, five harmonics falling off
            f0 = np.linspace(rng.uniform(90, 250), rng.uniform(90, 250), n)
            phase = 2 * np.pi * np.cumsum(f0) / rate
            wave = sum(np.sin(k * phase) / k ** 1.3 for k in range(1, 6))
            env = np.sin(np.linspace(0, np.pi, n)) ** 0.7
            out[at:at + n] = 0.3 * rng.uniform(0.3, 1.0) * wave * env
        elif kind == 1:  # a fricative: shaped noise
            noise = np.diff(rng.standard_normal(n + 1))
            out[at:at + n] = 0.05 * noise * np.hanning(n)
        at += n
    return np.clip(out, -1, 1)


def make_corpus(folder: Path, hours: float, seed: int = 0) -> Path:
    """``hours`` of speech-like 10-second files in ``folder`` (kept once complete)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    files = round(hours * 3600 / CLIP_SECONDS)
    rng = np.random.default_rng(seed)
    for i in tqdm(range(files), desc=f"corpus {hours:g} h", unit="file"):
        sf.write(folder / f"clip{i:06d}.wav", speechlike(CLIP_SECONDS, rng), RATE,
                 subtype="PCM_16")
    done.touch()
    return folder


def prepare(corpus: Path, out: Path, workers: int) -> float:
    """Prepare ``corpus`` into ``out`` with wavedil-prepare; seconds taken (0 if done)."""
    if (out / "prepared.json").exists() and json.loads(
            (out / "prepared.json").read_text()).get("complete"):
        return 0.0
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "wavedil.cli.prepare", "data=folder_generation",
                    f"data.root={corpus}", "--out", str(out), "--workers", str(workers)],
                   cwd=REPO, check=True)
    return time.perf_counter() - start


def train_once(root: Path, fmt: str, steps: int, run_dir: Path) -> dict:
    """One training run in a fresh process: first-step time, peak RSS, samples/s."""
    clock = run_dir / "clock.jsonl"
    run_dir.mkdir(parents=True, exist_ok=True)
    clock.unlink(missing_ok=True)
    cmd = [sys.executable, "train.py", "data=folder_generation", f"data.root={root}",
           f"data.format={fmt}", f"data.batch_size={BATCH}", f"data.crop_length={CROP}",
           f"trainer.max_steps={steps}", "trainer.max_epochs=-1",
           "trainer.max_time=null", "trainer.limit_val_batches=0", "test=false",
           "trainer.enable_progress_bar=false", f"output_dir={run_dir}",
           f"hydra.run.dir={run_dir}",
           f"+callbacks.clock={{_target_: _clock.StepClock, path: {clock}}}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "bench"), str(REPO), os.environ.get("PYTHONPATH", "")])}
    with open(run_dir / "stderr.txt", "w") as stderr:
        launched = time.time()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"train.py failed ({code}); see {run_dir}/stderr.txt")
    lines = [json.loads(line) for line in clock.read_text().splitlines()]
    start = lines[0]["start"]
    ends = [x["t"] for x in lines[1:]]
    return {"first_step_s": round(start - launched, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "samples_per_s": round(BATCH * CROP * (len(ends) - 1) / (ends[-1] - ends[0]))}


def _median(rows: list[dict], key: str) -> tuple[float, int]:
    values = [r[key] for r in rows]
    mid = statistics.median(values)
    spread = round(100 * (max(values) - min(values)) / mid) if mid else 0
    return mid, spread


def plot(summaries: list[dict], path: Path) -> Path:
    """Peak memory and time to the first step against corpus hours, files and shards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [s["hours"] for s in summaries]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    for ax, key, label in ((axes[0], "peak_rss_mb", "peak resident memory (MB)"),
                           (axes[1], "first_step_s", "time to the first step (s)")):
        for fmt, style in (("files", "o-"), ("shards", "s-")):
            ax.plot(hours, [s[f"{fmt}_{key}"] for s in summaries], style,
                    label=f"data.format={fmt}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(hours, [f"{h:g}" for h in hours])
        ax.set_xlabel("corpus (hours of 16 kHz audio)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Training the default generator: corpus in memory against prepared shards")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="wavedil-prepare processes")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wavedil-bench-data"))
    parser.add_argument("--plot", type=Path, help="draw the curves into this PNG")
    parser.add_argument("--replot", type=Path,
                        help="only draw --plot from the JSON lines an earlier run printed")
    args = parser.parse_args(argv)
    if args.replot:
        lines = [json.loads(x) for x in args.replot.read_text().splitlines() if x.startswith("{")]
        plot([x["summary"] for x in lines if "summary" in x], args.plot or Path("data.png"))
        return

    summaries = {}
    for hours in args.hours:
        corpus = make_corpus(args.workdir / f"corpus-{hours:g}h", hours)
        shards = args.workdir / f"shards-{hours:g}h"
        prepare_s = prepare(corpus, shards, args.workers)
        rows: dict[str, list[dict]] = {"files": [], "shards": []}
        for r in range(args.repeats):
            for fmt in ("files", "shards") if r % 2 == 0 else ("shards", "files"):
                root = corpus if fmt == "files" else shards
                row = train_once(root, fmt, args.steps,
                                 args.workdir / "runs" / f"{hours:g}h-{fmt}-{r}")
                rows[fmt].append(row)
                print(json.dumps({"hours": hours, "format": fmt, "round": r, **row}),
                      flush=True)
        summary = {"hours": hours, "steps": args.steps, "repeats": args.repeats,
                   "prepare_s": round(prepare_s, 1)}
        for fmt in rows:
            for key in ("first_step_s", "peak_rss_mb", "samples_per_s"):
                summary[f"{fmt}_{key}"], summary[f"{fmt}_{key}_spread_pct"] = _median(
                    rows[fmt], key)
        summary["speed_ratio"] = round(summary["shards_samples_per_s"]
                                       / summary["files_samples_per_s"], 3)
        summaries[hours] = summary
        print(json.dumps({"summary": summary}), flush=True)

    if args.plot:
        plot(list(summaries.values()), args.plot)
    small, large = min(summaries), max(summaries)
    if small != large:
        rss = summaries[large]["shards_peak_rss_mb"] / summaries[small]["shards_peak_rss_mb"]
        print(json.dumps({"targets": {
            f"shards_peak_rss_{large:g}h_over_{small:g}h": round(rss, 3),
            "flat_within_1.2x": rss <= 1.2,
            "peak_below_2gb": summaries[large]["shards_peak_rss_mb"] < 2048,
            f"first_step_{large:g}h_below_10s": summaries[large]["shards_first_step_s"] < 10,
            "speed_at_least_0.95x": min(s["speed_ratio"] for s in summaries.values()) >= 0.95,
        }}), flush=True)


if __name__ == "__main__":
    main()
