"""Ship a trained model: ``python -m wavedil.pretrained.publish NAME CHECKPOINT ...``.

Writes ``wavedil/pretrained/NAME.ckpt``: the checkpoint's model weights and its wavedil
record only (no optimizer, scheduler, random or loop state: it cannot resume
training, and holds nothing a loader would run), then records its size and SHA-256
in ``models.json`` beside the kind, licence, one-line summary and headline figures
given. The card ``NAME.md`` is written by hand (the command and commit that trained
the model, how its figures were measured).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from wavedil.checkpoint import AtomicCheckpointIO, load_model, read_checkpoint
from wavedil.checkpoint_format import CHECKPOINT_KEY
from wavedil.pretrained import HERE, REGISTRY

__all__ = ["main", "publish"]


def publish(name: str, checkpoint: Path, licence: str, summary: str,
            figures: dict[str, str], out_dir: Path = HERE) -> dict:
    """Write ``out_dir/NAME.ckpt`` from ``checkpoint`` and register it; returns the entry."""
    loaded = load_model(checkpoint)  # refuses anything that is not a loadable wavedil model
    source = read_checkpoint(checkpoint)
    record = {k: v for k, v in source[CHECKPOINT_KEY].items() if k != "rng"}
    lean = {"state_dict": {f"model.{k}": v.detach().cpu().contiguous()
                           for k, v in loaded.model.state_dict().items()},
            CHECKPOINT_KEY: record, "global_step": int(source.get("global_step", 0))}
    target = out_dir / f"{name}.ckpt"
    AtomicCheckpointIO().save_checkpoint(lean, target)
    entry = {"name": name, "kind": loaded.kind, "file": target.name,
             "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
             "bytes": target.stat().st_size, "licence": licence, "summary": summary,
             "figures": figures}
    registry = out_dir / REGISTRY.name
    models = json.loads(registry.read_text())["models"] if registry.is_file() else []
    models = [m for m in models if m["name"] != name] + [entry]
    registry.write_text(json.dumps({"models": sorted(models, key=lambda m: m["name"])},
                                   indent=2) + "\n")
    return entry


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wavedil.pretrained.publish",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--licence", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--figure", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    figures = dict(item.split("=", 1) for item in args.figure)
    entry = publish(args.name, args.checkpoint, args.licence, args.summary, figures)
    torch.set_printoptions()
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
