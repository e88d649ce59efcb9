"""OmegaConf resolvers used by the YAML files in ``conf/``.

* ``${dilations:512,2}`` - the dilation list 1..512 repeated twice.
* ``${datainfo:KEY}`` - a fact about the data, known once the datamodule has
  scanned it: ``sample_rate``, ``num_classes``, ``global_classes`` (``None``
  without global conditioning), ``n_mels`` and ``hop_length`` (``None``
  without local conditioning). ``train`` sets the data with :func:`use_data_info`
  before it builds the model, so a model config never repeats what the data say.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from wavedil.data.sources import DataInfo
from wavedil.nn.stack import dilation_schedule

__all__ = ["register_resolvers", "use_data_info"]

_current: DataInfo | None = None


def use_data_info(info: DataInfo | None) -> None:
    """Make ``${datainfo:...}`` answer from ``info``."""
    global _current
    _current = info


def _datainfo(key: str) -> Any:
    if _current is None:
        raise RuntimeError(f"${{datainfo:{key}}} was resolved before the data were set up.")
    values = {
        "sample_rate": _current.sample_rate,
        "num_classes": _current.num_classes,
        "global_classes": _current.num_global or None,
        "n_mels": _current.n_mels,
        "hop_length": _current.hop_length,
    }
    if key not in values:
        raise KeyError(f"Unknown ${{datainfo:{key}}}; expected one of {sorted(values)}.")
    return values[key]


def register_resolvers() -> None:
    """Register wavedil's resolvers (idempotent)."""
    OmegaConf.register_new_resolver(
        "dilations", lambda max_dilation, cycles: dilation_schedule(int(max_dilation), int(cycles)),
        replace=True,
    )
    OmegaConf.register_new_resolver("datainfo", _datainfo, replace=True)


register_resolvers()
