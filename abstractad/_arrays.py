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
    kind = type(x)
    try:
        return _LIBRARY_OF_TYPE[kind]
    except KeyError:
        pass
    module = kind.__module__.split(".", 1)[0]
    lib = None
    if module in ("jax", "jaxlib"):
        lib = "jax"
    elif module in ("numpy", "torch", "tensorflow", "autograd"):
        lib = module
    elif module == "keras" or module == "tf_keras":
        lib = "tensorflow"
    if lib is not None and not (hasattr(kind, "shape") and hasattr(kind, "dtype")):
        lib = None  # not an array but another object of the library (a torch.nn.Module, a device)
    if len(_LIBRARY_OF_TYPE) < 4096:  # types are few; a bound all the same
        _LIBRARY_OF_TYPE[kind] = lib
    return lib


_LIBRARY_OF_TYPE: dict[type, str | None] = {}


def is_dtensor(x: Any) -> bool:
    """A torch DTensor (``torch.distributed.tensor``), recognised without importing torch."""
    kind = type(x)
    return kind.__name__ == "DTensor" and kind.__module__.startswith("torch.distributed")


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
    if library_of(x) == "torch":
        # Not through the cache: torch.compile traces this function, and a module-level dict read while
        # tracing becomes a guard on the whole dict (a recompile of every compiled operator whenever a
        # dtype is added) and fails outright once the dict holds a TensorFlow DType.
        return str(dtype).rsplit(".", 1)[-1]
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        pass
    name = getattr(dtype, "name", None)
    if not isinstance(name, str):
        name = str(dtype).rsplit(".", 1)[-1]
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:  # an unhashable dtype object: not cached
        pass
    return name


# dtype object -> name: reading NumPy's dtype.name costs microseconds on every call.
_DTYPE_NAMES: dict[Any, str] = {}


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
    # An autograd box wins: numpy arrays mixed with boxes must go through autograd.numpy; so does
    # sparsity detection's tracer, over arrays of any library (constants to it).
    if "abstractad-tracer" in libraries:
        return _EXTRA_NAMESPACES["abstractad-tracer"](*arrays)
    lib = "autograd" if "autograd" in libraries else libraries.pop() if len(libraries) == 1 else None
    if lib is None:
        raise TypeError(f"array_namespace: arrays of several libraries were mixed: {sorted(map(str, libraries))}")
    if lib == "autograd":
        return _autograd_namespace()
    if lib in _EXTRA_NAMESPACES:
        return _EXTRA_NAMESPACES[lib](*arrays)
    if lib == "tensorflow":  # array-api-compat does not cover TensorFlow: the engine module has an adapter
        import importlib

        return importlib.import_module("abstractad.backends.tensorflow").namespace(*arrays)
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
        if not a.requires_grad:
            try:  # a plain CPU tensor: its own buffer
                return a.numpy()
            except (TypeError, RuntimeError):  # on a GPU, bfloat16, a lazy conjugate or negation bit
                pass
        a = a.detach().cpu().resolve_conj().resolve_neg()
        if str(a.dtype) == "torch.bfloat16":  # NumPy's bfloat16 is ml_dtypes', with the same bits
            import ml_dtypes
            import torch

            return a.view(torch.uint16).numpy().view(ml_dtypes.bfloat16)
        return a.numpy()
    if lib == "tensorflow":
        return a.numpy()
    if lib == "autograd":
        raise TypeError("an autograd box cannot leave its trace: it is being differentiated")
    return np.asarray(a)


def _cpu(device: Any) -> bool:
    return device is None or str(getattr(device, "platform", device)).startswith("cpu")


def _dlpack_source(a: Any) -> Any:
    """An object with ``__dlpack__`` holding `a`'s data, or None where DLPack cannot carry it."""
    lib = library_of(a)
    if lib == "torch":
        a = a.detach()
        if a.is_conj() or a.is_neg():
            return None
        return a
    if lib == "tensorflow":
        import tensorflow as tf

        a = tf.convert_to_tensor(a)  # a tf.Variable: its current value
        return _Capsule(tf.experimental.dlpack.to_dlpack(a), a)
    if lib in ("jax", "numpy"):
        return a if hasattr(a, "__dlpack__") else None
    return None


class _Capsule:
    """Gives a bare DLPack capsule (TensorFlow's export) the ``__dlpack__`` protocol."""

    def __init__(self, capsule: Any, owner: Any) -> None:
        self.capsule, self.owner = capsule, owner

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0) if "CPU" in self.owner.device.upper() or not self.owner.device else (2, 0)


