"""``train(cfg)``: seed, build data, model and task from the Hydra config, fit, test.

Two entry points compose the same configs: the checkout's ``python train.py``
(``conf/``) and the installed ``wavedil-train`` (:func:`main`; the configs ship in
the package as ``wavedil/conf``), which works from any folder and writes its runs
under ``./outputs``. See ``conf/train.yaml``.
With ``loso=true`` a speaker-split classifier is trained once per speaker, each
time holding that speaker out (leave one speaker out), and the folds' test
accuracies are summarised.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning.pytorch as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from wavedil.checkpoint import AtomicCheckpointIO, CheckpointError, read_checkpoint
from wavedil.cli.common import write_together
from wavedil.cli.runs import FINAL_METRICS
from wavedil.config import build
from wavedil.data.sources import speakers_of
from wavedil.metrics.classification import report_markdown
from wavedil.tasks.loggers import CSVLogger

__all__ = ["main", "train", "train_leave_one_speaker_out", "train_once"]

log = logging.getLogger("wavedil.train")


def main() -> None:
    """``wavedil-train [key=value ...]``: ``python train.py`` without a checkout."""
    conf = Path(__file__).resolve().parents[1] / "conf"  # wavedil/conf: the shipped configs
    hydra.main(config_path=str(conf), config_name="train", version_base="1.3")(_train_job)()


def _train_job(cfg: DictConfig) -> None:
    train(cfg)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run the job described by ``cfg``; returns the final metrics."""
    if cfg.get("loso"):
        return train_leave_one_speaker_out(cfg)
    return train_once(cfg)


def resolve_checkpoint(cfg: DictConfig) -> tuple[str | None, Path | None]:
    """``cfg.ckpt_path`` as a file, and the run folder to continue writing into.

    ``"last"`` means the ``checkpoints/last.ckpt`` of the newest earlier run with the
    same name (a sibling of this run's folder); a path to a run's ``last.ckpt`` (or
    any ``.ckpt`` in a run's ``checkpoints/``) continues that run's folder too.
    """
    ckpt = cfg.get("ckpt_path")
    if not ckpt:
        return None, None
    current = Path(cfg.output_dir).resolve()
    if ckpt == "last":
        runs = current.parent
        found = sorted((p for p in runs.glob("*/checkpoints/last.ckpt")
                        if p.parent.parent.resolve() != current),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise FileNotFoundError(
                f"ckpt_path=last: no earlier run with checkpoints/last.ckpt under {runs}; "
                "pass ckpt_path=/path/to/run/checkpoints/last.ckpt."
            )
        path = found[-1]
    else:
        path = Path(ckpt)
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={ckpt}: checkpoint not found.")
    run_dir = path.parent.parent
    is_run = path.parent.name == "checkpoints" and (run_dir / "config.yaml").is_file()
    return str(path), (run_dir if is_run else None)


def build_loggers(node: Any) -> list[Any]:
    """The loggers a ``logger`` config names: none (``null``), one (a node with a
    ``_target_``), or several (``logger=[csv,tensorboard]``: one node per name)."""
    if not node:
        return []
    if "_target_" in node:
        return [instantiate(node)]
    return [instantiate(sub) for sub in node.values() if sub]


def _resume_step(path: Path) -> int:
    """The step ``path`` was saved at, after checking that it can be read at all;
    an unreadable one is named with the run's other checkpoints to resume from."""
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as err:
        others = sorted(p.name for p in path.parent.glob("*.ckpt") if p != path)
        hint = (f" This run's other checkpoints: {', '.join(others)} (resume from one with "
                f"ckpt_path={path.parent}/NAME)." if others else "")
        raise CheckpointError(f"{err}{hint}") from None
    return int(checkpoint.get("global_step", 0))


def train_once(cfg: DictConfig) -> dict[str, float]:
    """One fit (and test) into ``cfg.output_dir`` (or, resuming, into the old run's)."""
    ckpt_path, resumed_dir = resolve_checkpoint(cfg)
    resume_step = None if ckpt_path is None else _resume_step(Path(ckpt_path))
    if resumed_dir is not None:
        log.info("Resuming from %s; writing on into %s", ckpt_path, resumed_dir)
        OmegaConf.update(cfg, "output_dir", str(resumed_dir))
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)

    datamodule, model = build(cfg, "fit")
    crop = getattr(datamodule, "crop_length", None)
    if crop is not None and crop < model.receptive_field:
        log.warning(
            "data.crop_length=%d is shorter than the model's receptive field of %d samples: "
            "no training step sees a full context. Use data.crop_length >= %d.",
            crop, model.receptive_field, model.receptive_field)
    # Objects are passed after instantiation: Hydra would turn a dataclass into a config.
    task = instantiate(cfg.task, _partial_=True, _convert_="all")(
        model=model, data_info=datamodule.info
    )
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = build_loggers(cfg.get("logger"))
    for logger in loggers:
        if resume_step is not None and isinstance(logger, CSVLogger):
            logger.resume_at(resume_step)  # continue the run's metrics.csv from its checkpoint
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False,
        plugins=[AtomicCheckpointIO()]
    )

    choice = getattr(trainer, "precision_choice", None)  # trainer.precision=auto's outcome
    if choice is not None:
        with open_dict(cfg):
            cfg.precision_choice = choice.asdict()
    output_dir = Path(cfg.output_dir)
    if trainer.is_global_zero:
        output_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = "config.yaml" if resumed_dir is None else f"config.resumed-{stamp}.yaml"
        OmegaConf.save(cfg, output_dir / name, resolve=True)
    parameters = sum(p.numel() for p in model.parameters())
    rate = datamodule.info.sample_rate
    field = model.receptive_field
    log.info("%s: %.2fM parameters, receptive field %d samples (%.1f ms at %d Hz)",
             type(model).__name__, parameters / 1e6, field, 1000 * field / rate, rate)

    # Our samplers resume mid-epoch exactly (wavedil.data.sampling), so Lightning's
    # warning that a plain DataLoader cannot does not apply.
    warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = _scalars(trainer.callback_metrics)

    if cfg.get("test", True) and "test" in datamodule.datasets:
        best = getattr(trainer.checkpoint_callback, "best_model_path", "")
        ckpt = "best" if cfg.get("test_ckpt", "best") == "best" and best else None
        trainer.test(task, datamodule=datamodule, ckpt_path=ckpt)
        metrics.update(_scalars(trainer.callback_metrics))
        if trainer.is_global_zero and getattr(task, "test_predictions", None) is not None:
            _confusion_report(task.test_predictions, datamodule.info.class_names, output_dir)
    if trainer.is_global_zero:
        record = {"metrics": metrics, "steps": int(trainer.global_step),
                  "precision": choice.asdict() if choice is not None else None}
        write_together([(output_dir / FINAL_METRICS,
                         lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))])
        summary = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
        log.info("Final metrics: %s", summary)
        log.info("Outputs in %s", output_dir.resolve())
    return metrics


