"""Arrays: which library an array belongs to, Array API namespaces, dtype rules, conversions.

Libraries are recognised by ``type(x).__module__`` so that nothing is imported to ask.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, ClassVar

import numpy as np

from . import _errors

LIBRARIES = ("numpy", "jax", "torch", "tensorflow", "autograd")


def library_of(x: Any) -> str | None:
    """The array library `x` belongs to ("numpy", "jax", "torch", "tensorflow", "autograd"), else None."""
    module = type(x).__module__.split(".", 1)[0]
    if module in ("jax", "jaxlib"):
        return "jax"
    if module in ("numpy", "torch", "tensorflow", "autograd"):
        return module
    if module == "keras" or module == "tf_keras":
        return "tensorflow"
    return None


def is_array(x: Any) -> bool:
    """True for an array of a known library (NumPy scalars included)."""
    return library_of(x) is not None


def dtype_name(x: Any) -> str:
    """The dtype of `x` as a plain name ("float32", "int64", "bool", ...), whatever its library."""
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, numbers.Integral):
        return "int64"
    if isinstance(x, float):
        return "float64"
    if isinstance(x, complex):
        return "complex128"
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        raise _errors.bad_input_type(x)
    name = getattr(dtype, "name", None)
    if library_of(x) == "torch" or not isinstance(name, str):
        name = str(dtype).rsplit(".", 1)[-1]
    return name


def is_float_dtype(name: str) -> bool:
    return name.startswith(("float", "bfloat", "complex"))


def check_differentiable(x: Any, what: str = "x") -> str:
    """Raise a TypeError unless `x` is floating point or complex; return its dtype name."""
    name = dtype_name(x)
    if not is_float_dtype(name):
        raise _errors.bad_dtype(name, what)
    return name


def shape_of(x: Any) -> tuple[int, ...]:
    if isinstance(x, numbers.Number):
        return ()
    return tuple(int(d) for d in x.shape)


def size_of(x: Any) -> int:
    return int(np.prod(shape_of(x), dtype=np.int64))


# ----------------------------------------------------------------------------- namespaces


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
        import autograd.numpy as anp

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

    def __repr__(self) -> str:
        return "<abstractad Array API namespace for autograd>"


@functools.cache
def _autograd_namespace() -> _AutogradNamespace:
    return _AutogradNamespace()


_EXTRA_NAMESPACES: dict[str, Any] = {}


def register_namespace(library: str, factory: Any) -> None:
    """Let an engine module provide the namespace of its arrays (used by the engine backends)."""
    _EXTRA_NAMESPACES[library] = factory


def array_namespace(*xs: Any) -> Any:
    """The Array API namespace of the arrays `xs`, tracers and autograd boxes included.

    Write `f` once against it and the same `f` runs under every engine:

    >>> import numpy as np, abstractad as ad
    >>> def f(x):
    ...     xp = ad.array_namespace(x)
    ...     return xp.sum(xp.sin(x) ** 2)
    >>> float(ad.gradient(f, np.array([0.0]), backend="finitediff")[0])
    0.0
    """
    arrays = [x for x in xs if not isinstance(x, (numbers.Number, type(None)))]
    if not arrays:
        import array_api_compat.numpy as xp_numpy

        return xp_numpy
    libraries = {library_of(x) for x in arrays}
    # An autograd box wins: numpy arrays mixed with boxes must go through autograd.numpy.
    lib = "autograd" if "autograd" in libraries else libraries.pop() if len(libraries) == 1 else None
    if lib is None:
        raise TypeError(f"array_namespace: arrays of several libraries were mixed: {sorted(map(str, libraries))}")
    if lib == "autograd":
        return _autograd_namespace()
    if lib in _EXTRA_NAMESPACES:
        return _EXTRA_NAMESPACES[lib](*arrays)
    import array_api_compat

    try:
        return array_api_compat.array_namespace(*arrays)
    except TypeError:
        raise _errors.no_namespace(arrays[0]) from None


# ----------------------------------------------------------------------------- conversions


@dataclasses.dataclass(frozen=True)
class ArrayInfo:
    """What the results must look like to come back as the user gave `x`."""

    library: str  # "numpy", "jax", "torch", "tensorflow", or "python" for a Python float
    dtype: str
    shape: tuple[int, ...]
    device: Any = None
    scalar: bool = False  # a Python float or NumPy scalar: 0-d results come back as NumPy scalars


def describe(x: Any, what: str = "x") -> ArrayInfo:
    """Check that `x` is differentiable and record its library, dtype, shape and device."""
    lib = library_of(x)
    if lib is None and isinstance(x, numbers.Number):
        if not isinstance(x, (float, complex)) or isinstance(x, bool):
            raise _errors.bad_dtype(dtype_name(x), what)
        return ArrayInfo("python", dtype_name(x), (), scalar=True)
    if lib is None:
        raise _errors.bad_input_type(x, what)
    dtype = check_differentiable(x, what)
    device = getattr(x, "device", None) if lib in ("torch", "jax") else None
    if lib == "jax":
        device = next(iter(x.devices())) if hasattr(x, "devices") and not _is_jax_tracer(x) else None
    return ArrayInfo(lib, dtype, shape_of(x), device, scalar=isinstance(x, np.generic))


def _is_jax_tracer(x: Any) -> bool:
    return "Tracer" in type(x).__name__


def to_numpy(a: Any) -> np.ndarray:
    """Any library's array as a NumPy array (zero copy where the library allows)."""
    lib = library_of(a)
    if lib == "torch":
        return a.detach().cpu().resolve_conj().resolve_neg().numpy()
    if lib == "tensorflow":
        return a.numpy()
    if lib == "autograd":
        raise TypeError("an autograd box cannot leave its trace: it is being differentiated")
    return np.asarray(a)


def from_numpy(a: np.ndarray, info: ArrayInfo) -> Any:
    """A NumPy array as `info.library`'s array on `info.device`."""
    if info.library == "python":
        return a[()] if a.ndim == 0 else a
    if info.library == "numpy":
        return a
    if info.library == "torch":
        import torch

        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.to(info.device) if info.device is not None and str(info.device) != "cpu" else t
    if info.library == "jax":
        import jax

        return jax.device_put(a, info.device) if info.device is not None else jax.numpy.asarray(a)
    if info.library == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(a)
    raise TypeError(f"cannot convert results to {info.library}")


_CONVERTERS: dict[tuple[str, str], Any] = {}


def register_converter(source: str, target: str, fn: Any) -> None:
    """Register a direct (e.g. DLPack) conversion between two libraries, used before the NumPy path."""
    _CONVERTERS[(source, target)] = fn


def restore(a: Any, info: ArrayInfo) -> Any:
    """Bring a result back to the library, dtype and device the user gave."""
    if a is None:
        return None
    src = library_of(a)
    if src is None:
        a = np.asarray(a)
        src = "numpy"
    target = "numpy" if info.library == "python" else info.library
    if src == target and (target != "torch" or info.device is None or a.device == info.device):
        return a
    direct = _CONVERTERS.get((src, target))
    if direct is not None:
        out = direct(a, info)
        if out is not None:
            return out
    return from_numpy(to_numpy(a), info)


def restore_python(a: Any, info: ArrayInfo) -> Any:
    """As `restore`, and a 0-d result for a Python float input becomes a NumPy scalar."""
    out = restore(a, info)
    if info.scalar and isinstance(out, np.ndarray) and out.ndim == 0:
        return out[()]
    if info.library == "numpy" and not info.scalar and isinstance(out, np.generic):
        return np.asarray(out)
    return out
