"""Train a wavedil model: ``python train.py [experiment=NAME] [key=value ...]``.

Configs live in ``conf/`` (see ``conf/train.yaml``); all work is in
:func:`wavedil.cli.train.train`.
"""

import hydra
from omegaconf import DictConfig

import wavedil.config  # noqa: F401  (registers the ${dilations:} and ${datainfo:} resolvers)
from wavedil.cli.train import train


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