def train_leave_one_speaker_out(cfg: DictConfig) -> dict[str, float]:
    """Train and test once per held-out speaker; write ``loso.json`` and ``loso.md``.

    The speakers are ``cfg.loso_speakers`` or, when that is null, every speaker the
    data source finds. Each fold validates and tests on its held-out speaker and
    lands in ``<output_dir>/<speaker>/``.
    """
    source = instantiate(cfg.data.source, _convert_="all")
    source = source(root=cfg.data.root) if callable(source) else source
    if not hasattr(source, "scan"):
        raise ValueError(f"loso=true needs a folder source with speakers, not "
                         f"{type(source).__name__}.")
    found = speakers_of(source.scan())
    if len(found) < 2:
        raise ValueError(f"loso=true needs at least 2 speakers in {cfg.data.root}, "
                         f"but found {found}.")
    if cfg.data.source.get("train_speakers") is not None:
        raise ValueError("loso=true trains each fold on every speaker but the held-out one; "
                         "expected data.source.train_speakers=null, but found "
                         f"{list(cfg.data.source.train_speakers)}.")
    speakers = list(cfg.get("loso_speakers") or found)
    unknown = [s for s in speakers if s not in found]
    if unknown:
        raise ValueError(f"loso_speakers names {unknown}, not among the speakers in "
                         f"{cfg.data.root}: {found}.")
    output_dir = Path(cfg.output_dir)
    folds: dict[str, dict[str, float]] = {}
    for speaker in speakers:
        fold = copy.deepcopy(cfg)
        OmegaConf.update(fold, "loso", False)
        OmegaConf.update(fold, "output_dir", str(output_dir / speaker))
        OmegaConf.update(fold, "data.source.split", "speaker", force_add=True)
        OmegaConf.update(fold, "data.source.test_speakers", [speaker], force_add=True)
        OmegaConf.update(fold, "data.source.val_speakers", None, force_add=True)
        log.info("Leave one speaker out: fold %d of %d, holding out %s",
                 len(folds) + 1, len(speakers), speaker)
        start = time.perf_counter()
        metrics = train_once(fold)
        folds[speaker] = {"test_accuracy": metrics.get("test/accuracy", math.nan),
                          "minutes": (time.perf_counter() - start) / 60}
        if "test/accuracy_single" in metrics:  # test_speeds: the unaveraged figure too
            folds[speaker]["test_accuracy_single"] = metrics["test/accuracy_single"]
    accuracies = [f["test_accuracy"] for f in folds.values()]
    summary = {
        "mean_accuracy": sum(accuracies) / len(accuracies),
        "worst_accuracy": min(accuracies),
        "worst_speaker": min(folds, key=lambda s: folds[s]["test_accuracy"]),
        "folds": folds,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "loso.json").write_text(json.dumps(summary, indent=2))
    single = all("test_accuracy_single" in f for f in folds.values())
    lines = ["| held-out speaker | test accuracy |" + (" without speed averaging |" if single
                                                       else "") + " training minutes |",
             "| --- | --- |" + (" --- |" if single else "") + " --- |"]
    lines += [f"| {s} | {f['test_accuracy']:.2%} |"
              + (f" {f['test_accuracy_single']:.2%} |" if single else "")
              + f" {f['minutes']:.1f} |" for s, f in folds.items()]
    lines += ["", f"mean {summary['mean_accuracy']:.2%}, worst {summary['worst_accuracy']:.2%} "
                  f"({summary['worst_speaker']})"]
    (output_dir / "loso.md").write_text("\n".join(lines) + "\n")
    log.info("Leave one speaker out:\n%s", "\n".join(lines))
    return {"loso/mean_accuracy": summary["mean_accuracy"],
            "loso/worst_accuracy": summary["worst_accuracy"]}


def _confusion_report(pairs: Any, class_names: list[str], output_dir: Path) -> None:
    """Confusion matrix PNG and per-class accuracy table of the test split."""
    from wavedil.plots import plot_predictions

    report = plot_predictions(pairs, class_names, output_dir / "confusion_test.png",
                              "test split")
    (output_dir / "per_class_test.md").write_text(report_markdown(report))


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        value = float(value)
        if math.isfinite(value):
            out[key] = value
    return out
