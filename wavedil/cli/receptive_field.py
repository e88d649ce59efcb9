"""``wavedil-receptive-field``: how far each layer of a model sees, from gradients.

    wavedil-receptive-field                                   # the default generator
    wavedil-receptive-field model=wavenet_small
    wavedil-receptive-field experiment=synthetic_classifier model=classifier_context
    wavedil-receptive-field --checkpoint outputs/.../last.ckpt --out rf.png --json

Builds the model from the Hydra configs in ``conf/`` (the same overrides as
``train.py``; the data config is set up to learn the sample rate and classes) or
from a checkpoint, prints the field of every dilated layer in samples and
milliseconds, and draws a PNG of which input samples each layer's output sees.

An untrained model from a config is measured with random weights (the field the
architecture allows: the context module's identity initialisation would otherwise
show one step); a checkpoint with its trained weights unless ``--random-weights``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wavedil.cli.arguments import positive_int
from wavedil.cli.common import CONF_DIR, UsageError, compose_config, run_cli
from wavedil.receptive_field import LayerField, layer_fields

__all__ = ["main", "model_from_config"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wavedil-receptive-field",
        description="Receptive field per layer, measured from gradients, with a PNG.")
    parser.add_argument("overrides", nargs="*",
                        help="Hydra overrides as for train.py, e.g. model=classifier_context")
    parser.add_argument("--checkpoint", type=Path, help="measure a trained model instead")
    parser.add_argument("--config-dir", type=Path, default=CONF_DIR,
                        help=f"Hydra config folder (default: {CONF_DIR})")
    parser.add_argument("--length", type=positive_int, help="input steps (default: 3 fields)")
    parser.add_argument("--out", type=Path, default=Path("receptive_field.png"),
                        help="PNG to write")
    parser.add_argument("--random-weights", action="store_true",
                        help="random weights also for a checkpoint")
    parser.add_argument("--clip-normalization", action="store_true",
                        help="keep the front end's per-clip normalisation (it makes every "
                             "frame depend weakly on the whole clip)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def model_from_config(overrides: Sequence[str], config_dir: Path = CONF_DIR) -> tuple[Any, int]:
    """The model ``train.py`` would build with these overrides, and the data's rate."""
    from omegaconf.errors import MissingMandatoryValue

    from wavedil.config import build

    cfg = compose_config(overrides, config_dir)
    try:
        datamodule, model = build(cfg, "fit")
    except MissingMandatoryValue as err:
        raise UsageError(f"The data config needs a value: {err}. "
                         "Pass it as an override, e.g. data.root=PATH.") from err
    return model, datamodule.info.sample_rate


def _table(fields: list[LayerField], rate: int, reported: int | None) -> str:
    lines = [f"{'layer':<32} {'samples':>8} {'ms':>9} {'past':>8} {'future':>8}"]
    for f in fields:
        e = f.extent
        lines.append(f"{f.name:<32} {e.size:>8} {1000 * e.size / rate:>9.1f} "
                     f"{e.past:>8} {e.future:>8}")
    if reported is not None:
        lines.append(f"receptive_field (arithmetic): {reported} samples = "
                     f"{1000 * reported / rate:.1f} ms at {rate} Hz")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.checkpoint is not None:
        if args.overrides:
            raise UsageError("Give either --checkpoint or config overrides, not both.")
        from wavedil.checkpoint import load_model

        loaded = load_model(args.checkpoint)
        model, rate = loaded.model, loaded.info.sample_rate or 8000
        random_weights = args.random_weights
    else:
        model, rate = model_from_config(args.overrides, args.config_dir)
        random_weights = True
    if args.length is not None and args.length < 2:
        raise UsageError(f"Expected --length >= 2, but found {args.length}.")
    fields = layer_fields(model, args.length, clip_normalization=args.clip_normalization,
                          random_weights=random_weights)
    if not fields:
        raise UsageError(f"{type(model).__name__} has no dilated layers to measure.")
    from wavedil.plots import plot_layer_fields

    reported = getattr(model, "receptive_field", None)
    name = type(model).__name__
    png = plot_layer_fields(fields, rate, args.out,
                            f"{name}: receptive field {fields[-1].extent.size} samples "
                            f"({1000 * fields[-1].extent.size / rate:.1f} ms)")
    return {
        "model": name,
        "sample_rate": rate,
        "receptive_field": reported,
        "receptive_field_ms": None if reported is None else 1000 * reported / rate,
        "random_weights": random_weights,
        "layers": [{"name": f.name, "samples": f.extent.size,
                    "ms": 1000 * f.extent.size / rate, "past": f.extent.past,
                    "future": f.extent.future} for f in fields],
        "png": str(png),
        "_fields": fields,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("wavedil-receptive-field", lambda: _report(args))


def _report(args: argparse.Namespace) -> int:
    report = run(args)
    fields = report.pop("_fields")
    if args.json:
        print(json.dumps(report))
    else:
        print(_table(fields, report["sample_rate"], report["receptive_field"]))
        print(f"wrote {report['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
