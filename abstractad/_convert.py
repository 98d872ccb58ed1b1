"""The per-call conversions of single arrays between the user's libraries and the engine's: arguments
in (the backend's arrays, or NumPy ones a compiled operator takes itself), seeds raveled, and seeds
and constants in x's library where the backend computes on it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays
from ._backend import Backend
from ._tree import Layout


def to_native(b: Backend, a: Any, info: _arrays.ArrayInfo | None = None) -> Any:
    """`a` (any library's array or a Python number) as the backend's array."""
    if not _arrays.is_array(a):
        a = np.asarray(a, dtype=info.dtype if info is not None and info.library == "python" else None)
    return b.asarray(a)


def numpy_float(a: Any) -> bool:
    """A NumPy float array (float32 or wider) that a compiled operator taking NumPy gets as it is."""
    return type(a) is np.ndarray and a.dtype.kind == "f" and a.dtype.itemsize > 2


def to_argument(b: Backend, a: Any, info: _arrays.ArrayInfo | None = None) -> Any:
    """`a` as an argument of the backend's compiled operator: a NumPy array as it is where the
    compiled operator transfers it itself (``jax.jit``), else the backend's array."""
    if b.takes_numpy and numpy_float(a):
        return a
    return to_native(b, a, info)


def numpy_result(a: Any) -> np.ndarray:
    """An engine's result (an array of a library other than NumPy) as a NumPy x's user gets it back: what
    ``_arrays.restore_python`` gives for a NumPy array x, in fewer steps (the SciPy user's direct call).
    Zero copy where the engine allows; a writable copy of a read-only buffer (JAX's)."""
    out = _arrays.to_numpy(a)
    if isinstance(out, np.generic):
        return np.asarray(out)
    return out if out.flags.writeable else out.copy()


def engine_library(b: Backend) -> str | None:
    """The array library of the backend's own arrays ("torch" for Torch, "numpy" for Autograd)."""
    return _arrays.library_of(b.asarray(np.zeros(1, dtype=np.float32)))


def numpy_results(library: str | None) -> Callable[[Any], np.ndarray]:
    """numpy_result for the arrays of one library, its converter looked up once (a direct call's)."""
    own = _arrays.numpy_converter(library)

    def result(a: Any) -> np.ndarray:
        out = own(a)
        return out if type(out) is np.ndarray and out.flags.writeable else numpy_result(out)

    return result


def ravel_seed(b: Backend, leaves: Sequence[Any], layout: Layout, dtype: str) -> Any:
    """A seed's leaves as one flat vector of the backend's arrays, in `dtype` (x's)."""
    natives = [to_native(b, leaf) for leaf in leaves]
    return layout.ravel(natives, b.namespace(natives[0]), dtype)


def native_like_x(b: Backend, a: Any, info: _arrays.ArrayInfo) -> Any:
    """`a` as the backend's array for an operator at an x described by `info`: its asarray, and in
    x's library where the backend computes on x's own (see Backend.follows_x)."""
    native = to_native(b, a)
    return follow(native, info) if b.follows_x else native


def follow(a: Any, info: _arrays.ArrayInfo) -> Any:
    """`a` in the library and on the device that `info` (x's) says, in its own dtype and shape."""
    if _arrays.library_of(a) == ("numpy" if info.library == "python" else info.library):
        return a
    return _arrays.restore(a, dataclasses.replace(info, dtype=_arrays.dtype_name(a), shape=_arrays.shape_of(a)))


def plain_tensor(a: Any) -> bool:
    """A torch tensor the operator may take as it is: no autograd history wanted, not an inference
    tensor (the backend's asarray detaches and clones those)."""
    return not a.requires_grad and not a.is_inference()
