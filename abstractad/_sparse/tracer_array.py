"""The array type of sparsity detection by tracing: :class:`Tracer`, an array of index sets.

A Tracer stands for an array whose values are unknown; it carries, for each element, the set of inputs
it may depend on (:mod:`.deps`). Its operators, its methods and NumPy's and PyTorch's protocols
(``np.sin(x)``, ``torch.cat``) all go to the functions of its namespace (:mod:`.tracer_namespace`);
converting it to a value (``if x[0] > 0``, ``float(x)``) raises :class:`TraceError`, as no value is
ever known.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .deps import Deps, HessianPairs


class TraceError(TypeError):
    """`f` did something that sparsity detection cannot follow."""


class Trace:
    """One detection run: the number of inputs and, for Hessians, the pairs collected."""

    def __init__(self, n: int, second_order: bool) -> None:
        self.n = n
        self.pairs = HessianPairs(n) if second_order else None


class Tracer:
    """An array of unknown values whose elements know which inputs they depend on."""

    __slots__ = ("deps", "dtype", "shape", "trace")
    __array_priority__ = 1000  # NumPy arrays defer their operators to ours
    # Every operation is a function of the namespace, which :mod:`.tracer_namespace` sets here when it is
    # imported (it makes Tracers, so it imports this module, not the other way round).
    namespace: ClassVar[Any] = None

    def __init__(self, trace: Trace, deps: Deps | None, shape: tuple[int, ...], dtype: Any) -> None:
        self.trace = trace
        self.deps = deps
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)

    # ------------------------------------------------------------------ array attributes
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def T(self) -> Tracer:
        return self.namespace.permute_dims(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tracer:
        return self.namespace.matrix_transpose(self)

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        return self.namespace

    def __repr__(self) -> str:
        return f"Tracer(shape={self.shape}, dtype={self.dtype})"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # Values are unknown: converting to a Python value is control flow on values.
    def _no_value(self, *args: Any) -> Any:
        raise TraceError(
            "sparsity detection runs f on index sets, not numbers, so f cannot branch on or convert its "
            "values (if, while, float(), int(), .item()). Use xp.where for a value-dependent choice, or "
            "pass the pattern yourself: Sparse(backend, sparsity=...)"
        )

    __bool__ = __float__ = __int__ = __index__ = __complex__ = item = tolist = _no_value

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TraceError(
            "sparsity detection runs f on index-set arrays, and f (or a library function it called, such as "
            f"tf.sin) tried to turn one into a NumPy array or another library's tensor; {HINT}"
        )

    # ------------------------------------------------------------------ NumPy and PyTorch protocols
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if kwargs.get("out") is not None:
            raise TraceError(f"sparsity detection cannot follow {ufunc.__name__}(..., out=): write to a new array")
        name = _NUMPY_UFUNCS.get(ufunc.__name__, ufunc.__name__)
        if method == "__call__" and hasattr(self.namespace, name):
            return getattr(self.namespace, name)(*inputs)
        if method == "reduce" and ufunc.__name__ in ("add", "multiply", "maximum", "minimum"):
            reducer = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min"}[ufunc.__name__]
            return getattr(self.namespace, reducer)(
                inputs[0], axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False)
            )
        if method == "accumulate" and ufunc.__name__ in ("add", "multiply"):
            return self.namespace._spread(inputs[0], kwargs.get("axis", 0), ufunc.__name__ == "multiply")
        return NotImplemented

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        name = _NUMPY_FUNCTIONS.get(func.__name__, func.__name__)
        fn = getattr(self.namespace, name, None)
        if fn is None or name.startswith("_"):
            raise TraceError(f"sparsity detection does not know numpy.{func.__name__}; {HINT}")
        return fn(*args, **kwargs)

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        name = getattr(func, "__name__", str(func))
        name = _TORCH_NAMES.get(name, name)
        if "dim" in kwargs:
            kwargs["axis"] = kwargs.pop("dim")
        if "keepdim" in kwargs:
            kwargs["keepdims"] = kwargs.pop("keepdim")
        if kwargs.pop("out", None) is not None:
            raise TraceError(f"sparsity detection cannot follow torch.{name}(..., out=): write to a new array")
        fn = getattr(cls.namespace, name, None)
        if fn is None or name.startswith("_"):
            raise TraceError(f"sparsity detection does not know torch.{name}; {HINT}")
        return fn(*args, **kwargs)

    # ------------------------------------------------------------------ operators
    def __add__(self, o: Any) -> Tracer:
        return self.namespace.add(self, o)

    def __radd__(self, o: Any) -> Tracer:
        return self.namespace.add(o, self)

    def __sub__(self, o: Any) -> Tracer:
        return self.namespace.subtract(self, o)

    def __rsub__(self, o: Any) -> Tracer:
        return self.namespace.subtract(o, self)

    def __mul__(self, o: Any) -> Tracer:
        return self.namespace.multiply(self, o)

    def __rmul__(self, o: Any) -> Tracer:
        return self.namespace.multiply(o, self)

    def __truediv__(self, o: Any) -> Tracer:
        return self.namespace.divide(self, o)

    def __rtruediv__(self, o: Any) -> Tracer:
        return self.namespace.divide(o, self)

    def __floordiv__(self, o: Any) -> Tracer:
        return self.namespace.floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Tracer:
        return self.namespace.floor_divide(o, self)

    def __mod__(self, o: Any) -> Tracer:
        return self.namespace.remainder(self, o)

    def __rmod__(self, o: Any) -> Tracer:
        return self.namespace.remainder(o, self)

    def __pow__(self, o: Any) -> Tracer:
        return self.namespace.pow(self, o)

    def __rpow__(self, o: Any) -> Tracer:
        return self.namespace.pow(o, self)

    def __matmul__(self, o: Any) -> Tracer:
        return self.namespace.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Tracer:
        return self.namespace.matmul(o, self)

    def __neg__(self) -> Tracer:
        return self.namespace.negative(self)

    def __pos__(self) -> Tracer:
        return self

    def __abs__(self) -> Tracer:
        return self.namespace.abs(self)

    def __lt__(self, o: Any) -> Tracer:
        return self.namespace.less(self, o)

    def __le__(self, o: Any) -> Tracer:
        return self.namespace.less_equal(self, o)

    def __gt__(self, o: Any) -> Tracer:
        return self.namespace.greater(self, o)

    def __ge__(self, o: Any) -> Tracer:
        return self.namespace.greater_equal(self, o)

    def __eq__(self, o: Any) -> Tracer:  # type: ignore[override]
        return self.namespace.equal(self, o)

    def __ne__(self, o: Any) -> Tracer:  # type: ignore[override]
        return self.namespace.not_equal(self, o)

    def __and__(self, o: Any) -> Tracer:
        return self.namespace.logical_and(self, o)

    def __or__(self, o: Any) -> Tracer:
        return self.namespace.logical_or(self, o)

    def __invert__(self) -> Tracer:
        return self.namespace.logical_not(self)

    __hash__ = object.__hash__

    def __getitem__(self, key: Any) -> Tracer:
        return self.namespace._getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        out = self.namespace._setitem(self, key, value)
        self.deps, self.dtype = out.deps, np.result_type(self.dtype, out.dtype)

    # ------------------------------------------------------------------ methods (NumPy and torch style)
    def reshape(self, *shape: Any, **kwargs: Any) -> Tracer:
        if "shape" in kwargs:
            shape = kwargs.pop("shape")
        return self.namespace.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    view = reshape

    def astype(self, dtype: Any, copy: bool = True) -> Tracer:
        return self.namespace.astype(self, dtype)

    def __getattr__(self, name: str) -> Any:
        # x.sum(), x.sin(), x.transpose(...): the namespace's function with x first.
        name = _TORCH_NAMES.get(name, _NUMPY_FUNCTIONS.get(name, name))
        fn = getattr(self.namespace, name, None)
        if fn is None or name.startswith("_"):
            raise AttributeError(f"sparsity detection's arrays have no method {name!r}; {HINT}")

        def method(*args: Any, **kwargs: Any) -> Any:
            if "dim" in kwargs:
                kwargs["axis"] = kwargs.pop("dim")
            if "keepdim" in kwargs:
                kwargs["keepdims"] = kwargs.pop("keepdim")
            return fn(self, *args, **kwargs)

        return method


HINT = "write f with xp = ad.array_namespace(x), or pass the pattern: Sparse(backend, sparsity=...)"


# NumPy's names for what the Array API calls otherwise.
_NUMPY_UFUNCS = {
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "arctan2": "atan2",
    "power": "pow",
    "true_divide": "divide",
    "absolute": "abs",
    "conjugate": "conj",
    "fabs": "abs",
}
_NUMPY_FUNCTIONS = {
    **_NUMPY_UFUNCS,
    "concatenate": "concat",
    "transpose": "permute_dims",
    "amax": "max",
    "amin": "min",
    "cumsum": "cumulative_sum",
    "cumprod": "cumulative_prod",
    "around": "round",
    "round_": "round",
}
# PyTorch's.
_TORCH_NAMES = {
    "__add__": "add",
    "__radd__": "add",
    "sub": "subtract",
    "__sub__": "subtract",
    "mul": "multiply",
    "__mul__": "multiply",
    "div": "divide",
    "true_divide": "divide",
    "__truediv__": "divide",
    "neg": "negative",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arctan2": "atan2",
    "clamp": "clip",
    "cat": "concat",
    "absolute": "abs",
    "rsub": "subtract",
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
    "eq": "equal",
    "ne": "not_equal",
    "square": "square",
    "pow": "pow",
    "amax": "max",
    "amin": "min",
}
