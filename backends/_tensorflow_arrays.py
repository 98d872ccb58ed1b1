"""TensorFlow's tensors for ``abstractad._arrays``: the Array API adapter and the conversions.

array-api-compat does not cover TensorFlow: ``namespace(x)`` here is what ``ad.array_namespace(tf_tensor)``
returns. Conversions go by DLPack where TensorFlow's import is safe, else through NumPy.

Registered at import; ``abstractad.backends`` names this module, which ``_arrays`` imports on first
need (a tensor to convert, or its namespace, before the TensorFlow backend was ever loaded). It
imports no backend.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from abstractad import _arrays, _quiet
from abstractad._autograph import skip_autograph

Tensor = Any

# TensorFlow without its start-up notices on the user's terminal (see abstractad._quiet).
tf: Any = _quiet.import_tensorflow()
skip_autograph()  # also when this module comes first: a user's tf.function need not convert the namespace


# ---------------------------------------------------------------------------- conversions


def _to_tensor(a: Any) -> Tensor:
    """Any library's array as a TensorFlow tensor, dtype kept; by DLPack (no copy) where it is safe.

    TensorFlow aborts the process on a buffer that is not 64-byte aligned, so DLPack is used only
    for contiguous, aligned CPU buffers of torch and JAX; anything else goes through NumPy.
    """
    if isinstance(a, (tf.Tensor, tf.Variable)):
        return a
    lib = _arrays.library_of(a)
    try:
        if lib == "torch":
            t = a.detach()
            plain = t.is_contiguous() and not (t.is_conj() or t.is_neg())
            if t.device.type == "cpu" and plain and _aligned(t.data_ptr()):
                return tf.experimental.dlpack.from_dlpack(t.__dlpack__())
        elif lib == "jax" and not _arrays.is_tracer(a):
            if a.platform() == "cpu" if hasattr(a, "platform") else True:
                if _aligned(a.unsafe_buffer_pointer()):
                    return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    except Exception:  # DLPack refused (dtype, layout, device): copy through NumPy instead
        pass
    return tf.convert_to_tensor(_arrays.to_numpy(a))


def _aligned(pointer: int) -> bool:
    return pointer != 0 and pointer % 64 == 0


def _cast(a: Tensor, dtype: tf.DType) -> Tensor:
    return a if a.dtype == dtype else tf.cast(a, dtype)


def _size(a: Tensor) -> int:
    return math.prod(int(d) for d in a.shape)


def _to_numpy(a: Tensor) -> np.ndarray:
    return a.numpy()


def _dlpack_source(a: Tensor) -> Any:
    a = tf.convert_to_tensor(a)  # a tf.Variable: its current value
    return _Capsule(tf.experimental.dlpack.to_dlpack(a), a)


class _Capsule:
    """Gives a bare DLPack capsule (TensorFlow's export) the ``__dlpack__`` protocol."""

    def __init__(self, capsule: Any, owner: Any) -> None:
        self.capsule, self.owner = capsule, owner

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self.capsule

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0) if "CPU" in self.owner.device.upper() or not self.owner.device else (2, 0)


# ---------------------------------------------------------------------------- Array API adapter


