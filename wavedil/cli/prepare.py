"""``wavedil-prepare``: decode a corpus once into WebDataset shards for training.

    wavedil-prepare data=fsdd_vocoder data.root=../shared/data/fsdd --out ~/data/fsdd-voc
    wavedil-prepare experiment=fsdd_classifier data.root=../shared/data/fsdd --out fsdd-cls
    wavedil-prepare data=ljspeech data.root=~/LJSpeech-1.1 --out ~/data/lj --workers 8
    python train.py experiment=fsdd_vocoder data.format=shards data.root=~/data/fsdd-voc

The source, its sample rate, trimming and (for a vocoder) the mel settings come from
the same Hydra configs as ``train.py``, so the shards fit the run they are prepared
for; the split is not fixed here (a run splits the prepared clips as its data config
says). A second call with the same settings does nothing; after a kill it finishes
the shards that are missing; a folder prepared with other settings, or holding other
files, is refused. See :mod:`wavedil.data.shards`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wavedil.cli.arguments import positive_int
from wavedil.cli.common import CONF_DIR, UsageError, compose_config, run_cli

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-prepare",
        description="Decode, resample and (for vocoders) compute mel frames once; write "
                    "WebDataset shards that train.py reads with data.format=shards.")
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides naming the data, as for train.py, e.g. "
                             "data=fsdd_vocoder data.root=PATH")
    parser.add_argument("--out", type=Path, required=True, help="the prepared folder")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="processes writing shards at once (default: 1)")
    parser.add_argument("--clips-per-shard", type=positive_int, default=500,
                        help="clips per tar file (default: 500)")
    parser.add_argument("--on-error", choices=("raise", "skip"),
                        help="unreadable files stop the run or are reported and skipped "
                             "(default: the data config's on_error)")
    parser.add_argument("--config-dir", type=Path, default=CONF_DIR,
                        help=f"Hydra config folder (default: {CONF_DIR})")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return parser


def _source_of(overrides: Sequence[str], config_dir: Path):
    """The configured file source (built with its root) and the run's mel settings."""
    from hydra.utils import instantiate
    from omegaconf.errors import MissingMandatoryValue

    cfg = compose_config(overrides, config_dir)
    try:
        if cfg.data.get("format", "files") != "files":
            raise UsageError("wavedil-prepare reads the source files: leave data.format=files "
                             "(data.format=shards is for training on what it writes).")
        datamodule = instantiate(cfg.data, _convert_="all")
    except MissingMandatoryValue as err:
        raise UsageError(f"The data config needs a value: {err}. "
                         "Pass it as an override, e.g. data.root=PATH.") from err
    source = datamodule.source
    if not hasattr(source, "scan"):
        raise UsageError(f"The {type(source).__name__} source makes its clips itself; "
                         "wavedil-prepare reads file sources (a folder, FSDD, a corpus).")
    return source, getattr(datamodule, "local_features", None)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def work() -> None:
        from wavedil.data.shards import prepare_shards

        source, mel = _source_of(args.overrides, args.config_dir)
        manifest = prepare_shards(source, args.out, mel=mel,
                                  clips_per_shard=args.clips_per_shard,
                                  workers=args.workers, on_error=args.on_error)
        if args.json:
            print(json.dumps(manifest))
            return
        state = ("already prepared: nothing to do" if manifest["written"] == 0
                 else f"{manifest['written']} shards written")
        print(f"{args.out}: {manifest['clips']} clips in {manifest['shards']} shards "
              f"({state}); {len(manifest['skipped'])} unreadable files skipped.")

    return run_cli("wavedil-prepare", work)


if __name__ == "__main__":
    sys.exit(main())
