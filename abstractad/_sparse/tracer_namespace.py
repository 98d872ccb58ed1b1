"""The Array API namespace of :class:`.Tracer` (also with NumPy's and torch's common names): each function
maps to a few operations on the index sets of its arguments (:mod:`.deps`).

Elementwise functions take the union of the dependencies of their (broadcast) arguments, data movement
(reshape, indexing, concatenation) is applied to arrays of element ids, reductions take the union along
their axes, products contract. For the Hessian, each nonlinear function adds the pairs of inputs it
couples to the trace's :class:`.HessianPairs`. Constants (arrays of any library, Python numbers) enter
as tracers without dependencies.
"""

from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _arrays
from . import deps as _deps
from .deps import Deps
from .tracer_array import HINT, TraceError, Tracer


def _parts(*xs: Any) -> list[Tracer]:
    """Tracers of the arguments: constants (any library, Python numbers) become tracers without dependencies."""
    trace = next(x.trace for x in xs if isinstance(x, Tracer))
    out = []
    for x in xs:
        if isinstance(x, Tracer):
            out.append(x)
        elif isinstance(x, numbers.Number):
            out.append(Tracer(trace, None, (), _weak(x)))
        else:
            a = _arrays.to_numpy(x) if _arrays.is_array(x) else np.asarray(x)
            out.append(Tracer(trace, None, a.shape, a.dtype))
    return out


def _weak(x: numbers.Number) -> Any:
    # A Python number does not promote an array (NumPy 2, JAX, torch all agree).
    return np.result_type(type(x)) if isinstance(x, (bool, int)) else None


def _result_dtype(parts: Sequence[Tracer], numbers_: Sequence[Any]) -> np.dtype:
    typed = [p.dtype for p, raw in zip(parts, numbers_) if not isinstance(raw, numbers.Number)]
    if typed:
        return np.result_type(*typed)
    return np.result_type(*[raw for raw in numbers_])


