"""``trainer.precision=auto``: bf16 mixed precision where the hardware runs bf16
natively, float32 elsewhere.

bf16 mixed precision pays only on hardware with bf16 arithmetic: measured with
``bench/training.py`` (SMALL, 2 threads), 1.8-2.3x float32's samples/s at 0.52-0.60x
its memory on a CPU with AVX512-BF16, and 0.11x (nine times *slower*) on an AVX2-only
CPU, where oneDNN emulates it. So the default asks the hardware:

- CPU: native when it has AVX512-BF16 or AMX (PyTorch's own CPU probes, else the
  flags in ``/proc/cpuinfo``);
- CUDA: native when ``torch.cuda.is_bf16_supported(including_emulation=False)``
  (compute capability 8.0 and later);
- anything else (MPS, an accelerator object): float32, not probed.

``WAVEDIL_NATIVE_BF16=1`` (or ``0``) overrides the answer of the probe, for a
machine whose CPU flags are hidden (some containers and VMs) and for tests. An
explicit precision (``32-true``, ``bf16-mixed``, ``16-mixed``, ...) is never changed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["AUTO", "PrecisionChoice", "cpu_bf16_support", "cuda_bf16_support",
           "resolve_precision"]

AUTO = "auto"
#: the environment variable that overrides the probe: "1" native, "0" not
ENV = "WAVEDIL_NATIVE_BF16"


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """What ``trainer.precision`` asked for, what runs, and why."""

    requested: str
    precision: str
    device: str
    reason: str

    def asdict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, and the evidence."""
    probes = {"AVX512-BF16": ("_is_avx512_bf16_supported", "avx512_bf16"),
              "AMX": ("_is_amx_tile_supported", "amx_bf16")}
    flags: set[str] | None = None
    found = []
    for name, (function, flag) in probes.items():
        probe = getattr(torch.cpu, function, None)
        if probe is not None:
            has = bool(probe())
        else:  # an older or newer torch without the private probe: read the flags
            flags = _cpu_flags() if flags is None else flags
            has = flag in flags
        if has:
            found.append(name)
    if found:
        return True, f"this CPU has {' and '.join(found)}: bf16 runs natively"
    capability = torch.backends.cpu.get_cpu_capability()
    return False, (f"this CPU ({capability}) has neither AVX512-BF16 nor AMX: bf16 would be "
                   "emulated, slower than float32")


def cuda_bf16_support() -> tuple[bool, str]:
    """Whether the current CUDA device computes bf16 natively, and the evidence."""
    if not torch.cuda.is_available():
        return False, "no CUDA device is available"
    name = torch.cuda.get_device_name()
    major, minor = torch.cuda.get_device_capability()
    if torch.cuda.is_bf16_supported(including_emulation=False):
        return True, f"{name} (compute capability {major}.{minor}) runs bf16 natively"
    return False, (f"{name} (compute capability {major}.{minor}) has no native bf16 "
                   "(8.0 and later have)")


def _device_type(accelerator: Any) -> str:
    """``cpu``, ``cuda`` or another name, as Lightning's ``auto`` would choose."""
    name = str(accelerator).lower() if isinstance(accelerator, str) else "other"
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if name in ("gpu", "cuda") else name


def resolve_precision(precision: Any, accelerator: Any = AUTO) -> PrecisionChoice:
    """The precision a trainer on ``accelerator`` runs for ``trainer.precision``.

    ``"auto"`` becomes ``"bf16-mixed"`` where the device computes bf16 natively and
    ``"32-true"`` elsewhere; any other value is returned as it is.

    Example:
        >>> resolve_precision("32-true", "cpu").precision
        '32-true'
    """
    requested = str(precision)
    if requested != AUTO:
        return PrecisionChoice(requested, requested, _device_type(accelerator), "set explicitly")
    device = _device_type(accelerator)
    forced = os.environ.get(ENV)
    if forced is not None:
        if forced not in ("0", "1"):
            raise ValueError(f"Expected {ENV}=1 (native bf16) or 0 (not), but found {forced!r}.")
        native, why = forced == "1", f"{ENV}={forced}"
    elif device == "cpu":
        native, why = cpu_bf16_support()
    elif device == "cuda":
        native, why = cuda_bf16_support()
    else:
        native, why = False, f"bf16 is not probed on accelerator {accelerator!r}"
    return PrecisionChoice(requested, "bf16-mixed" if native else "32-true", device, why)
