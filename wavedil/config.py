"""OmegaConf resolvers used by the YAML files in ``conf/``.

* ``${dilations:512,2}`` - the dilation list 1..512 repeated twice.
* ``${datainfo:KEY}`` - a fact about the data, known once the datamodule has
  scanned it: ``sample_rate``, ``num_classes``, ``global_classes`` (``None``
  without global conditioning), and the mel settings ``n_mels``, ``hop_length``,
  ``n_fft``, ``f_min`` and ``f_max`` (``None`` without local conditioning), so a
  model config never repeats what the data say.

:func:`build` is the one place that builds a config's data and then its model
(the model's ``${datainfo:...}`` answered from those data); ``train``, the
benchmarks and ``wavedil-receptive-field`` all go through it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from omegaconf import DictConfig, OmegaConf

from wavedil.data.sources import DataInfo
from wavedil.nn.stack import dilation_schedule

__all__ = ["Built", "build", "build_data", "register_resolvers", "use_data_info"]

_current: DataInfo | None = None


def use_data_info(info: DataInfo | None) -> None:
    """Make ``${datainfo:...}`` answer from ``info``."""
    global _current
    _current = info


def _local(info: DataInfo, key: str, default: Any = None) -> Any:
    """A mel setting of the local conditioning (``None`` without it)."""
    return None if info.local_features is None else info.local_features.get(key, default)


def _datainfo(key: str) -> Any:
    if _current is None:
        raise RuntimeError(f"${{datainfo:{key}}} was resolved before the data were set up.")
    values = {
        "sample_rate": _current.sample_rate,
        "num_classes": _current.num_classes,
        "global_classes": _current.num_global or None,
        "n_mels": _current.n_mels,
        "hop_length": _current.hop_length,
        "n_fft": _local(_current, "n_fft"),
        "f_min": _local(_current, "f_min", 0.0),
        "f_max": _local(_current, "f_max"),
    }
    if key not in values:
        raise KeyError(f"Unknown ${{datainfo:{key}}}; expected one of {sorted(values)}.")
    return values[key]


class Built(NamedTuple):
    """What :func:`build` returns: the set-up datamodule and the model."""

    datamodule: Any
    model: Any


def build_data(cfg: DictConfig, stage: str = "fit") -> Any:
    """The datamodule of ``cfg.data``, prepared and set up for ``stage``, its facts
    made the answer of ``${datainfo:...}``."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup(stage)
    use_data_info(datamodule.info)
    return datamodule


def build(cfg: DictConfig, stage: str = "fit") -> Built:
    """The data of ``cfg`` (see :func:`build_data`), then the model that fits them."""
    from hydra.utils import instantiate

    datamodule = build_data(cfg, stage)
    return Built(datamodule, instantiate(cfg.model, _convert_="all"))


def register_resolvers() -> None:
    """Register wavedil's resolvers (idempotent)."""
    OmegaConf.register_new_resolver(
        "dilations", lambda max_dilation, cycles: dilation_schedule(int(max_dilation), int(cycles)),
        replace=True,
    )
    OmegaConf.register_new_resolver("datainfo", _datainfo, replace=True)


register_resolvers()