def _binary(name: str) -> staticmethod:
    """``tf.math.<name>`` on two operands of one dtype, as a namespace method (a staticmethod: a plain
    function in the class body would receive the namespace as its first operand)."""
    op = getattr(tf.math, name)

    def fn(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        return op(x1, x2)

    fn.__name__ = name
    return staticmethod(fn)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two operands with one dtype: a Python number takes the dtype of the tensor beside it."""
    a_t, b_t = isinstance(a, (tf.Tensor, tf.Variable)), isinstance(b, (tf.Tensor, tf.Variable))
    if a_t and not b_t:
        b = tf.constant(b, dtype=a.dtype) if isinstance(b, (int, float, complex, bool)) else tf.convert_to_tensor(b)
    elif b_t and not a_t:
        a = tf.constant(a, dtype=b.dtype) if isinstance(a, (int, float, complex, bool)) else tf.convert_to_tensor(a)
    elif not a_t and not b_t:
        a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if a.dtype != b.dtype:
        dtype = tf.as_dtype(np.result_type(a.dtype.as_numpy_dtype, b.dtype.as_numpy_dtype))
        a, b = _cast(a, dtype), _cast(b, dtype)
    return a, b


def _axis(axis: int | Sequence[int] | None) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


class TensorFlowNamespace:
    """The Python Array API on TensorFlow tensors (eager and symbolic), for `f` written once.

    >>> import tensorflow as tf
    >>> xp = namespace(tf.constant([1.0, 4.0]))
    >>> xp.sum(xp.sqrt(xp.asarray([1.0, 4.0], dtype=xp.float64))).numpy()
    np.float64(3.0)
    """

    __name__ = "abstractad.backends.tensorflow.namespace"

    float16, float32, float64 = tf.float16, tf.float32, tf.float64
    bfloat16 = tf.bfloat16
    complex64, complex128 = tf.complex64, tf.complex128
    int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
    uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
    bool = tf.bool
    e, pi, inf, nan = math.e, math.pi, math.inf, math.nan
    newaxis = None

    # elementwise, one argument
    abs = staticmethod(tf.math.abs)
    acos, acosh = staticmethod(tf.math.acos), staticmethod(tf.math.acosh)
    asin, asinh = staticmethod(tf.math.asin), staticmethod(tf.math.asinh)
    atan, atanh = staticmethod(tf.math.atan), staticmethod(tf.math.atanh)
    ceil, floor = staticmethod(tf.math.ceil), staticmethod(tf.math.floor)
    conj = staticmethod(tf.math.conj)
    cos, cosh = staticmethod(tf.math.cos), staticmethod(tf.math.cosh)
    exp, expm1 = staticmethod(tf.math.exp), staticmethod(tf.math.expm1)
    imag, real = staticmethod(tf.math.imag), staticmethod(tf.math.real)
    isfinite, isinf, isnan = staticmethod(tf.math.is_finite), staticmethod(tf.math.is_inf), staticmethod(tf.math.is_nan)
    log, log1p = staticmethod(tf.math.log), staticmethod(tf.math.log1p)
    logical_not = staticmethod(tf.math.logical_not)
    negative = staticmethod(tf.math.negative)
    round = staticmethod(tf.math.round)
    sign = staticmethod(tf.math.sign)
    sin, sinh = staticmethod(tf.math.sin), staticmethod(tf.math.sinh)
    sqrt, square = staticmethod(tf.math.sqrt), staticmethod(tf.math.square)
    tan, tanh = staticmethod(tf.math.tan), staticmethod(tf.math.tanh)

    # elementwise, two arguments
    add, subtract = _binary("add"), _binary("subtract")
    multiply, divide = _binary("multiply"), _binary("truediv")
    pow = _binary("pow")
    maximum, minimum = _binary("maximum"), _binary("minimum")
    atan2 = _binary("atan2")
    floor_divide, remainder = _binary("floordiv"), _binary("floormod")
    equal, not_equal = _binary("equal"), _binary("not_equal")
    greater, greater_equal = _binary("greater"), _binary("greater_equal")
    less, less_equal = _binary("less"), _binary("less_equal")
    logical_and, logical_or, logical_xor = _binary("logical_and"), _binary("logical_or"), _binary("logical_xor")

    @staticmethod
    def positive(x: Tensor) -> Tensor:
        return tf.identity(x)

    @staticmethod
    def trunc(x: Tensor) -> Tensor:
        return tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))

    @staticmethod
    def log2(x: Tensor) -> Tensor:
        return tf.math.log(x) / tf.math.log(tf.constant(2.0, dtype=x.dtype))

    @staticmethod
    def log10(x: Tensor) -> Tensor:
        return tf.math.log(x) / tf.math.log(tf.constant(10.0, dtype=x.dtype))

    @staticmethod
    def logaddexp(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        x1, x2 = x1 + tf.zeros_like(x2), x2 + tf.zeros_like(x1)  # broadcast: tf.stack needs one shape
        return tf.math.reduce_logsumexp(tf.stack([x1, x2]), axis=0)

    @staticmethod
    def hypot(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        return tf.math.sqrt(x1 * x1 + x2 * x2)

    @staticmethod
    def clip(x: Tensor, /, min: Any = None, max: Any = None) -> Tensor:
        if min is not None:
            x = tf.math.maximum(*_pair(x, min))
        if max is not None:
            x = tf.math.minimum(*_pair(x, max))
        return x

    # reductions
    @staticmethod
    def sum(x: Tensor, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_sum(x if dtype is None else tf.cast(x, dtype), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def prod(x: Tensor, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_prod(x if dtype is None else tf.cast(x, dtype), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def mean(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def max(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def min(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_min(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def var(x: Tensor, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False) -> Tensor:
        mean = tf.reduce_mean(x, axis=_axis(axis), keepdims=True)
        sq = tf.reduce_sum(tf.math.square(tf.math.abs(x - mean)), axis=_axis(axis), keepdims=keepdims)
        count = _size(x) if axis is None else math.prod(int(x.shape[a]) for a in np.atleast_1d(axis))
        return sq / tf.cast(count - correction, sq.dtype)

    @classmethod
    def std(cls, x: Tensor, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False) -> Tensor:
        return tf.math.sqrt(cls.var(x, axis=axis, correction=correction, keepdims=keepdims))

    @staticmethod
    def all(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def any(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def argmax(x: Tensor, /, *, axis: int | None = None, keepdims: bool = False) -> Tensor:
        out = tf.math.argmax(tf.reshape(x, (-1,)) if axis is None else x, axis=0 if axis is None else axis)
        if keepdims:
            return tf.reshape(out, [1] * len(x.shape)) if axis is None else tf.expand_dims(out, axis)
        return out

    @staticmethod
    def argmin(x: Tensor, /, *, axis: int | None = None, keepdims: bool = False) -> Tensor:
        out = tf.math.argmin(tf.reshape(x, (-1,)) if axis is None else x, axis=0 if axis is None else axis)
        if keepdims:
            return tf.reshape(out, [1] * len(x.shape)) if axis is None else tf.expand_dims(out, axis)
        return out

    @staticmethod
    def cumulative_sum(x: Tensor, /, *, axis: int | None = None, include_initial: bool = False) -> Tensor:
        out = tf.math.cumsum(x, axis=0 if axis is None else axis)
        if include_initial:
            ax = 0 if axis is None else axis
            out = tf.concat([tf.zeros_like(tf.gather(out, [0], axis=ax)), out], axis=ax)
        return out

    # linear algebra
    @staticmethod
    def matmul(x1: Tensor, x2: Tensor, /) -> Tensor:
        if len(x1.shape) == 1 and len(x2.shape) == 1:
            return tf.tensordot(x1, x2, 1)
        if len(x1.shape) == 1:
            return tf.squeeze(tf.matmul(x1[None, :], x2), -2)
        if len(x2.shape) == 1:
            return tf.linalg.matvec(x1, x2)
        return tf.matmul(x1, x2)

    @staticmethod
    def tensordot(x1: Tensor, x2: Tensor, /, *, axes: Any = 2) -> Tensor:
        return tf.tensordot(x1, x2, axes)

    @staticmethod
    def vecdot(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
        return tf.reduce_sum(tf.math.conj(x1) * x2, axis=axis)

    @staticmethod
    def matrix_transpose(x: Tensor, /) -> Tensor:
        return tf.linalg.matrix_transpose(x)

    einsum = staticmethod(tf.einsum)

    # manipulation
    @staticmethod
    def reshape(x: Tensor, /, shape: Sequence[int], *, copy: Any = None) -> Tensor:
        return tf.reshape(x, tuple(shape))

    @staticmethod
    def permute_dims(x: Tensor, /, axes: Sequence[int]) -> Tensor:
        return tf.transpose(x, perm=list(axes))

    @staticmethod
    def expand_dims(x: Tensor, /, *, axis: int = 0) -> Tensor:
        return tf.expand_dims(x, axis)

    @staticmethod
    def squeeze(x: Tensor, /, axis: int | Sequence[int]) -> Tensor:
        return tf.squeeze(x, axis=_axis(axis))

    @staticmethod
    def flip(x: Tensor, /, *, axis: Any = None) -> Tensor:
        axes = list(range(len(x.shape))) if axis is None else list(np.atleast_1d(axis))
        return tf.reverse(x, axis=axes)

    @staticmethod
    def roll(x: Tensor, /, shift: Any, *, axis: Any = None) -> Tensor:
        if axis is None:
            return tf.reshape(tf.roll(tf.reshape(x, (-1,)), shift, 0), tf.shape(x))
        return tf.roll(x, shift, axis)

    @staticmethod
    def stack(arrays: Sequence[Tensor], /, *, axis: int = 0) -> Tensor:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def concat(arrays: Sequence[Tensor], /, *, axis: int | None = 0) -> Tensor:
        if axis is None:
            return tf.concat([tf.reshape(a, (-1,)) for a in arrays], 0)
        return tf.concat(list(arrays), axis=axis)

    @staticmethod
    def take(x: Tensor, indices: Tensor, /, *, axis: int | None = None) -> Tensor:
        if axis is None:
            if len(x.shape) != 1:
                raise ValueError("take: axis is required for arrays of more than one dimension")
            axis = 0
        return tf.gather(x, indices, axis=axis)

    @staticmethod
    def unstack(x: Tensor, /, *, axis: int = 0) -> tuple[Tensor, ...]:
        return tuple(tf.unstack(x, axis=axis))

    @staticmethod
    def broadcast_to(x: Tensor, /, shape: Sequence[int]) -> Tensor:
        return tf.broadcast_to(x, tuple(shape))

    @staticmethod
    def broadcast_arrays(*arrays: Tensor) -> list[Tensor]:
        shape = functools.reduce(tf.broadcast_static_shape, [a.shape for a in arrays])
        return [tf.broadcast_to(a, shape) for a in arrays]

    @staticmethod
    def moveaxis(x: Tensor, source: int, destination: int, /) -> Tensor:
        return tf.experimental.numpy.moveaxis(x, source, destination)

    @staticmethod
    def tile(x: Tensor, repetitions: Sequence[int], /) -> Tensor:
        return tf.tile(x, list(repetitions))

    @staticmethod
    def where(condition: Tensor, x1: Any, x2: Any, /) -> Tensor:
        return tf.where(condition, *_pair(x1, x2))

    @staticmethod
    def sort(x: Tensor, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
        return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")

    @staticmethod
    def argsort(x: Tensor, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
        out = tf.argsort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING", stable=stable)
        return tf.cast(out, tf.int64)  # the index dtype of argmax and arange (TensorFlow's argsort gives int32)

    @staticmethod
    def tril(x: Tensor, /, *, k: int = 0) -> Tensor:
        return tf.experimental.numpy.tril(x, k)

    @staticmethod
    def triu(x: Tensor, /, *, k: int = 0) -> Tensor:
        return tf.experimental.numpy.triu(x, k)

    # creation (device= is accepted and ignored: tensors go where TensorFlow places them)
    @staticmethod
    def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Tensor:
        if isinstance(obj, (tf.Tensor, tf.Variable)):
            return obj if dtype is None else _cast(tf.convert_to_tensor(obj), tf.as_dtype(dtype))
        if dtype is None and _arrays.is_array(obj):
            return _arrays.convert(obj, "tensorflow")
        if dtype is None and isinstance(obj, float):
            dtype = tf.float64  # the Array API's default floating dtype for a Python float, as NumPy
        return tf.convert_to_tensor(np.asarray(obj, dtype=None if dtype is None else tf.as_dtype(dtype).as_numpy_dtype))

    @staticmethod
    def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros(shape, dtype=dtype or tf.float64)

    @staticmethod
    def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.ones(shape, dtype=dtype or tf.float64)

    @staticmethod
    def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros(shape, dtype=dtype or tf.float64)

    @staticmethod
    def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        if dtype is None:
            dtype = {float: tf.float64, int: tf.int64}.get(type(fill_value)) or tf.convert_to_tensor(fill_value).dtype
        return tf.fill(shape if isinstance(shape, (tuple, list)) else (shape,), tf.constant(fill_value, dtype=dtype))

    @staticmethod
    def zeros_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def ones_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.ones_like(x, dtype=dtype)

    @staticmethod
    def empty_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def full_like(x: Tensor, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))

    @staticmethod
    def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None) -> Tensor:
        dtype = dtype or tf.float64
        if k == 0:
            return tf.eye(n_rows, n_cols, dtype=dtype)
        return tf.convert_to_tensor(np.eye(n_rows, n_cols, k=k, dtype=tf.as_dtype(dtype).as_numpy_dtype))

    @staticmethod
    def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Tensor:
        if stop is None:
            start, stop = 0, start
        if dtype is None:
            ints = all(isinstance(a, int) for a in (start, stop, step))
            dtype = tf.int64 if ints else tf.float64
        return tf.range(start, stop, step, dtype=dtype)

    @staticmethod
    def linspace(
        start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None, endpoint: bool = True
    ) -> Tensor:
        dtype = dtype or tf.float64
        if endpoint:
            return tf.cast(tf.linspace(tf.cast(start, tf.float64), tf.cast(stop, tf.float64), num), dtype)
        return tf.cast(tf.linspace(tf.cast(start, tf.float64), tf.cast(stop, tf.float64), num + 1)[:-1], dtype)

    @staticmethod
    def meshgrid(*arrays: Tensor, indexing: str = "xy") -> list[Tensor]:
        return tf.meshgrid(*arrays, indexing=indexing)

    # dtypes
    @staticmethod
    def astype(x: Tensor, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
        return tf.cast(x, dtype)

    @staticmethod
    def result_type(*arrays_and_dtypes: Any) -> tf.DType:
        dtypes = [a.as_numpy_dtype if isinstance(a, tf.DType) else getattr(a, "dtype", a) for a in arrays_and_dtypes]
        dtypes = [d.as_numpy_dtype if isinstance(d, tf.DType) else d for d in dtypes]
        return tf.as_dtype(np.result_type(*dtypes))

    @staticmethod
    def finfo(type: Any, /) -> Any:
        return np.finfo(tf.as_dtype(getattr(type, "dtype", type)).as_numpy_dtype)

    @staticmethod
    def iinfo(type: Any, /) -> Any:
        return np.iinfo(tf.as_dtype(getattr(type, "dtype", type)).as_numpy_dtype)

    @staticmethod
    def isdtype(dtype: Any, kind: Any) -> bool:
        dtype = tf.as_dtype(dtype)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        for k in kinds:
            if isinstance(k, str):
                ok = {
                    "bool": dtype == tf.bool,
                    "signed integer": dtype.is_integer and not dtype.is_unsigned,
                    "unsigned integer": dtype.is_integer and dtype.is_unsigned,
                    "integral": dtype.is_integer,
                    "real floating": dtype.is_floating,
                    "complex floating": dtype.is_complex,
                    "numeric": dtype.is_integer or dtype.is_floating or dtype.is_complex,
                }.get(k)
                if ok is None:
                    raise ValueError(f"isdtype: unknown kind {k!r}")
            else:
                ok = dtype == tf.as_dtype(k)
            if ok:
                return True
        return False

    @property
    def linalg(self) -> Any:
        return _TensorFlowLinalg

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"the abstractad Array API namespace for tensorflow has no function {name!r}; "
            "use the tf.* operation directly, or ask for it to be added"
        )

    def __repr__(self) -> str:
        return "<abstractad Array API namespace for tensorflow>"


class _TensorFlowLinalg:
    """The Array API's ``linalg`` extension, the part TensorFlow maps directly."""

    @staticmethod
    def vector_norm(x: Tensor, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Tensor:
        return tf.norm(x, ord=ord, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def matrix_norm(x: Tensor, /, *, keepdims: bool = False, ord: Any = "fro") -> Tensor:
        return tf.norm(x, ord=ord, axis=[-2, -1], keepdims=keepdims)

    matmul = staticmethod(tf.linalg.matmul)
    det = staticmethod(tf.linalg.det)
    inv = staticmethod(tf.linalg.inv)
    cholesky = staticmethod(tf.linalg.cholesky)
    trace = staticmethod(tf.linalg.trace)

    @staticmethod
    def diagonal(x: Tensor, /, *, offset: int = 0) -> Tensor:
        return tf.linalg.diag_part(x, k=offset)


_NAMESPACE = TensorFlowNamespace()


def namespace(*arrays: Any) -> TensorFlowNamespace:
    """The Array API namespace for TensorFlow tensors (eager or symbolic): ``ad.array_namespace``'s answer.

    >>> import tensorflow as tf
    >>> namespace(tf.constant([1.0, 2.0])).sum(tf.constant([1.0, 2.0])).numpy()
    np.float32(3.0)
    """
    return _NAMESPACE


_arrays.register_namespace("tensorflow", namespace)
_arrays.register_converters(
    "tensorflow",
    _arrays.Converters(
        to_numpy=_to_numpy,
        dlpack_source=_dlpack_source,
        # TensorFlow's DLPack import aborts the process on unaligned buffers and refuses
        # non-contiguous ones: _to_tensor checks both and copies through NumPy where needed.
        from_dlpack=_to_tensor,
        from_numpy=lambda a, device: tf.convert_to_tensor(a),
        plan_key=lambda a: (type(a), tuple(a.shape), a.dtype),
    ),
)
