"""The built-in backends, one module per engine. Importing this package imports no engine.

>>> import abstractad as ad
>>> ad.backends.FiniteDiff(method="central")
FiniteDiff(method='central', step=None, vectorized=None)
"""

from __future__ import annotations

import importlib
from typing import Any

from abstractad import _arrays, _errors

# backend name -> (module in this package, class, the engine's import name)
BUILTIN: dict[str, tuple[str, str, str | None]] = {
    "jax": ("jax", "Jax", "jax"),
    "torch": ("torch", "Torch", "torch"),
    "tensorflow": ("tensorflow", "TensorFlow", "tensorflow"),
    "autograd": ("autograd", "Autograd", "autograd"),
    "finitediff": ("finitediff", "FiniteDiff", None),
}
# The array libraries: the module in this package that registers each one's conversions (and namespace,
# where array-api-compat has none) with abstractad._arrays, imported on first need; the top-level modules
# of its array types; where its dtypes live by name; whether f is evaluated on its arrays as they are.
_arrays.register_library("jax", f"{__name__}._jax_arrays", ("jax", "jaxlib"), dtypes="jax.numpy", own_arrays=True)
_arrays.register_library("torch", f"{__name__}._torch_arrays", ("torch",), dtypes="torch", own_arrays=True)
_arrays.register_library(
    "tensorflow",
    f"{__name__}._tensorflow_arrays",
    ("tensorflow", "keras", "tf_keras"),
    dtypes="tensorflow",
    own_arrays=True,
    namespace=True,
)
_arrays.register_library("autograd", f"{__name__}._autograd_arrays", ("autograd",), namespace=True)

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
