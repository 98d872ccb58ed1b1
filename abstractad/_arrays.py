"""Arrays: which library an array belongs to, Array API namespaces, dtype rules, conversions.

Libraries are recognised by ``type(x).__module__`` so that nothing is imported to ask. What a
library's arrays need beyond NumPy's ways (conversions, an Array API namespace) its own module in
``abstractad.backends`` registers; ``abstractad.backends`` names that module (`register_library`),
and it is imported by name on first need, so this module imports no engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import numbers
import sys
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from . import _errors


def library_of(x: Any) -> str | None:
    """The array library `x` belongs to ("numpy", "jax", "torch", "tensorflow", "autograd"), else None."""
    kind = type(x)
    try:
        return _LIBRARY_OF_TYPE[kind]
    except KeyError:
        pass
    lib = _LIBRARY_OF_MODULE.get(kind.__module__.split(".", 1)[0])
    if lib is not None and not (hasattr(kind, "shape") and hasattr(kind, "dtype")):
        lib = None  # not an array but another object of the library (a torch.nn.Module, a device)
    if len(_LIBRARY_OF_TYPE) < 4096:  # types are few; a bound all the same
        _LIBRARY_OF_TYPE[kind] = lib
    return lib


_LIBRARY_OF_TYPE: dict[type, str | None] = {}
# top-level module of an array type -> its library (`register_library` adds the engines')
_LIBRARY_OF_MODULE: dict[str, str] = {"numpy": "numpy"}


# ----------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class Converters:
    """How one library's arrays convert, registered by its module (`register_converters`). A None
    field means NumPy's way: ``np.asarray``, no DLPack, no device."""

    device: Callable[[Any], Any] | None = None  # the device an array is on (None: not recorded)
    to_numpy: Callable[[Any], np.ndarray] | None = None
    dlpack_source: Callable[[Any], Any] | None = None  # an object with __dlpack__ holding the data, or None
    from_dlpack: Callable[[Any], Any] | None = None  # such an object as this library's array (may raise)
    from_numpy: Callable[[np.ndarray, Any], Any] | None = None  # (a, device or None) -> this library's array
    to_device: Callable[[Any, Any], Any] | None = None  # (a, device) -> a on device
    # results come back on the device of the user's array, also from this library's own arrays
    restore_device: bool = False
    scope: Callable[[str], contextlib.AbstractContextManager] | None = None  # (dtype name) -> a context for results
    # what a cached plan depends on in an array (None: its type, shape and dtype)
    plan_key: Callable[[Any], Hashable] | None = None


_NO_CONVERTERS = Converters()
_CONVERTERS: dict[str, Converters] = {}
_NAMESPACES: dict[str, Any] = {}
_MODULES: dict[str, str] = {}  # library -> the module that registers its converters and namespace, not yet imported
_OWN_NAMESPACE: set[str] = set()  # libraries whose namespace is their module's (array-api-compat has none)
_OWN_ARRAYS: set[str] = set()  # libraries whose arrays are not NumPy's (see has_own_arrays)
_DTYPE_MODULES: dict[str, str] = {}  # library -> the module whose attributes are its dtypes by name


def register_library(
    library: str,
    module: str,
    type_modules: tuple[str, ...] = (),
    *,
    dtypes: str | None = None,
    own_arrays: bool = False,
    namespace: bool = False,
) -> None:
    """Make `library` known (``abstractad.backends`` does, for the engines' libraries, importing none).

    `module` registers its converters (and its namespace, if `namespace`: else array-api-compat's) and
    is imported on first need; `type_modules` are the top-level modules of its array types; `dtypes`
    the module whose attributes are its dtypes by name (read only once imported); `own_arrays` says
    that its arrays are not NumPy's (not autograd's boxes), so that `f` may be evaluated on them as they are.
    """
    _MODULES[library] = module
    if namespace:
        _OWN_NAMESPACE.add(library)
    if dtypes is not None:
        _DTYPE_MODULES[library] = dtypes
    if own_arrays:
        _OWN_ARRAYS.add(library)
    for name in type_modules or (library,):
        _LIBRARY_OF_MODULE[name] = library
    for kind in [kind for kind, lib in _LIBRARY_OF_TYPE.items() if lib is None]:
        del _LIBRARY_OF_TYPE[kind]  # seen before this library was known


def has_own_arrays(library: str | None) -> bool:
    """Whether `library`'s arrays are its own (JAX's, PyTorch's, TensorFlow's), not NumPy's or boxes of them."""
    return library in _OWN_ARRAYS


def library_dtype(library: str | None, name: str) -> Any:
    """`library`'s dtype called `name` (bfloat16, which the Array API does not name), or None while unknown."""
    module = _DTYPE_MODULES.get(library or "")
    found = sys.modules.get(module) if module is not None else None
    return getattr(found, name, None) if found is not None else None


def register_type(kind: type, library: str) -> None:
    """Let a module say which library its array type belongs to, where the type's module does not
    (abstractad's own sparsity tracer: ``"abstractad-tracer"``)."""
    _LIBRARY_OF_TYPE[kind] = library


