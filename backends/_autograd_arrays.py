"""autograd's boxes for ``abstractad._arrays``: the Array API namespace on top of ``autograd.numpy``.

Registered at import; ``abstractad.backends`` names this module, which ``_arrays`` imports on first
need (``ad.array_namespace`` of a box). It imports no backend. autograd's values are NumPy arrays,
which convert as NumPy's do.
"""

from __future__ import annotations

from typing import Any, ClassVar

import autograd.numpy as anp
import numpy as np

from abstractad import _arrays


class _AutogradNamespace:
    """The Array API names on top of ``autograd.numpy``, so that one `f` runs on autograd boxes."""

    _renames: ClassVar[dict[str, str]] = {
        "concat": "concatenate",
        "pow": "power",
        "permute_dims": "transpose",
        "acos": "arccos",
        "asin": "arcsin",
        "atan": "arctan",
        "atan2": "arctan2",
        "acosh": "arccosh",
        "asinh": "arcsinh",
        "atanh": "arctanh",
        "bitwise_invert": "invert",
    }

    def __init__(self) -> None:
        self._anp = anp
        self.float32, self.float64 = np.float32, np.float64
        self.complex64, self.complex128 = np.complex64, np.complex128
        self.int32, self.int64, self.bool = np.int32, np.int64, np.bool_

    def __getattr__(self, name: str) -> Any:
        target = self._renames.get(name, name)
        try:
            fn = getattr(self._anp, target)
        except AttributeError:
            raise AttributeError(f"array_namespace(autograd) has no function {name!r}") from None
        return fn

    # Creation functions take the Array API's `device=` keyword, which NumPy ignores.
    def _creation(name):
        def fn(self, *args, device=None, **kwargs):
            return getattr(self._anp, name)(*args, **kwargs)

        fn.__name__ = name
        return fn

    zeros = _creation("zeros")
    ones = _creation("ones")
    empty = _creation("empty")
    full = _creation("full")
    eye = _creation("eye")
    arange = _creation("arange")
    linspace = _creation("linspace")

    def asarray(self, obj, dtype=None, device=None, copy=None):
        return self._anp.array(obj, dtype=dtype) if copy else self._anp.asarray(obj, dtype=dtype)

    def astype(self, x, dtype, copy=True):
        return self._anp.astype(x, dtype) if hasattr(self._anp, "astype") else x.astype(dtype)

    def matrix_transpose(self, x):
        return self._anp.swapaxes(x, -1, -2)

    def vecdot(self, x1, x2, axis=-1):
        return self._anp.sum(self._anp.conj(x1) * x2, axis=axis)

    @property
    def linalg(self) -> Any:
        return _AutogradLinalg(self._anp)

    def __repr__(self) -> str:
        return "<abstractad Array API namespace for autograd>"


class _AutogradLinalg:
    """The Array API's ``linalg`` extension on ``autograd.numpy.linalg`` (whose functions have VJPs)."""

    def __init__(self, anp: Any) -> None:
        self._anp = anp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._anp.linalg, name)

    def vector_norm(self, x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
        anp = self._anp
        if axis is None:
            x, axis = anp.ravel(x), 0
        return anp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)

    def matrix_norm(self, x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
        return self._anp.linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


_NAMESPACE = _AutogradNamespace()


def namespace(*arrays: Any) -> _AutogradNamespace:
    """The Array API namespace for autograd's boxes (and NumPy arrays beside them): ``ad.array_namespace``'s answer.

    >>> import numpy as np
    >>> float(namespace().sum(np.array([1.0, 2.0])))
    3.0
    """
    return _NAMESPACE


_arrays.register_namespace("autograd", namespace)
