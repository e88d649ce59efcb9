"""``wavedil-pretrained``: the models shipped with wavedil.

    wavedil-pretrained list              # name, kind, size, sha256, figures, licence
    wavedil-pretrained show fsdd-vocoder # its model card
    wavedil-pretrained path tones        # its verified file, for other programs

Every tool's ``--checkpoint`` takes these names (a file of that name wins).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wavedil.cli.common import run_cli
from wavedil.pretrained import available, card, find, verified_path

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wavedil-pretrained",
                                     description="The pretrained models shipped with wavedil.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="name, kind, size, sha256, headline figures, licence")
    show = sub.add_parser("show", help="a model's card")
    show.add_argument("name")
    path = sub.add_parser("path", help="a model's file, after checking its SHA-256")
    path.add_argument("name")
    return parser


def _list() -> None:
    for model in available():
        figures = "; ".join(f"{k} {v}" for k, v in model.figures.items())
        print(f"{model.name}  [{model.kind}, {model.bytes / 1e6:.2f} MB, sha256 "
              f"{model.sha256[:16]}..]\n  {model.summary}\n  {figures}\n"
              f"  licence: {model.licence}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def work() -> None:
        if args.command == "list":
            _list()
        elif args.command == "show":
            sys.stdout.write(card(args.name))
        else:
            print(verified_path(find(args.name)))

    return run_cli("wavedil-pretrained", work)