_CONVERTERS: dict[tuple[str, str], Any] = {}


def register_converter(source: str, target: str, fn: Any) -> None:
    """Register a direct conversion ``fn(a, info: ArrayInfo) -> array or None``, tried first by `convert`."""
    _CONVERTERS[(source, target)] = fn


def convert(a: Any, library: str, device: Any = None) -> Any:
    """`a` as an array of `library` ("numpy", "jax", "torch", "tensorflow") on `device`.

    DLPack carries the data without a copy between JAX, PyTorch, NumPy and TensorFlow on the
    same device; a copy happens where DLPack cannot be used (a tensor with a lazy conjugate
    or negation bit, a read-only or unaligned NumPy buffer for JAX, a change of device).

    >>> import numpy as np
    >>> convert(np.ones(2), "numpy").tolist()
    [1.0, 1.0]
    """
    src = library_of(a)
    if src is None:
        a, src = np.asarray(a), "numpy"
    if src == library and (library == "numpy" or device is None or _same_device(a, device)):
        return a
    direct = _CONVERTERS.get((src, library))
    if direct is not None:
        out = direct(a, ArrayInfo(library, dtype_name(a), shape_of(a), device))
        if out is not None:
            return out
    if library == "numpy":
        return to_numpy(a)
    source = _dlpack_source(a)
    if source is not None:
        try:
            out = _from_dlpack(source, library)
        except Exception:  # refused by the importer (layout, dtype, alignment): copy below
            out = None
        if out is not None:
            return _to_device(out, library, device)
    return _to_device(from_numpy(to_numpy(a), ArrayInfo(library, dtype_name(a), shape_of(a))), library, device)


def _same_device(a: Any, device: Any) -> bool:
    here = getattr(a, "device", None)
    if callable(here):
        here = here()
    return str(here) == str(device)


def _from_dlpack(source: Any, library: str) -> Any:
    if library == "torch":
        import torch

        return torch.from_dlpack(source)
    if library == "jax":
        import jax

        return jax.dlpack.from_dlpack(source)
    if library == "tensorflow":
        # TensorFlow's DLPack import aborts the process on unaligned buffers and refuses
        # non-contiguous ones: its backend checks both and copies through NumPy where needed.
        from abstractad.backends.tensorflow import _to_tensor

        return _to_tensor(source)
    return None


def _to_device(a: Any, library: str, device: Any) -> Any:
    if device is None:
        return a
    if library == "torch":
        return a.to(device)
    if library == "jax":
        import jax

        return jax.device_put(a, device)
    return a


def from_numpy(a: np.ndarray, info: ArrayInfo) -> Any:
    """A NumPy array as `info.library`'s array on `info.device`."""
    if info.library in ("python", "numpy"):
        return a
    if info.library == "torch":
        from abstractad.backends.torch import _from_numpy

        t = _from_numpy(a)
        return t if _cpu(info.device) else t.to(info.device)
    if info.library == "jax":
        import jax

        return jax.device_put(a, info.device) if info.device is not None else jax.numpy.asarray(a)
    if info.library == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(a)
    raise TypeError(f"cannot convert results to {info.library}")


def restore(a: Any, info: ArrayInfo) -> Any:
    """Bring a result back to the library and device the user gave (a no-op for the same library)."""
    if a is None:
        return None
    target = "numpy" if info.library == "python" else info.library
    lib = library_of(a)
    if (lib == target and target != "torch") or (lib == "autograd" and target == "numpy"):
        return a  # an autograd box (from a boxed seed or constant) stays boxed: its trace differentiates it
    if target == "jax" and info.dtype in ("float64", "complex128"):
        import jax

        with jax.enable_x64(True):  # else JAX would make the float64 result float32
            out = convert(a, target)
    else:
        out = convert(a, target, info.device if target == "torch" else None)
    if isinstance(out, np.ndarray) and not out.flags.writeable:
        # A read-only view of an engine's buffer (JAX's are immutable): NumPy users expect to
        # write into their results (SciPy's solvers do), so they get their own copy.
        out = out.copy()
    return out


def restore_python(a: Any, info: ArrayInfo) -> Any:
    """As `restore`; a 0-d result for a Python float becomes a float, for a NumPy scalar a NumPy scalar."""
    out = restore(a, info)
    if info.scalar and isinstance(out, (np.ndarray, np.generic)) and out.ndim == 0:
        return out.item() if info.library == "python" else out[()]
    if info.library == "numpy" and not info.scalar and isinstance(out, np.generic):
        return np.asarray(out)
    return out
