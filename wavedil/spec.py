"""Self-describing objects: a constructor call recorded as a plain dict.

A model decorated with :func:`serializable` remembers the arguments it was built
with; :func:`to_spec` turns it into ``{"_target_": "pkg.Class", **args}`` (nested
objects included, the same shape as a Hydra config) and :func:`from_spec` builds it
again. Checkpoints store this dict, so a checkpoint alone rebuilds its model.

A spec may come from someone else's file, so :func:`from_spec` calls nothing but
the ``@serializable`` classes named in its ``allowed`` set (exact names; the
checkpoint loader passes the models and their parts): any other target, a
``torch`` or ``os`` function as much as a wavedil one, is refused before anything
is imported.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["SpecError", "from_spec", "registered", "registered_class", "serializable",
           "to_spec"]

T = TypeVar("T", bound=type)

_ARGS = "_wavedil_init_args"

#: "module.QualName" -> every class decorated with :func:`serializable`.
_REGISTRY: dict[str, type] = {}


class SpecError(ValueError):
    """A spec that names something it may not build, or is malformed."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_class(name: str) -> type | None:
    """The ``@serializable`` class called ``name`` (``"module.QualName"``), or ``None``."""
    return _REGISTRY.get(name)


def registered() -> frozenset[str]:
    """The names of the classes decorated with :func:`serializable` so far."""
    return frozenset(_REGISTRY)


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
    _REGISTRY[_name(cls)] = cls
    return cls


def to_spec(obj: Any) -> Any:
    """The constructor call of ``obj`` as plain data (recursively)."""
    record = getattr(obj, "__dict__", {}).get(_ARGS)
    if record is not None:
        cls, args = record
        return {"_target_": _name(cls),
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


def from_spec(spec: Any, allowed: frozenset[str] | set[str] | None = None) -> Any:
    """Build the object described by :func:`to_spec` output.

    Args:
        spec: plain data from :func:`to_spec`.
        allowed: the exact ``module.QualName`` targets that may be built (each must
            also be a ``@serializable`` class); ``None``: every such class.

    Raises:
        SpecError: a target that is not allowed (nothing is imported or called for
            it), or a malformed spec.
    """
    if isinstance(spec, list):
        return [from_spec(v, allowed) for v in spec]
    if not isinstance(spec, Mapping):
        return spec
    if "_target_" not in spec:
        return {k: from_spec(v, allowed) for k, v in spec.items()}
    target = spec["_target_"]
    if not isinstance(target, str) or (allowed is not None and target not in allowed):
        raise SpecError(f"Refusing to build {target!r}: not one of the classes a checkpoint "
                        "may build (wavedil's models and their parts).")
    if target not in _REGISTRY:
        module_name = target.rpartition(".")[0]
        if not module_name.startswith("wavedil."):
            raise SpecError(f"Refusing to build {target!r}: not a wavedil class.")
        importlib.import_module(module_name)  # a wavedil module registers its classes
    cls = _REGISTRY.get(target)
    if cls is None:
        raise SpecError(f"Refusing to build {target!r}: not a @serializable wavedil class.")
    args = {k: from_spec(v, allowed) for k, v in spec.items() if k != "_target_"}
    return cls(**args)
