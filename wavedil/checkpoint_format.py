"""The ``"wavedil"`` record a checkpoint carries, its format number, and the
upgrades that read older formats.

Format history:

- **1**: the spectral front ends took their training-time augmentation as flat
  arguments (``freq_masks``, ``freq_mask_width``, ``time_masks``,
  ``time_mask_width``, ``freq_warp``, ``freq_warp_segments``).
- **2**: that augmentation is two modules handed to the front end,
  ``spec_augment=SpecAugment(...)`` and ``warp=MelWarp(...)`` (``None`` when off).
  The weights are the same; only the recorded constructor call changes.

A checkpoint of an older format loads (and resumes) as if written today: its
record is upgraded in memory, never rewritten on disk.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_KEY", "upgrade_record"]

#: Key of wavedil's own record inside a Lightning checkpoint.
CHECKPOINT_KEY = "wavedil"
#: The format this wavedil writes.
CHECKPOINT_FORMAT = 2

_SPECTRAL_FRONTENDS = ("wavedil.nn.frontends.LogMelFrontend",
                       "wavedil.nn.frontends.MFCCFrontend")
_V1_MASKS = ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width")


def _frontends_v1_to_v2(spec: Any) -> Any:
    """Rewrite every spectral front end in ``spec`` from format 1's flat
    augmentation arguments to format 2's modules."""
    if isinstance(spec, list):
        return [_frontends_v1_to_v2(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    spec = {k: _frontends_v1_to_v2(v) for k, v in spec.items()}
    if spec.get("_target_") not in _SPECTRAL_FRONTENDS:
        return spec
    masks = {k: spec.pop(k) for k in _V1_MASKS if k in spec}
    amount = spec.pop("freq_warp", 0.0)
    segments = spec.pop("freq_warp_segments", 1)
    if masks.get("freq_masks", 0) or masks.get("time_masks", 0):
        spec["spec_augment"] = {"_target_": "wavedil.nn.specaugment.SpecAugment", **masks}
    else:
        spec["spec_augment"] = None
    spec["warp"] = ({"_target_": "wavedil.nn.specaugment.MelWarp", "amount": amount,
                     "segments": segments} if amount else None)
    return spec


_UPGRADES = {1: _frontends_v1_to_v2}  # format n -> the rewrite of the model spec to n + 1


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` brought to :data:`CHECKPOINT_FORMAT` (a copy when it changes).

    A record of an unknown format (newer than this wavedil, or not a number) is
    returned as it is, for the caller to refuse.
    """
    fmt = record.get("format")
    if not isinstance(fmt, int) or fmt not in _UPGRADES:
        return record
    record = copy.deepcopy(record)
    while record["format"] in _UPGRADES:
        record["model"] = _UPGRADES[record["format"]](record.get("model"))
        record["format"] += 1
    return record