def register_converters(library: str, converters: Converters) -> None:
    """Let a library's module say how its arrays convert (called by that module at import)."""
    _CONVERTERS[library] = converters


def register_namespace(library: str, factory: Any) -> None:
    """Let a library's module provide the namespace of its arrays (called by that module at import)."""
    _NAMESPACES[library] = factory


def _load(library: str) -> None:
    """Import the module that registers `library`, if it has one and it has not been imported yet."""
    module = _MODULES.get(library)
    if module is not None:
        importlib.import_module(module)
        _MODULES.pop(library, None)


def _converters(library: str | None) -> Converters:
    found = _CONVERTERS.get(library)  # type: ignore[arg-type]
    if found is not None:  # NumPy and unknown libraries have none: no exception raised on each call
        return found
    if library in _MODULES:
        _load(library)
    return _CONVERTERS.get(library, _NO_CONVERTERS)  # type: ignore[arg-type]


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
        return _NAMESPACES["abstractad-tracer"](*arrays)
    lib = "autograd" if "autograd" in libraries else libraries.pop() if len(libraries) == 1 else None
    if lib is None:
        raise TypeError(f"array_namespace: arrays of several libraries were mixed: {sorted(map(str, libraries))}")
    factory = _NAMESPACES.get(lib)  # type: ignore[arg-type]
    if factory is None and lib in _OWN_NAMESPACE:  # array-api-compat does not cover it: its module has one
        _load(lib)  # type: ignore[arg-type]
        factory = _NAMESPACES.get(lib)  # type: ignore[arg-type]
    if factory is not None:
        return factory(*arrays)
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
    device_of = _converters(lib).device
    device = device_of(x) if device_of is not None else None
    return ArrayInfo(lib, dtype, shape_of(x), device, scalar=isinstance(x, np.generic))


def is_tracer(x: Any) -> bool:
    """A tracer (JAX's, sparsity detection's): an array without concrete values."""
    return "Tracer" in type(x).__name__


def to_numpy(a: Any) -> np.ndarray:
    """Any library's array as a NumPy array (zero copy where the library allows)."""
    lib = library_of(a)
    if lib == "autograd":
        raise TypeError("an autograd box cannot leave its trace: it is being differentiated")
    own = _converters(lib).to_numpy
    return own(a) if own is not None else np.asarray(a)


def numpy_converter(library: str | None) -> Callable[[Any], np.ndarray]:
    """`to_numpy` for the arrays of one engine's library, its converter looked up once."""
    own = None if library == "autograd" else _converters(library).to_numpy
    return to_numpy if own is None else own


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
    if library == "numpy":
        return to_numpy(a)
    target = _converters(library)
    exporter = _converters(src).dlpack_source
    source = exporter(a) if exporter is not None and target.from_dlpack is not None else None
    if source is not None:
        try:
            out = target.from_dlpack(source)  # type: ignore[misc]
        except Exception:  # refused by the importer (layout, dtype, alignment): copy below
            out = None
        if out is not None:
            return _to_device(out, target, device)
    return _to_device(from_numpy(to_numpy(a), ArrayInfo(library, dtype_name(a), shape_of(a))), target, device)


def _numpy_dlpack_source(a: Any) -> Any:
    return a if hasattr(a, "__dlpack__") else None


def _same_device(a: Any, device: Any) -> bool:
    here = getattr(a, "device", None)
    if callable(here):
        here = here()
    return str(here) == str(device)


def _to_device(a: Any, target: Converters, device: Any) -> Any:
    if device is None or target.to_device is None:
        return a
    return target.to_device(a, device)


def from_numpy(a: np.ndarray, info: ArrayInfo) -> Any:
    """A NumPy array as `info.library`'s array on `info.device`."""
    if info.library in ("python", "numpy"):
        return a
    own = _converters(info.library).from_numpy
    if own is None:
        raise TypeError(f"cannot convert results to {info.library}")
    return own(a, info.device)


def plan_key(a: Any, library: str) -> Hashable:
    """What a cached plan depends on in an array of `library`: its type, shape and dtype, and whatever
    else its library registers (torch: the device, ``requires_grad``, inference mode)."""
    own = _converters(library).plan_key
    return (type(a), a.shape, a.dtype) if own is None else own(a)


def home_device(a: Any) -> Any:
    """The device results come back to for the user's array `a`: its own, for a library whose results
    return to the user's device (torch); else None (the library places them itself)."""
    own = _converters(library_of(a))
    return own.device(a) if own.restore_device and own.device is not None else None


def restore(a: Any, info: ArrayInfo) -> Any:
    """Bring a result back to the library and device the user gave (a no-op for the same library)."""
    if a is None:
        return None
    target = "numpy" if info.library == "python" else info.library
    lib = library_of(a)
    own = _converters(target)
    if (lib == target and not own.restore_device) or (lib == "autograd" and target == "numpy"):
        return a  # an autograd box (from a boxed seed or constant) stays boxed: its trace differentiates it
    device = info.device if own.restore_device else None
    if own.scope is not None:
        with own.scope(info.dtype):
            out = convert(a, target, device)
    else:
        out = convert(a, target, device)
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


register_converters("numpy", Converters(dlpack_source=_numpy_dlpack_source))
