"""Self-describing objects: a constructor call recorded as a plain dict.

A model decorated with :func:`serializable` remembers the arguments it was built
with; :func:`to_spec` turns it into ``{"_target_": "pkg.Class", **args}`` (nested
objects included, the same shape as a Hydra config) and :func:`from_spec` builds it
again. Checkpoints store this dict, so a checkpoint alone rebuilds its model.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["from_spec", "serializable", "to_spec"]

T = TypeVar("T", bound=type)

_ARGS = "_wavedil_init_args"


def serializable(cls: T) -> T:
    """Class decorator: record the (bound, defaults applied) constructor arguments."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        # The outermost decorated class records; a decorated parent called through
        # super().__init__ leaves the subclass's record alone.
        if _ARGS not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded = dict(bound.arguments)
            recorded.pop("self")
            object.__setattr__(self, _ARGS, (type(self), recorded))
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def to_spec(obj: Any) -> Any:
    """The constructor call of ``obj`` as plain data (recursively)."""
    record = getattr(obj, "__dict__", {}).get(_ARGS)
    if record is not None:
        cls, args = record
        return {"_target_": f"{cls.__module__}.{cls.__qualname__}",
                **{k: to_spec(v) for k, v in args.items()}}
    if isinstance(obj, Mapping):
        return {str(k): to_spec(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or type(obj).__name__ == "ListConfig":
        return [to_spec(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"Cannot describe {type(obj).__name__} as plain data: only numbers, strings, lists, "
        "dicts and objects of @serializable classes can be recorded in a checkpoint."
    )


def from_spec(spec: Any) -> Any:
    """Build the object described by :func:`to_spec` output."""
    if isinstance(spec, list):
        return [from_spec(v) for v in spec]
    if not isinstance(spec, Mapping):
        return spec
    args = {k: from_spec(v) for k, v in spec.items() if k != "_target_"}
    if "_target_" not in spec:
        return args
    module_name, _, name = str(spec["_target_"]).rpartition(".")
    if not module_name.startswith("wavedil.") and not module_name.startswith("torch"):
        raise ValueError(f"Refusing to build {spec['_target_']!r}: not a wavedil or torch class.")
    target = getattr(importlib.import_module(module_name), name)
    return target(**args)
