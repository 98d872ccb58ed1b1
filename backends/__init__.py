"""The built-in backends, one module per engine. Importing this package imports no engine.

>>> import abstractad as ad
>>> ad.backends.FiniteDiff(method="central")
FiniteDiff(method='central', step=None, vectorized=None)
"""

from __future__ import annotations

import importlib
from typing import Any

from abstractad import _errors

# backend name -> (module in this package, class, the engine's import name)
BUILTIN: dict[str, tuple[str, str, str | None]] = {
    "jax": ("jax", "Jax", "jax"),
    "torch": ("torch", "Torch", "torch"),
    "tensorflow": ("tensorflow", "TensorFlow", "tensorflow"),
    "autograd": ("autograd", "Autograd", "autograd"),
    "finitediff": ("finitediff", "FiniteDiff", None),
}
_CLASSES = {cls: name for name, (_, cls, _) in BUILTIN.items()}
_WRAPPERS = {"SecondOrder": "abstractad._nesting", "Sparse": "abstractad._sparse"}  # wrappers over other backends

__all__ = sorted([*_CLASSES, *_WRAPPERS])


def load(name: str) -> type:
    """The backend class of a built-in engine; an ImportError naming the pip extra if it is missing."""
    module, cls, engine = BUILTIN[name]
    if engine is not None:
        try:
            importlib.import_module(engine)
        except ImportError as e:
            raise _errors.missing_engine(name, engine, e) from e
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def __getattr__(attr: str) -> Any:
    if attr in _CLASSES:
        return load(_CLASSES[attr])
    if attr in _WRAPPERS:
        return getattr(importlib.import_module(_WRAPPERS[attr]), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return __all__