class Namespace:
    """The Array API namespace of :class:`Tracer` (and NumPy's and torch's common names)."""

    float16, float32, float64 = np.float16, np.float32, np.float64
    complex64, complex128 = np.complex64, np.complex128
    int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
    uint8, bool = np.uint8, np.bool_
    pi, e, inf, nan = math.pi, math.e, math.inf, math.nan
    newaxis = None

    # ------------------------------------------------------------------ elementwise
    def _elementwise(self, kind: str, *args: Any, dtype: Any = None) -> Tracer:
        parts = _parts(*args)
        trace = parts[0].trace
        shape = np.broadcast_shapes(*[p.shape for p in parts])
        out_dtype = np.dtype(dtype) if dtype is not None else _result_dtype(parts, args)
        deps = [p.deps for p in parts]
        if kind == "zero":
            return Tracer(trace, None, shape, out_dtype)
        pairs = trace.pairs
        if pairs is not None and kind in ("nonlinear", "product", "quotient"):
            wide = [None if d is None else _deps.broadcast(d, shape) for d in deps]
            if kind == "nonlinear":
                pairs.square(_deps.union(wide, shape, trace.n))
            else:
                pairs.cross(wide[0], wide[1])
                if kind == "quotient":
                    pairs.square(wide[1])
        return Tracer(trace, _deps.union(deps, shape, trace.n), shape, out_dtype)

    def _unary(kind: str, boolean: builtins.bool = False) -> Callable[..., Tracer]:
        def fn(self: Namespace, x: Any, *rest: Any, **kwargs: Any) -> Tracer:
            return self._elementwise(kind, x, dtype=np.bool_ if boolean else None)

        return fn

    def _binary(kind: str, boolean: builtins.bool = False) -> Callable[..., Tracer]:
        def fn(self: Namespace, a: Any, b: Any, **kwargs: Any) -> Tracer:
            return self._elementwise(kind, a, b, dtype=np.bool_ if boolean else None)

        return fn

    for _name in (
        "sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 exp2 log log1p log2 log10 "
        "sqrt rsqrt cbrt square reciprocal sigmoid logistic erf erfc lgamma digamma sinc"
    ).split():
        locals()[_name] = _unary("nonlinear")
    for _name in "negative positive conj real imag".split():
        locals()[_name] = _unary("linear")
    locals()["abs"] = _unary("piecewise")
    locals()["relu"] = _unary("piecewise")
    for _name in "sign floor ceil round trunc signbit".split():
        locals()[_name] = _unary("zero")
    for _name in "isnan isinf isfinite logical_not".split():
        locals()[_name] = _unary("zero", True)
    for _name in "add subtract".split():
        locals()[_name] = _binary("linear")
    locals()["multiply"] = _binary("product")
    locals()["divide"] = _binary("quotient")
    for _name in "pow atan2 hypot logaddexp".split():
        locals()[_name] = _binary("nonlinear")
    for _name in "maximum minimum copysign remainder fmod".split():
        locals()[_name] = _binary("piecewise")
    locals()["floor_divide"] = _binary("zero")
    locals()["nextafter"] = _binary("zero")
    for _name in "less less_equal greater greater_equal equal not_equal logical_and logical_or logical_xor".split():
        locals()[_name] = _binary("zero", True)
    del _name

    def where(self, condition: Any, a: Any, b: Any) -> Tracer:
        # The condition selects; the derivative comes from the branch taken, either one.
        cond = _parts(condition, a, b)[0]
        out = self._elementwise("piecewise", a, b)
        shape = np.broadcast_shapes(cond.shape, out.shape)
        return self.broadcast_to(out, shape)

    def clip(self, x: Any, min: Any = None, max: Any = None) -> Tracer:
        return self._elementwise("piecewise", *[a for a in (x, min, max) if a is not None])

    clamp = clip

    def astype(self, x: Any, dtype: Any, copy: builtins.bool = True, **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        dtype = _numpy_dtype(dtype)
        deps = t.deps if np.issubdtype(dtype, np.inexact) else None
        return Tracer(t.trace, deps, t.shape, dtype)

    def asarray(self, obj: Any, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
        if isinstance(obj, Tracer):
            return obj if dtype is None else self.astype(obj, dtype)
        if isinstance(obj, (list, tuple)) and any(isinstance(o, Tracer) for o in obj):
            return self.stack([self.asarray(o) for o in obj])
        return np.asarray(_arrays.to_numpy(obj) if _arrays.is_array(obj) else obj, dtype=_numpy_dtype(dtype))

    # ------------------------------------------------------------------ creation: constants
    def _const(self, like: Any, shape: Any, dtype: Any) -> Any:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if isinstance(like, Tracer):
            return Tracer(like.trace, None, shape, _numpy_dtype(dtype) or like.dtype)
        return np.zeros(shape, dtype=_numpy_dtype(dtype) or np.float64)

    def zeros_like(self, x: Any, dtype: Any = None, **kwargs: Any) -> Any:
        return self._const(x, x.shape, dtype)

    ones_like = empty_like = zeros_like

    def full_like(self, x: Any, fill_value: Any, dtype: Any = None, **kwargs: Any) -> Any:
        return self._const(x, x.shape, dtype)

    def zeros(self, shape: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        return np.zeros(shape, dtype=_numpy_dtype(dtype) or np.float64)

    def ones(self, shape: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        return np.ones(shape, dtype=_numpy_dtype(dtype) or np.float64)

    empty = zeros

    def full(self, shape: Any, fill_value: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        return np.full(shape, fill_value, dtype=_numpy_dtype(dtype))

    def arange(self, *args: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        return np.arange(*args, dtype=_numpy_dtype(dtype))

    def linspace(self, *args: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        kwargs.pop("device", None)
        return np.linspace(*args, dtype=_numpy_dtype(dtype), **kwargs)

    def eye(self, *args: Any, dtype: Any = None, **kwargs: Any) -> np.ndarray:
        kwargs.pop("device", None)
        return np.eye(*args, dtype=_numpy_dtype(dtype), **kwargs)

    # ------------------------------------------------------------------ data movement
    def _move(self, x: Any, index: np.ndarray) -> Tracer:
        """The result's elements are `x`'s elements at `index` (flat ids; -1: none)."""
        (t,) = _parts(x)
        deps = None if t.deps is None else _deps.gather(t.deps, index)
        return Tracer(t.trace, deps, index.shape, t.dtype)

    def _ids(self, x: Tracer) -> np.ndarray:
        return _deps.element_ids(x.shape)

    def reshape(self, x: Any, shape: Any, *args: Any, **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._move(t, self._ids(t).reshape(shape, order=kwargs.get("order", "C")))

    def permute_dims(self, x: Any, axes: Any = None) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.transpose(self._ids(t), axes))

    transpose = permute = permute_dims

    def matrix_transpose(self, x: Any) -> Tracer:
        return self.swapaxes(x, -1, -2)

    def swapaxes(self, x: Any, a: int, b: int) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.swapaxes(self._ids(t), a, b))

    def moveaxis(self, x: Any, source: Any, destination: Any) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.moveaxis(self._ids(t), source, destination))

    def flip(self, x: Any, axis: Any = None, **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        axis = kwargs.get("dims", axis)
        return self._move(t, np.flip(self._ids(t), axis=None if axis is None else tuple(np.atleast_1d(axis))))

    def roll(self, x: Any, shift: Any, axis: Any = None, **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        shift = kwargs.get("shifts", shift)
        axis = kwargs.get("dims", axis)
        return self._move(t, np.roll(self._ids(t), shift, axis=axis))

    def expand_dims(self, x: Any, axis: Any = 0) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.expand_dims(self._ids(t), axis))

    unsqueeze = expand_dims

    def squeeze(self, x: Any, axis: Any = None) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.squeeze(self._ids(t), axis=axis))

    def broadcast_to(self, x: Any, shape: Any) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.broadcast_to(self._ids(t), tuple(shape)))

    def broadcast_arrays(self, *xs: Any) -> list[Tracer]:
        shape = np.broadcast_shapes(*[p.shape for p in _parts(*xs)])
        return [self.broadcast_to(x, shape) for x in xs]

    def tile(self, x: Any, reps: Any) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.tile(self._ids(t), reps))

    def repeat(self, x: Any, repeats: Any, axis: Any = None) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.repeat(self._ids(t), repeats, axis=axis))

    def ravel(self, x: Any) -> Tracer:
        return self.reshape(x, (-1,))

    flatten = ravel

    def atleast_1d(self, x: Any) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.atleast_1d(self._ids(t)))

    def diagonal(self, x: Any, offset: int = 0, axis1: int = -2, axis2: int = -1) -> Tracer:
        (t,) = _parts(x)
        return self._move(t, np.diagonal(self._ids(t), offset, axis1, axis2))

    def take(self, x: Any, indices: Any, axis: Any = None, **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        axis = kwargs.get("dim", axis)
        if isinstance(indices, Tracer):
            return self._anywhere(t, np.take(self._ids(t), np.zeros(indices.shape, dtype=np.int64), axis=axis))
        return self._move(
            t,
            np.take(
                self._ids(t), _arrays.to_numpy(indices) if _arrays.is_array(indices) else np.asarray(indices), axis=axis
            ),
        )

    def _anywhere(self, t: Tracer, index: np.ndarray) -> Tracer:
        """Indexing by values we do not know: each result element may be any element of `t`."""
        if t.deps is None:
            return Tracer(t.trace, None, index.shape, t.dtype)
        everything = _deps.reduce(t.deps, range(len(t.shape)))
        return Tracer(t.trace, _deps.broadcast(everything, index.shape), index.shape, t.dtype)

    def _key(self, key: Any) -> tuple[Any, builtins.bool]:
        """`key` with arrays as NumPy arrays; whether it holds a Tracer (an index we cannot know)."""
        items = key if isinstance(key, tuple) else (key,)
        unknown, out = False, []
        for k in items:
            if isinstance(k, Tracer):
                unknown = True
                if k.dtype == np.bool_:
                    raise TraceError(
                        "sparsity detection cannot follow boolean-mask indexing by values of x (the result's "
                        f"shape depends on them); use xp.where. {HINT}"
                    )
                out.append(np.zeros(k.shape, dtype=np.int64))
            elif _arrays.is_array(k) and not isinstance(k, np.ndarray):
                out.append(_arrays.to_numpy(k))
            elif isinstance(k, list):
                out.append(np.asarray(k))
            else:
                out.append(k)
        return (tuple(out) if isinstance(key, tuple) else out[0]), unknown

    def _getitem(self, x: Tracer, key: Any) -> Tracer:
        key, unknown = self._key(key)
        index = self._ids(x)[key]
        index = np.asarray(index)
        return self._anywhere(x, index) if unknown else self._move(x, index)

    def _setitem(self, x: Tracer, key: Any, value: Any) -> Tracer:
        """``x[key] = value`` as a new array: elements under `key` come from `value`."""
        key, unknown = self._key(key)
        (v,) = _parts(value)
        ids = self._ids(x).copy()
        target = ids[key]
        source = np.broadcast_to(_deps.element_ids(v.shape) + x.size, np.shape(target))
        if unknown:  # where it lands is unknown: every element may be old or new
            both = self._elementwise("piecewise", x, self._anywhere(v, _deps.element_ids(x.shape)))
            return both
        ids[key] = source
        stacked = self._stack_deps([x, v], x.trace.n)
        deps = None if stacked is None else _deps.gather(stacked, ids)
        return Tracer(x.trace, deps, x.shape, np.result_type(x.dtype, v.dtype))

    def _stack_deps(self, parts: Sequence[Tracer], n: int) -> Deps | None:
        """The rows of several arrays, one after the other (flat), as one Deps."""
        if all(p.deps is None for p in parts):
            return None
        blocks = [p.deps.rows if p.deps is not None else sp.csr_array((p.size, n), dtype=bool) for p in parts]
        total = sum(p.size for p in parts)
        return Deps(sp.csr_array(sp.vstack(blocks, format="csr")), (total,))

    def concat(self, arrays: Sequence[Any], axis: Any = 0, **kwargs: Any) -> Tracer:
        axis = kwargs.get("dim", axis)
        parts = _parts(*arrays)
        offsets = np.cumsum([0, *[p.size for p in parts]])
        ids = [_deps.element_ids(p.shape) + o for p, o in zip(parts, offsets)]
        if axis is None:
            index = np.concatenate([i.reshape(-1) for i in ids])
        else:
            index = np.concatenate(ids, axis=axis)
        stacked = self._stack_deps(parts, parts[0].trace.n)
        deps = None if stacked is None else _deps.gather(stacked, index)
        return Tracer(parts[0].trace, deps, index.shape, np.result_type(*[p.dtype for p in parts]))

    concatenate = cat = concat

    def stack(self, arrays: Sequence[Any], axis: int = 0, **kwargs: Any) -> Tracer:
        axis = kwargs.get("dim", axis)
        return self.concat([self.expand_dims(a, axis) for a in _parts(*arrays)], axis=axis)

    def hstack(self, arrays: Sequence[Any]) -> Tracer:
        parts = _parts(*arrays)
        return self.concat(parts, axis=0 if all(p.ndim <= 1 for p in parts) else 1)

    def vstack(self, arrays: Sequence[Any]) -> Tracer:
        return self.concat([self.reshape(p, (1, -1)) if p.ndim < 2 else p for p in _parts(*arrays)], axis=0)

    def pad(self, x: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Tracer:
        (t,) = _parts(x)
        if mode not in ("constant", "wrap", "edge", "reflect", "symmetric"):
            raise TraceError(f"sparsity detection does not know pad mode {mode!r}")
        ids = self._ids(t)
        if mode == "constant":
            index = np.pad(ids, pad_width, mode="constant", constant_values=-1)
        else:
            index = np.pad(ids, pad_width, mode=mode)
        return self._move(t, index)

    def diff(self, x: Any, n: int = 1, axis: int = -1, **kwargs: Any) -> Tracer:
        axis = kwargs.get("dim", axis)
        out = x
        for _ in range(n):
            (t,) = _parts(out)
            length = t.shape[axis]
            hi = [slice(None)] * t.ndim
            lo = [slice(None)] * t.ndim
            hi[axis], lo[axis] = slice(1, length), slice(0, length - 1)
            out = self.subtract(t[tuple(hi)], t[tuple(lo)])
        return out

    # ------------------------------------------------------------------ reductions
    def _reduce(self, x: Any, axis: Any, keepdims: builtins.bool, kind: str, dtype: Any = None) -> Tracer:
        (t,) = _parts(x)
        axes = range(t.ndim) if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        out_shape = _shape_after_reduce(t.shape, axes, keepdims)
        out_dtype = np.dtype(dtype) if dtype is not None else t.dtype
        if kind == "zero" or t.deps is None:
            return Tracer(t.trace, None, out_shape, out_dtype)
        deps = _deps.reduce(t.deps, list(axes), keepdims)
        if kind == "nonlinear" and t.trace.pairs is not None:
            t.trace.pairs.square(deps)
        return Tracer(t.trace, deps, out_shape, out_dtype)

    def sum(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, dtype: Any = None, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "linear", _numpy_dtype(dtype))

    def mean(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "linear")

    def prod(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "nonlinear")

    def var(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "nonlinear")

    std = logsumexp = var

    def max(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "piecewise")

    min = amax = amin = max

    def argmax(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "zero", np.int64)

    argmin = argmax

    def any(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Tracer:
        return self._reduce(x, kw.get("dim", axis), kw.get("keepdim", keepdims), "zero", np.bool_)

    all = any

    def _spread(self, x: Any, axis: Any, nonlinear: builtins.bool, everywhere: builtins.bool = False) -> Tracer:
        (t,) = _parts(x)
        if axis is None:
            t = self.reshape(t, (-1,))
            axis = 0
        if t.deps is None:
            return t
        deps = _deps.spread(t.deps, axis, everywhere=everywhere)
        if nonlinear and t.trace.pairs is not None:
            t.trace.pairs.square(deps)
        return Tracer(t.trace, deps, t.shape, t.dtype)

    def cumulative_sum(self, x: Any, axis: Any = None, **kw: Any) -> Tracer:
        return self._spread(x, kw.get("dim", axis), False)

    cumsum = cumulative_sum

    def cumulative_prod(self, x: Any, axis: Any = None, **kw: Any) -> Tracer:
        return self._spread(x, kw.get("dim", axis), True)

    cumprod = cumulative_prod

    def sort(self, x: Any, axis: int = -1, **kw: Any) -> Tracer:
        return self._spread(x, kw.get("dim", axis), False, everywhere=True)

    def softmax(self, x: Any, axis: int = -1, **kw: Any) -> Tracer:
        return self._spread(x, kw.get("dim", axis), True, everywhere=True)

    log_softmax = softmax

    def argsort(self, x: Any, axis: int = -1, **kw: Any) -> Tracer:
        (t,) = _parts(x)
        return Tracer(t.trace, None, t.shape, np.int64)

    # ------------------------------------------------------------------ products
    def matmul(self, a: Any, b: Any) -> Tracer:
        x, y = _parts(a, b)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError("matmul: scalar operands are not allowed")
        # 1-D operands are promoted to matrices and the added axis removed again afterwards.
        xs = x.shape if x.ndim > 1 else (1, *x.shape)
        ys = y.shape if y.ndim > 1 else (*y.shape, 1)
        batch = np.broadcast_shapes(xs[:-2], ys[:-2])
        x2 = self.broadcast_to(self.reshape(x, xs), (*batch, *xs[-2:]))
        y2 = self.broadcast_to(self.reshape(y, ys), (*batch, *ys[-2:]))
        nb = len(batch)
        out = self._dot(x2, y2, ([nb + 1], [nb]), (list(range(nb)), list(range(nb))))
        shape = (*batch, *([xs[-2]] if x.ndim > 1 else []), *([ys[-1]] if y.ndim > 1 else []))
        return self.reshape(out, shape)

    def _dot(self, x: Tracer, y: Tracer, contracting: Any, batch: Any) -> Tracer:
        trace = x.trace
        deps = _deps.contract(x.deps, y.deps, x.shape, y.shape, contracting, batch, trace.n, trace.pairs)
        (lc, rc), (lb, rb) = contracting, batch
        shape = (
            *[x.shape[i] for i in lb],
            *[x.shape[i] for i in range(x.ndim) if i not in lc and i not in lb],
            *[y.shape[i] for i in range(y.ndim) if i not in rc and i not in rb],
        )
        return Tracer(trace, deps, shape, np.result_type(x.dtype, y.dtype))

    mm = bmm = matmul

    def dot(self, a: Any, b: Any) -> Tracer:
        x, y = _parts(a, b)
        if x.ndim == 0 or y.ndim == 0:
            return self.multiply(x, y)
        if y.ndim <= 2:
            return self.matmul(x, y)
        return self.tensordot(x, y, ([x.ndim - 1], [y.ndim - 2]))

    def tensordot(self, a: Any, b: Any, axes: Any = 2, **kw: Any) -> Tracer:
        x, y = _parts(a, b)
        axes = kw.get("dims", axes)
        if isinstance(axes, int):
            axes = (list(range(x.ndim - axes, x.ndim)), list(range(axes)))
        lc = [i % x.ndim for i in np.atleast_1d(axes[0])]
        rc = [i % y.ndim for i in np.atleast_1d(axes[1])]
        return self._dot(x, y, (lc, rc), ([], []))

    def vecdot(self, a: Any, b: Any, axis: int = -1) -> Tracer:
        return self.sum(self.multiply(a, b), axis=axis)

    def inner(self, a: Any, b: Any) -> Tracer:
        x, y = _parts(a, b)
        return self.tensordot(x, y, ([x.ndim - 1], [y.ndim - 1]))

    def outer(self, a: Any, b: Any) -> Tracer:
        x, y = _parts(a, b)
        return self.multiply(self.reshape(x, (-1, 1)), self.reshape(y, (1, -1)))

    def einsum(self, *args: Any, **kwargs: Any) -> Tracer:
        raise TraceError(f"sparsity detection does not follow einsum; use matmul or tensordot. {HINT}")

    @property
    def linalg(self) -> _Linalg:
        return _Linalg(self)


class _Linalg:
    def __init__(self, xp: Namespace) -> None:
        self._xp = xp

    def vector_norm(self, x: Any, axis: Any = None, keepdims: builtins.bool = False, ord: Any = 2) -> Tracer:
        return self._xp._reduce(x, axis, keepdims, "nonlinear")

    def norm(self, x: Any, ord: Any = None, axis: Any = None, keepdims: builtins.bool = False) -> Tracer:
        return self._xp._reduce(x, axis, keepdims, "nonlinear")

    def matmul(self, a: Any, b: Any) -> Tracer:
        return self._xp.matmul(a, b)

    def matrix_transpose(self, x: Any) -> Tracer:
        return self._xp.matrix_transpose(x)

    def vecdot(self, a: Any, b: Any, axis: int = -1) -> Tracer:
        return self._xp.vecdot(a, b, axis=axis)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"sparsity detection does not follow linalg.{name}; {HINT}")


def _shape_after_reduce(shape: tuple[int, ...], axes: Any, keepdims: builtins.bool) -> tuple[int, ...]:
    axes = {a % len(shape) for a in axes} if shape else set()
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _numpy_dtype(dtype: Any) -> Any:
    """A dtype of any library (or a name) as NumPy's; None stays None."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


NAMESPACE = Namespace()
Tracer.namespace = NAMESPACE

_arrays.register_namespace("abstractad-tracer", lambda *arrays: NAMESPACE)
_arrays.register_type(Tracer, "abstractad-tracer")
