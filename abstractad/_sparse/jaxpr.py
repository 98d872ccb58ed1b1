"""Global sparsity patterns of JAX functions, read off their jaxprs.

The function is traced once to a jaxpr for an abstract input of the given shape and dtype, and the
jaxpr is interpreted over :mod:`abstractad._deps`: every variable carries the input elements each of
its elements may depend on (or None: no dependency), and, where it is computed from constants only,
its concrete value. Data movement is exact: the primitive itself is applied to arrays of element ids,
so whatever it does to data it does to the ids, and the ids that come out say where each element
came from. Indices that are concrete (constants, loop counters of unrolled loops) are used as such;
an index that depends on the input makes the result depend on every element it could select.
Every rule over-approximates: the pattern holds at every input, and the value of the input is never
looked at.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import deps as _deps
from .deps import Deps, Pairs

# A variable: its dependencies (None: none) and its concrete value (None: not known before the input is).
Val = tuple[Deps | None, Any]
_UNKNOWN: Val = (None, None)

# Loops are unrolled with their concrete trip count within this much work (an equation costs 1, plus 1 per
# _NNZ_UNIT dependencies it produces); past that, or with a trip count that depends on the input, a fixed
# point over the loop body takes over. A few seconds at most.
_UNROLL_BUDGET = 50_000
_NNZ_UNIT = 256
# Fixed-point sweeps before the carry is widened to everything that can reach the loop.
_MAX_SWEEPS = 50

_WARNED: set[str] = set()


def jacobian_pattern(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> sp.csr_array:
    """The (m, n) boolean pattern of the Jacobian of `f` at any input of `shape` and `dtype`.

    `m` is the size of ``f(x)`` (the leaves of a pytree output stacked in ``jax.tree_util`` order) and
    `n` is ``prod(shape)``. An entry missing from the pattern is zero at every input.

    >>> import jax.numpy as jnp
    >>> jacobian_pattern(lambda x: x[1:] - x[:-1], (4,), jnp.float32).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    with _precision(dtype):
        closed = _trace(f, shape, dtype)
        with np.errstate(all="ignore"):
            outs = _Interpreter(n, None).run(closed.jaxpr, list(closed.consts), [(_deps.identity(shape), None)])
        blocks = []
        for var, (d, _) in zip(closed.jaxpr.outvars, outs):
            size = math.prod(var.aval.shape)
            blocks.append(_deps.pattern(d if _inexact(var.aval) else None, size, n))
    if not blocks:
        return sp.csr_array((0, n), dtype=bool)
    return sp.csr_array(sp.vstack(blocks, format="csr")) if len(blocks) > 1 else blocks[0]


def hessian_pattern(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> sp.csr_array:
    """The (n, n) symmetric boolean pattern of the Hessian of the scalar-valued `f` at any input.

    Raises ValueError when ``f(x)`` is not a scalar.

    >>> import jax.numpy as jnp
    >>> hessian_pattern(lambda x: jnp.sum(x[1:] * x[:-1]), (3,), jnp.float64).toarray().astype(int)
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    with _precision(dtype):
        closed = _trace(f, shape, dtype)
        avals = [v.aval for v in closed.jaxpr.outvars]
        if len(avals) != 1 or tuple(avals[0].shape) != ():
            shapes = ", ".join(str(tuple(a.shape)) for a in avals)
            raise ValueError(f"hessian_pattern: f must return a scalar, it returns arrays of shape {shapes}")
        pairs = Pairs(n)
        with np.errstate(all="ignore"):
            _Interpreter(n, pairs).run(closed.jaxpr, list(closed.consts), [(_deps.identity(shape), None)])
    rows = pairs.pattern()
    rows.sum_duplicates()
    rows.sort_indices()
    return rows


def _precision(dtype: Any) -> contextlib.AbstractContextManager[Any]:
    """64-bit types need JAX's x64 mode for the trace (and for the constants computed from it)."""
    import jax

    if np.dtype(dtype).itemsize < 8 or (np.dtype(dtype).kind == "c" and np.dtype(dtype).itemsize < 16):
        return contextlib.nullcontext()
    if jax.config.jax_enable_x64:
        return contextlib.nullcontext()
    legacy = getattr(getattr(jax, "experimental", None), "enable_x64", None)
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else legacy()


def _trace(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> Any:
    import jax

    return jax.make_jaxpr(f)(jax.ShapeDtypeStruct(shape, np.dtype(dtype)))


def _inexact(aval: Any) -> bool:
    """Only floating and complex values carry derivatives: integers, booleans and keys are constants."""
    return _dtype_kind(aval.dtype) in "fc"


def _numeric(aval: Any) -> bool:
    return _dtype_kind(aval.dtype) in "biufc"


@functools.cache
def _dtype_kind(dtype: Any) -> str:
    """NumPy's kind letter of a dtype ('f' also for bfloat16 and the like), '-' for JAX's extended dtypes."""
    import jax

    try:
        if jax.dtypes.issubdtype(dtype, np.inexact):
            return "c" if jax.dtypes.issubdtype(dtype, np.complexfloating) else "f"
        return np.dtype(dtype).kind
    except TypeError:
        return "-"


def _shape(var: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in var.aval.shape)


@functools.cache
def _jaxpr_types() -> tuple[type, type]:
    from jax.extend.core import DropVar, Literal

    return Literal, DropVar


def _is_literal(var: Any) -> bool:
    return isinstance(var, _jaxpr_types()[0])


def _is_drop(var: Any) -> bool:
    return isinstance(var, _jaxpr_types()[1])


def _ids(shape: tuple[int, ...], offset: int = 0) -> np.ndarray:
    """Element ids counted from ``offset + 1``: 0 (and the fill of out-of-bounds reads) is 'no element'."""
    return _deps.element_ids(shape) + (offset + 1)


def _rows(d: Deps | None, size: int, n: int) -> sp.csr_array:
    return sp.csr_array((size, n), dtype=bool) if d is None else d.rows


def _stack(parts: Sequence[Deps | None], sizes: Sequence[int], n: int) -> Deps:
    """The rows of several arrays one after the other, as the dependencies of one flat array."""
    if len(parts) == 1 and parts[0] is not None:
        return Deps(parts[0].rows, (parts[0].size,))
    rows = sp.vstack([_rows(p, s, n) for p, s in zip(parts, sizes)], format="csr")
    return Deps(sp.csr_array(rows), (sum(sizes),))


def _total(parts: Sequence[Deps | None], n: int) -> Deps | None:
    """Everything any of `parts` depends on, as a scalar."""
    present = [_deps.reduce(p, range(len(p.shape))) for p in parts if p is not None]
    return _deps.union(present, (), n) if present else None


def _whole(parts: Sequence[Deps | None], shape: tuple[int, ...], n: int) -> Deps | None:
    """Every element of `shape` depends on everything any of `parts` depends on."""
    total = _total(parts, n)
    return None if total is None else _deps.broadcast(total, shape)


def _smear(d: Deps, axes: Sequence[int]) -> Deps:
    """Every element depends on the whole of each line along `axes` it lies on."""
    axes = [a % len(d.shape) for a in axes]
    if not axes:
        return d
    reduced = _deps.reduce(d, axes, keepdims=True)
    return _deps.broadcast(reduced, d.shape)


# Data movement on id arrays in NumPy (for speed: XLA compiles every new shape). Each function takes the
# primitive's params and its operands, and returns its outputs.


def _np_pad(a: np.ndarray, value: Any, config: Sequence[tuple[int, int, int]]) -> np.ndarray:
    for axis, (lo, hi, interior) in enumerate(config):
        lo, hi, interior = int(lo), int(hi), int(interior)
        if interior > 0 and a.shape[axis] > 1:
            length = a.shape[axis] + (a.shape[axis] - 1) * interior
            spaced = np.full((*a.shape[:axis], length, *a.shape[axis + 1 :]), value, dtype=a.dtype)
            spaced[(slice(None),) * axis + (slice(None, None, interior + 1),)] = a
            a = spaced
        if lo < 0:
            a = a[(slice(None),) * axis + (slice(-lo, None),)]
        if hi < 0:
            a = a[(slice(None),) * axis + (slice(None, a.shape[axis] + hi),)]
        widths = [(0, 0)] * a.ndim
        widths[axis] = (max(lo, 0), max(hi, 0))
        if lo > 0 or hi > 0:
            a = np.pad(a, widths, constant_values=np.asarray(value, dtype=a.dtype))
    return a


def _np_broadcast_in_dim(p: dict[str, Any], a: np.ndarray, *_: Any) -> list[np.ndarray]:
    shape = tuple(p["shape"])
    expanded = [1] * len(shape)
    for i, dim in enumerate(p["broadcast_dimensions"]):
        expanded[dim] = a.shape[i]
    return [np.broadcast_to(a.reshape(expanded), shape)]


def _np_reshape(p: dict[str, Any], a: np.ndarray, *_: Any) -> list[np.ndarray]:
    if p.get("dimensions") is not None:
        a = np.transpose(a, p["dimensions"])
    return [a.reshape(tuple(p["new_sizes"]))]


def _np_slice(p: dict[str, Any], a: np.ndarray) -> list[np.ndarray]:
    strides = p.get("strides") or (1,) * a.ndim
    return [a[tuple(slice(s, e, k) for s, e, k in zip(p["start_indices"], p["limit_indices"], strides))]]


def _clamped_starts(starts: Sequence[Any], shape: Sequence[int], sizes: Sequence[int]) -> list[int]:
    return [int(np.clip(int(np.asarray(s)), 0, d - k)) for s, d, k in zip(starts, shape, sizes)]


def _np_dynamic_slice(p: dict[str, Any], a: np.ndarray, *starts: Any) -> list[np.ndarray]:
    sizes = tuple(p["slice_sizes"])
    begin = _clamped_starts(starts, a.shape, sizes)
    return [a[tuple(slice(b, b + k) for b, k in zip(begin, sizes))]]


def _np_dynamic_update_slice(p: dict[str, Any], a: np.ndarray, update: np.ndarray, *starts: Any) -> list[np.ndarray]:
    begin = _clamped_starts(starts, a.shape, update.shape)
    out = np.array(a, copy=True)
    out[tuple(slice(b, b + k) for b, k in zip(begin, update.shape))] = update
    return [out]


def _np_select_n(p: dict[str, Any], which: np.ndarray, *cases: np.ndarray) -> list[np.ndarray]:
    which = np.asarray(which).astype(np.int64)
    out = np.broadcast_to(cases[0], np.broadcast_shapes(which.shape, *(c.shape for c in cases)))
    for i, case in enumerate(cases[1:], start=1):
        out = np.where(which == i, case, out)
    return [np.asarray(out)]


def _np_split(p: dict[str, Any], a: np.ndarray) -> list[np.ndarray]:
    return np.split(a, np.cumsum(p["sizes"])[:-1], axis=p["axis"])


_NUMPY_MOVES: dict[str, Callable[..., list[np.ndarray]]] = {
    "slice": _np_slice,
    "reshape": _np_reshape,
    "broadcast_in_dim": _np_broadcast_in_dim,
    "transpose": lambda p, a: [np.transpose(a, p["permutation"])],
    "squeeze": lambda p, a: [np.squeeze(a, axis=tuple(p["dimensions"]))],
    "expand_dims": lambda p, a: [np.expand_dims(a, tuple(p["dimensions"]))],
    "rev": lambda p, a: [np.flip(a, axis=tuple(p["dimensions"])) if p["dimensions"] else a],
    "concatenate": lambda p, *a: [np.concatenate(a, axis=p["dimension"])],
    "stack": lambda p, *a: [np.stack(a, axis=p["axis"])],
    "split": _np_split,
    "tile": lambda p, a: [np.tile(a, p["reps"])],
    "pad": lambda p, a, v: [_np_pad(a, v, p["padding_config"])],
    "dynamic_slice": _np_dynamic_slice,
    "dynamic_update_slice": _np_dynamic_update_slice,
    "select_n": _np_select_n,
    "copy": lambda p, a: [a],
    "copy_p": lambda p, a: [a],
}

# Cheap elementwise arithmetic on concrete (index) values, the same in NumPy as in XLA.
_NUMPY_VALUES: dict[str, Callable[..., list[np.ndarray]]] = {
    "add": lambda p, a, b: [a + b],
    "sub": lambda p, a, b: [a - b],
    "mul": lambda p, a, b: [a * b],
    "neg": lambda p, a: [-a],
    "max": lambda p, a, b: [np.maximum(a, b)],
    "min": lambda p, a, b: [np.minimum(a, b)],
    "eq": lambda p, a, b: [a == b],
    "ne": lambda p, a, b: [a != b],
    "lt": lambda p, a, b: [a < b],
    "le": lambda p, a, b: [a <= b],
    "gt": lambda p, a, b: [a > b],
    "ge": lambda p, a, b: [a >= b],
    "and": lambda p, a, b: [a & b],
    "or": lambda p, a, b: [a | b],
    "not": lambda p, a: [~a],
    "rem": lambda p, a, b: [np.fmod(a, b)],
    "convert_element_type": lambda p, a: [a.astype(np.dtype(p["new_dtype"]))],
    "iota": lambda p: [
        np.broadcast_to(
            np.arange(p["shape"][p["dimension"]]).reshape(
                [-1 if i == p["dimension"] else 1 for i in range(len(p["shape"]))]
            ),
            tuple(p["shape"]),
        )
    ],
}

# (data operands, index operands) of each data-movement primitive, given its number of operands.
_ROLES: dict[str, Callable[[int], tuple[Sequence[int], Sequence[int]]]] = {
    **{
        name: (lambda k: ((0,), range(1, k)))
        for name in ("slice", "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims", "rev")
    },
    **{name: (lambda k: ((0,), ())) for name in ("split", "tile", "unstack", "copy", "copy_p")},
    **{name: (lambda k: (range(k), ())) for name in ("concatenate", "stack", "pad")},
    "dynamic_slice": lambda k: ((0,), range(1, k)),
    "dynamic_update_slice": lambda k: ((0, 1), range(2, k)),
    "gather": lambda k: ((0,), (1,)),
    "select_n": lambda k: (range(1, k), (0,)),
}

_CALLS = frozenset(
    {
        "jit",
        "pjit",
        "closed_call",
        "core_call",
        "remat",
        "remat2",
        "checkpoint",
        "custom_jvp_call",
        "custom_vjp_call",
        "custom_vjp_call_jaxpr",
        "named_call",
        "xla_call",
    }
)
_ZERO = frozenset(
    {
        "sign",
        "floor",
        "ceil",
        "round",
        "is_finite",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "eq_to",
        "lt_to",
        "le_to",
        "and",
        "or",
        "not",
        "xor",
        "argmax",
        "argmin",
        "iota",
        "stop_gradient",
        "population_count",
        "clz",
        "mulhi",
        "shift_left",
        "shift_right_arithmetic",
        "shift_right_logical",
        "reduce_and",
        "reduce_or",
        "reduce_xor",
        "random_bits",
        "random_seed",
        "random_wrap",
        "random_unwrap",
        "random_fold_in",
        "random_split",
        "threefry2x32",
        "rng_bit_generator",
        "bitcast_convert_type",
        "platform_index",
        "create_token",
        "after_all",
        "axis_index",
        "debug_callback",
        "debug_print",
        "empty",
        "empty2",
        "dce_sink",
        "lu_pivots_to_permutation",
    }
)
# Elementwise with a zero second derivative (almost everywhere).
_LINEAR = frozenset(
    {
        "add",
        "add_any",
        "sub",
        "neg",
        "convert_element_type",
        "reduce_precision",
        "real",
        "imag",
        "conj",
        "complex",
        "max",
        "min",
        "clamp",
        "select_n",
        "copy",
        "copy_p",
    }
)
_NONLINEAR = frozenset(
    {
        "sin",
        "cos",
        "tan",
        "exp",
        "exp2",
        "log",
        "log1p",
        "expm1",
        "tanh",
        "logistic",
        "sqrt",
        "rsqrt",
        "cbrt",
        "pow",
        "integer_pow",
        "square",
        "atan2",
        "erf",
        "erfc",
        "erf_inv",
        "lgamma",
        "digamma",
        "polygamma",
        "zeta",
        "igamma",
        "igammac",
        "igamma_grad_a",
        "random_gamma_grad",
        "regularized_incomplete_beta",
        "bessel_i0e",
        "bessel_i1e",
        "sinh",
        "cosh",
        "asin",
        "acos",
        "atan",
        "asinh",
        "acosh",
        "atanh",
        "nextafter",
        "rem",
        "rng_uniform",
    }
)
_IDENTITIES = frozenset({"optimization_barrier", "device_put", "sharding_constraint", "mesh_cast", "reshard", "pvary"})
# Known to couple everything with everything (dense linear algebra): dense without a warning.
_DENSE = frozenset(
    {
        "cholesky",
        "cholesky_update",
        "eig",
        "eigh",
        "geqp3",
        "geqrf",
        "hessenberg",
        "householder_product",
        "lu",
        "qr",
        "schur",
        "svd",
        "symmetric_product",
        "triangular_solve",
        "tridiagonal",
        "tridiagonal_solve",
        "ormqr",
        "custom_linear_solve",
        "select_and_scatter_add",
        "select_and_gather_add",
    }
)
_REDUCTIONS = {"reduce_sum": False, "reduce_max": False, "reduce_min": False, "reduce_prod": True}
_CUMULATIVE = {"cumsum": False, "cummax": False, "cummin": False, "cumprod": True, "cumlogsumexp": True}
_SCATTERS = {
    "scatter": False,
    "scatter-add": False,
    "scatter-sub": False,
    "scatter-mul": True,
    "scatter-min": False,
    "scatter-max": False,
    "scatter_add": False,
    "scatter_sub": False,
    "scatter_mul": True,
    "scatter_min": False,
    "scatter_max": False,
}
_WINDOWS = {"reduce_window_sum": False, "reduce_window_max": False, "reduce_window_min": False, "reduce_window": True}


class _Interpreter:
    """Walks jaxprs, mapping each variable to its (dependencies, concrete value)."""

    def __init__(self, n: int, pairs: Pairs | None) -> None:
        self.n = n
        self.pairs = pairs
        self.work = 0  # equations interpreted so far, weighted: what loop unrolling is budgeted in
        self._live_cache: dict[tuple[int, tuple[bool, ...]], list[tuple[Any, tuple[bool, ...]]]] = {}

    @contextlib.contextmanager
    def first_order(self) -> Iterator[None]:
        """Fixed-point sweeps collect no second order: the final sweep over the converged carry does."""
        pairs, self.pairs = self.pairs, None
        try:
            yield
        finally:
            self.pairs = pairs

    def run(
        self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Val], needed: Sequence[bool] | None = None
    ) -> list[Val]:
        """The (dependencies, value) of each output of `jaxpr`; outputs not `needed` may come back unknown."""
        env: dict[Any, Val] = {}
        for var, value in zip(jaxpr.constvars, consts):
            env[var] = (None, value)
        for var, arg in zip(jaxpr.invars, args):
            env[var] = arg

        def read(var: Any) -> Val:
            if _is_literal(var):
                return (None, _literal(var))
            return env.get(var, _UNKNOWN)

        for eqn, outs_needed in self._live(jaxpr, needed):
            outs = self.equation(eqn, [read(v) for v in eqn.invars], outs_needed)
            self.work += 1 + sum(d.rows.nnz for d, _ in outs if d is not None) // _NNZ_UNIT
            for var, out in zip(eqn.outvars, outs):
                if not _is_drop(var):
                    env[var] = out
        return [read(v) for v in jaxpr.outvars]

    def _live(self, jaxpr: Any, needed: Sequence[bool] | None) -> list[tuple[Any, tuple[bool, ...]]]:
        """The equations some needed output depends on, each with which of its outputs are needed."""
        mask = tuple(True for _ in jaxpr.outvars) if needed is None else tuple(bool(b) for b in needed)
        key = (id(jaxpr), mask)
        if key in self._live_cache:
            return self._live_cache[key]
        wanted = {v for v, b in zip(jaxpr.outvars, mask) if b and not _is_literal(v)}
        live = []
        for eqn in reversed(jaxpr.eqns):
            outs = tuple(not _is_drop(v) and v in wanted for v in eqn.outvars)
            if any(outs):
                live.append((eqn, outs))
                wanted.update(v for v in eqn.invars if not _is_literal(v))
        live.reverse()
        self._live_cache[key] = live
        return live

    def equation(self, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
        """One equation: concrete when all its inputs are, otherwise by its primitive's rule."""
        name = eqn.primitive.name
        if all(v is not None for _, v in ins):
            # Constants in, constants out: no dependency, and the value if it can be computed (calls by
            # interpreting them: small index arithmetic is faster in NumPy than dispatched to XLA).
            if name in _CALLS and not eqn.effects and _inner(eqn) is not None:
                return _call(self, eqn, ins, needed)
            values = None if eqn.effects else _evaluate(eqn, [v for _, v in ins])
            return [(None, v) for v in values] if values is not None else [_UNKNOWN] * len(eqn.outvars)
        rule = _RULES.get(name)
        if rule is None:
            if name in _CALLS and _inner(eqn) is not None:
                rule = _call
            else:
                rule = _dense
        outs = rule(self, eqn, ins, needed)
        return [(d if d is not None and _inexact(v.aval) else None, value) for (d, value), v in zip(outs, eqn.outvars)]


def _literal(var: Any) -> Any:
    value = var.val
    return np.asarray(value, dtype=var.aval.dtype) if _numeric(var.aval) else value


def _evaluate(eqn: Any, values: list[Any]) -> list[Any] | None:
    """The outputs of `eqn` on concrete inputs (None when they cannot be computed here)."""
    name = eqn.primitive.name
    fast = _NUMPY_MOVES.get(name) or _NUMPY_VALUES.get(name)
    if fast is not None and all(_numeric(v.aval) for v in (*eqn.invars, *eqn.outvars)):
        try:
            outs = fast(eqn.params, *(np.asarray(v) for v in values))
            return [np.asarray(o, dtype=v.aval.dtype) for o, v in zip(outs, eqn.outvars)]
        except Exception:  # any surprise: let JAX compute it
            pass
    try:
        result = eqn.primitive.bind(*values, **eqn.params)
    except Exception:  # unknown value: the rules stay conservative without it
        return None
    outs = list(result) if eqn.primitive.multiple_results else [result]
    return [np.asarray(o) if _numeric(v.aval) else o for o, v in zip(outs, eqn.outvars)]


# ---- rules: each takes (interpreter, equation, inputs, needed outputs) and returns the outputs' Vals.

Rule = Callable[[_Interpreter, Any, list[Val], Sequence[bool]], list[Val]]


def _dense(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Every output element depends on every input element (a nonlinear function of all of them)."""
    name = eqn.primitive.name
    if name not in _DENSE and name not in _WARNED:
        _WARNED.add(name)
        warnings.warn(
            f"sparsity detection: unknown primitive {name!r} is treated as dense (every output element "
            "depends on every input element)",
            stacklevel=4,
        )
    total = _total([d for d, _ in ins], it.n)
    if it.pairs is not None:
        it.pairs.square(total)
    return [(None if total is None else _deps.broadcast(total, _shape(v)), None) for v in eqn.outvars]


def _zero(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return [_UNKNOWN] * len(eqn.outvars)


def _elementwise(kind: str) -> Rule:
    def rule(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
        shape = _shape(eqn.outvars[0])
        parts = [d for d, _ in ins]
        if eqn.primitive.name == "select_n":
            parts = parts[1:]  # the predicate only chooses
        out = _deps.union(parts, shape, it.n)
        if it.pairs is not None and out is not None:
            if kind == "nonlinear" or (eqn.primitive.name == "abs" and np.dtype(eqn.invars[0].aval.dtype).kind == "c"):
                it.pairs.square(out)
            elif kind in ("mul", "div") and parts[0] is not None and parts[1] is not None:
                it.pairs.cross(_deps.broadcast(parts[0], shape), _deps.broadcast(parts[1], shape))
            if kind == "div" and parts[1] is not None:
                it.pairs.square(_deps.broadcast(parts[1], shape))
        return [(out, None)]

    return rule


def _identities(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return [(d, None) for d, _ in ins[: len(eqn.outvars)]]


def _move(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Data movement: apply the primitive to element ids and gather the rows the ids name."""
    name = eqn.primitive.name
    data, index = _ROLES[name](len(ins))
    data, index = list(data), list(index)
    if any(ins[i][1] is None for i in index):
        return _UNKNOWN_INDEX.get(name, _dense)(it, eqn, ins, needed)
    shapes = [_shape(v) for v in eqn.invars]
    present = [i for i in data if ins[i][0] is not None]
    if not present:
        return [_UNKNOWN] * len(eqn.outvars)
    if (
        name in ("reshape", "squeeze", "expand_dims", "copy", "copy_p")
        and len(present) == 1
        and not eqn.params.get("dimensions" if name == "reshape" else "_")
    ):
        d = ins[present[0]][0]
        return [(Deps(d.rows, _shape(eqn.outvars[0])), None)]
    arrays: list[Any] = [v for _, v in ins]
    offset = 0
    for i in data:
        if ins[i][0] is not None:
            arrays[i] = _ids(shapes[i], offset)
            offset += math.prod(shapes[i])
        else:
            arrays[i] = np.zeros(shapes[i], dtype=np.int64)
    fast = _NUMPY_MOVES.get(name)
    if fast is not None:
        outs = fast(eqn.params, *arrays)
    else:
        outs = _bind_ids(eqn, arrays, data)
    stacked = _stack([ins[i][0] for i in present], [math.prod(shapes[i]) for i in present], it.n)
    return [(_deps.gather(stacked, np.asarray(o, dtype=np.int64) - 1), None) for o in outs]


def _bind_ids(eqn: Any, arrays: list[Any], data: Sequence[int]) -> list[np.ndarray]:
    """Run the primitive itself on int32 id arrays (ids first, constant indices as they are)."""
    params = dict(eqn.params)
    if "fill_value" in params:
        params["fill_value"] = 0
    operands = [np.asarray(a, dtype=np.int32) if i in data else a for i, a in enumerate(arrays)]
    result = eqn.primitive.bind(*operands, **params)
    return [np.asarray(r) for r in (result if eqn.primitive.multiple_results else [result])]


def _select_unknown(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return _elementwise("linear")(it, eqn, ins, needed)


def _dynamic_slice_unknown(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """A start that depends on the input: along that axis, any element may be the one taken."""
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN]
    unknown = [k for k, (_, v) in enumerate(ins[1:]) if v is None]
    starts = [(None, np.zeros((), dtype=np.int64)) if v is None else (None, v) for _, v in ins[1:]]
    return _move(it, eqn, [(_smear(d, unknown), None), *starts], needed)


def _gather_unknown(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN]
    indexed = eqn.params["dimension_numbers"].start_index_map
    indices = np.zeros(_shape(eqn.invars[1]), dtype=np.dtype(eqn.invars[1].aval.dtype))
    return _move(it, eqn, [(_smear(d, indexed), None), (None, indices)], needed)


def _update_unknown(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """An update at a position that depends on the input: it may land on any element."""
    shape = _shape(eqn.outvars[0])
    return [(_deps.union([ins[0][0], _whole([ins[1][0]], shape, it.n)], shape, it.n), None)]


_UNKNOWN_INDEX: dict[str, Rule] = {
    "select_n": _select_unknown,
    "dynamic_slice": _dynamic_slice_unknown,
    "gather": _gather_unknown,
    "dynamic_update_slice": _update_unknown,
}


def _scatter(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Scatters: the update elements land where the transposed gather reads them from."""
    import jax

    name = eqn.primitive.name
    (operand, _), (_, indices), (updates, _) = ins[0], ins[1], ins[2]
    shape = _shape(eqn.outvars[0])
    applies = name == "scatter" and eqn.params.get("update_jaxpr") is not None
    nonlinear = _SCATTERS[name] or applies
    if indices is None:
        out = _deps.union([operand, _whole([updates], shape, it.n)], shape, it.n)
    elif operand is None and updates is None:
        return [_UNKNOWN]
    else:
        dnums = eqn.params["dimension_numbers"]
        update_shape = _shape(eqn.invars[2])
        batching = tuple(getattr(dnums, "operand_batching_dims", ()))
        sizes, pos = [], 0
        for i in range(len(shape)):
            if i in dnums.inserted_window_dims or i in batching:
                sizes.append(1)
            else:
                sizes.append(update_shape[dnums.update_window_dims[pos]])
                pos += 1
        gather_dnums = jax.lax.GatherDimensionNumbers(
            offset_dims=tuple(dnums.update_window_dims),
            collapsed_slice_dims=tuple(dnums.inserted_window_dims),
            start_index_map=tuple(dnums.scatter_dims_to_operand_dims),
            operand_batching_dims=batching,
            start_indices_batching_dims=tuple(getattr(dnums, "scatter_indices_batching_dims", ())),
        )
        mode = eqn.params.get("mode")
        fill = mode == jax.lax.GatherScatterMode.FILL_OR_DROP
        target = _point_targets(dnums, np.asarray(indices), shape, fill)
        if target is None:
            target = (
                np.asarray(
                    jax.lax.gather(
                        np.asarray(_ids(shape), dtype=np.int32),
                        indices,
                        gather_dnums,
                        tuple(sizes),
                        mode=mode,
                        fill_value=0 if fill else None,
                    ),
                    dtype=np.int64,
                ).reshape(-1)
                - 1
            )
        size = math.prod(shape)
        hit = target >= 0
        keep = np.ones(size, dtype=bool)
        # A plain scatter overwrites what it hits (unless the bounds are only promised, not enforced).
        if (
            name == "scatter"
            and not applies
            and mode in (jax.lax.GatherScatterMode.FILL_OR_DROP, jax.lax.GatherScatterMode.CLIP)
        ):
            keep[target[hit]] = False
        kept = np.nonzero(keep)[0]
        sources = np.concatenate([kept, size + np.nonzero(hit)[0]])
        targets = np.concatenate([kept, target[hit]])
        stacked = _stack([operand, updates], [size, math.prod(update_shape)], it.n)
        out = _deps.link(stacked, targets, sources, shape)
    if it.pairs is not None and nonlinear:
        it.pairs.square(out)
    return [(out, None)]


def _point_targets(dnums: Any, indices: np.ndarray, shape: tuple[int, ...], drop: bool) -> np.ndarray | None:
    """The flat targets of a scatter of single elements (``x.at[i].set``), in NumPy; None for other scatters."""
    rank = len(shape)
    if (
        tuple(dnums.update_window_dims) != ()
        or tuple(dnums.inserted_window_dims) != tuple(range(rank))
        or tuple(dnums.scatter_dims_to_operand_dims) != tuple(range(rank))
        or tuple(getattr(dnums, "operand_batching_dims", ()))
        or indices.ndim == 0
        or indices.shape[-1] != rank
    ):
        return None
    coords = indices.reshape(-1, rank).astype(np.int64)
    bounds = np.asarray(shape, dtype=np.int64)
    if drop:
        inside = ((coords >= 0) & (coords < bounds)).all(axis=1)
        coords = np.where(inside[:, None], coords, 0)
    else:  # clipped (or promised in bounds, where clipping over-approximates)
        inside = np.ones(coords.shape[0], dtype=bool)
        coords = np.clip(coords, 0, np.maximum(bounds - 1, 0))
    flat = np.ravel_multi_index(tuple(coords.T), shape) if rank else np.zeros(coords.shape[0], dtype=np.int64)
    return np.where(inside, flat, -1)


def _sort(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Sorting permutes each operand by the keys: exact when the keys are known, else any order."""
    import jax

    dimension, keys = eqn.params["dimension"], eqn.params.get("num_keys", 1)
    shape = _shape(eqn.invars[0])
    if all(v is not None for _, v in ins[:keys]):
        perm = jax.lax.sort_p.bind(
            *(v for _, v in ins[:keys]),
            np.asarray(_deps.element_ids(shape), dtype=np.int32),
            dimension=dimension,
            is_stable=eqn.params.get("is_stable", True),
            num_keys=keys,
        )[-1]
        perm = np.asarray(perm, dtype=np.int64)
        return [(None if d is None else _deps.gather(d, perm), None) for d, _ in ins]
    return [(None if d is None else _deps.spread(d, dimension, everywhere=True), None) for d, _ in ins]


def _top_k(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN] * len(eqn.outvars)
    axis = eqn.params.get("axis", eqn.params.get("reduction_dimension", -1))
    values = _deps.broadcast(_deps.reduce(d, [axis], keepdims=True), _shape(eqn.outvars[0]))
    return [(values, None)] + [_UNKNOWN] * (len(eqn.outvars) - 1)


def _reduction(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN]
    out = _deps.reduce(d, eqn.params["axes"])
    if it.pairs is not None and _REDUCTIONS[eqn.primitive.name]:
        it.pairs.square(out)
    return [(out, None)]


def _reduce(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """The general (variadic) reduce: each output depends on every operand along the reduced axes."""
    half = len(ins) // 2
    parts = [d for d, _ in ins[:half]]
    shape = _shape(eqn.invars[0])
    combined = _deps.union(parts, shape, it.n)
    reduced = None if combined is None else _deps.reduce(combined, eqn.params["dimensions"])
    out_shape = _shape(eqn.outvars[0])
    out = _deps.union([reduced, _whole([d for d, _ in ins[half:]], out_shape, it.n)], out_shape, it.n)
    if it.pairs is not None:
        it.pairs.square(out)
    return [(out, None)] * len(eqn.outvars)


def _cumulative(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN]
    out = _deps.spread(d, eqn.params["axis"], reverse=eqn.params.get("reverse", False))
    if it.pairs is not None and _CUMULATIVE[eqn.primitive.name]:
        it.pairs.square(out)
    return [(out, None)]


# Up to this many products (output size times contracted size), a bilinear dot_general pairs each lhs
# element with just the rhs elements it multiplies; past it, with all those of the rhs contracted.
_EXACT_PRODUCTS = 4_000_000


def _dot_general(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    (lhs, _), (rhs, _) = ins
    lshape, rshape = _shape(eqn.invars[0]), _shape(eqn.invars[1])
    products = math.prod(_shape(eqn.outvars[0])) * math.prod(lshape[i] for i in lc)
    exact = it.pairs is not None and lhs is not None and rhs is not None and products <= _EXACT_PRODUCTS
    out = _deps.contract(lhs, rhs, lshape, rshape, (lc, rc), (lb, rb), it.n, pairs=None if exact else it.pairs)
    if exact:
        # Both factors laid out as (batch, lhs free, rhs free, contracted), one row per product.
        lfree = [i for i in range(len(lshape)) if i not in lc and i not in lb]
        rfree = [i for i in range(len(rshape)) if i not in rc and i not in rb]
        batch = tuple(lshape[i] for i in lb)
        lf, rf = tuple(lshape[i] for i in lfree), tuple(rshape[i] for i in rfree)
        k = math.prod(lshape[i] for i in lc)
        lids = np.transpose(_deps.element_ids(lshape), (*lb, *lfree, *lc)).reshape(*batch, *lf, *(1,) * len(rf), k)
        rids = np.transpose(_deps.element_ids(rshape), (*rb, *rfree, *rc)).reshape(*batch, *(1,) * len(lf), *rf, k)
        full = (*batch, *lf, *rf, k)
        it.pairs.cross(_deps.gather(lhs, np.broadcast_to(lids, full)), _deps.gather(rhs, np.broadcast_to(rids, full)))
    return [(out, None)]


def _windows(
    shape: tuple[int, ...],
    window: Sequence[int],
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    base_dilation: Sequence[int],
    window_dilation: Sequence[int],
) -> np.ndarray:
    """For each output position of a windowed operation over an array of `shape`, the 1-based ids of the
    elements in its window (0: padding), as an array of the output shape plus one axis over the window."""
    ids = _np_pad(_ids(shape), 0, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)])
    out_shape = [
        max((p - (w - 1) * wd - 1) // s + 1, 0) for p, w, wd, s in zip(ids.shape, window, window_dilation, strides)
    ]
    views = []
    for offset in np.ndindex(*window):
        index = tuple(
            slice(o * wd, o * wd + (k - 1) * s + 1, s) if k else slice(0, 0)
            for o, wd, k, s in zip(offset, window_dilation, out_shape, strides)
        )
        views.append(ids[index])
    return np.stack(views, axis=-1) if views else np.zeros((*out_shape, 0), dtype=np.int64)


def _reduce_window(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Windowed reductions (pooling): each output depends on its window (and on the initial values)."""
    p = eqn.params
    name = eqn.primitive.name
    half = len(ins) // 2 if name == "reduce_window" else len(ins)
    shape = _shape(eqn.invars[0])
    combined = _deps.union([d for d, _ in ins[:half]], shape, it.n)
    out_shape = _shape(eqn.outvars[0])
    windowed = None
    if combined is not None:
        index = _windows(
            shape, p["window_dimensions"], p["window_strides"], p["padding"], p["base_dilation"], p["window_dilation"]
        )
        windowed = _deps.gather_union(combined, index - 1)
    out = _deps.union([windowed, _whole([d for d, _ in ins[half:]], out_shape, it.n)], out_shape, it.n)
    if it.pairs is not None and _WINDOWS[name]:
        it.pairs.square(out)
    return [(out, None)] * len(eqn.outvars)


def _conv(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Convolutions: an output element depends on its window of the lhs, over all input features (also
    with feature groups: conservative), and on the whole kernel of its output feature."""
    p = eqn.params
    (lhs, _), (rhs, _) = ins
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    out_shape = _shape(eqn.outvars[0])
    canonical = tuple(out_shape[i] for i in out_spec)  # (batch, feature, spatial...)
    spatial = len(canonical) - 2
    left = right = None
    if lhs is not None:
        moved = _deps.gather(lhs, np.transpose(_deps.element_ids(_shape(eqn.invars[0])), lhs_spec))
        kernel = tuple(_shape(eqn.invars[1])[i] for i in rhs_spec[2:])
        index = _windows(
            moved.shape,
            (1, 1, *kernel),
            (1, 1, *p["window_strides"]),
            ((0, 0), (0, 0), *p["padding"]),
            (1, 1, *(p.get("lhs_dilation") or (1,) * spatial)),
            (1, 1, *(p.get("rhs_dilation") or (1,) * spatial)),
        )  # (batch, features, out spatial..., window)
        index = np.moveaxis(index, 1, -2).reshape(*index.shape[:1], *index.shape[2:-1], -1)
        per_batch = _deps.gather_union(moved, index - 1)  # (batch, out spatial...)
        if p.get("batch_group_count", 1) > 1:
            per_batch = _deps.reduce(per_batch, [0], keepdims=True)
        expanded = Deps(per_batch.rows, (per_batch.shape[0], 1, *per_batch.shape[1:]))
        left = _deps.broadcast(expanded, canonical)
    if rhs is not None:
        moved = _deps.gather(rhs, np.transpose(_deps.element_ids(_shape(eqn.invars[1])), rhs_spec))
        per_feature = _deps.reduce(moved, range(1, len(moved.shape)))
        right = _deps.broadcast(Deps(per_feature.rows, (1, canonical[1]) + (1,) * spatial), canonical)
    if it.pairs is not None:
        it.pairs.cross(left, right)
    out = _deps.union([left, right], canonical, it.n)
    if out is not None:
        out = _deps.gather(out, np.transpose(_deps.element_ids(canonical), np.argsort(out_spec)))
    return [(out, None)]


def _fft(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """An FFT mixes everything along its axes (the last len(fft_lengths) ones), linearly."""
    d = ins[0][0]
    if d is None:
        return [_UNKNOWN]
    k = len(eqn.params["fft_lengths"])
    reduced = _deps.reduce(d, range(len(d.shape) - k, len(d.shape)), keepdims=True)
    return [(_deps.broadcast(reduced, _shape(eqn.outvars[0])), None)]


def _inner(eqn: Any) -> tuple[Any, list[Any]] | None:
    """The jaxpr a call-like primitive runs, with its constants (None if it has none we understand)."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        inner = eqn.params.get(key)
        if inner is None:
            continue
        jaxpr, consts = (inner.jaxpr, list(inner.consts)) if hasattr(inner, "consts") else (inner, [])
        if hasattr(jaxpr, "eqns") and len(jaxpr.invars) == len(eqn.invars) and len(jaxpr.outvars) == len(eqn.outvars):
            return jaxpr, consts
    return None


def _call(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    jaxpr, consts = _inner(eqn)  # type: ignore[misc]
    return it.run(jaxpr, consts, ins, needed)


def _union_vals(a: Val, b: Val, shape: tuple[int, ...], n: int) -> Val:
    return (_deps.union([a[0], b[0]], shape, n), None)


def _same(a: Sequence[Val], b: Sequence[Val]) -> bool:
    """Whether two (growing) carries have the same dependencies."""
    for (da, _), (db, _) in zip(a, b):
        if (da is None) != (db is None) or (da is not None and da.rows.nnz != db.rows.nnz):
            return False
    return True


def _widen(carry: list[Val], avals: Sequence[Any], everything: Deps | None) -> list[Val]:
    """The top of the lattice: every element of every carry depends on everything that reaches the loop."""
    return [
        (None if everything is None or not _inexact(a) else _deps.broadcast(everything, tuple(a.shape)), None)
        for a in avals
    ]


def _cond(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """cond: the branch taken when the index is known, else the union over all branches."""
    branches = eqn.params["branches"]
    index, operands = ins[0][1], ins[1:]
    if index is not None:
        branch = branches[int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))]
        return it.run(branch.jaxpr, list(branch.consts), operands, needed)
    outs: list[Val] | None = None
    for branch in branches:
        result = it.run(branch.jaxpr, list(branch.consts), operands, needed)
        if outs is None:
            outs = [(d, None) for d, _ in result]
        else:
            outs = [_union_vals(a, b, _shape(v), it.n) for a, b, v in zip(outs, result, eqn.outvars)]
    return outs or []


def _while(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """while: unrolled while the condition is known, then a fixed point over the body."""
    p = eqn.params
    cond, body = p["cond_jaxpr"], p["body_jaxpr"]
    cond_consts, body_consts = ins[: p["cond_nconsts"]], ins[p["cond_nconsts"] : p["cond_nconsts"] + p["body_nconsts"]]
    carry = list(ins[p["cond_nconsts"] + p["body_nconsts"] :])
    consts_c, consts_b = list(cond.consts), list(body.consts)
    start = it.work
    while it.work - start < _UNROLL_BUDGET:
        with it.first_order():
            (_, go), *_ = it.run(cond.jaxpr, consts_c, [*cond_consts, *carry])
        if go is None:
            break
        if not bool(np.asarray(go)):
            return carry
        carry = it.run(body.jaxpr, consts_b, [*body_consts, *carry])
    avals = [v.aval for v in eqn.outvars]
    return _fixed_point(it, body, body_consts, [], carry, avals, len(carry), None)


def _fixed_point(
    it: _Interpreter,
    body: Any,
    consts: list[Val],
    xs: list[Val],
    carry: list[Val],
    avals: Sequence[Any],
    num_carry: int,
    limit: int | None,
    needed: Sequence[bool] | None = None,
) -> list[Val]:
    """Iterate ``carry |= body(carry)`` (at most `limit` times) until it stops growing; then one more
    pass, collecting second order, gives the carry and the per-iteration outputs of any iteration."""
    carry = [(d, None) for d, _ in carry]
    carry_only = [True] * num_carry + [False] * (len(body.jaxpr.outvars) - num_carry)
    sweeps = 0
    with it.first_order():
        while limit is None or sweeps < limit:
            outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs], carry_only)
            grown = [_union_vals(c, o, tuple(a.shape), it.n) for c, o, a in zip(carry, outs[:num_carry], avals)]
            sweeps += 1
            if _same(grown, carry):
                break
            carry = grown
            if sweeps >= _MAX_SWEEPS:
                everything = _total([d for d, _ in (*consts, *carry, *xs)], it.n)
                carry = _widen(carry, avals, everything)
                break
    outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs], needed)
    return carry + [(d, None) for d, _ in outs[num_carry:]]


def _scan(it: _Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """scan: unrolled with each iteration's slice of xs within the budget, then a fixed point with each
    slice standing for any of them."""
    p = eqn.params
    body, length, reverse = p["jaxpr"], int(p["length"]), bool(p.get("reverse", False))
    num_consts, num_carry = p["num_consts"], p["num_carry"]
    consts, carry, xs = ins[:num_consts], list(ins[num_consts : num_consts + num_carry]), ins[num_consts + num_carry :]
    x_shapes = [_shape(v)[1:] for v in eqn.invars[num_consts + num_carry :]]
    y_vars = eqn.outvars[num_carry:]
    y_shapes = [_shape(v)[1:] for v in y_vars]
    ys: dict[int, list[Val]] = {}
    order = list(range(length - 1, -1, -1) if reverse else range(length))
    body_needed = [True] * num_carry + list(needed[num_carry:])
    steps, start = 0, it.work
    for k in order:
        if it.work - start >= _UNROLL_BUDGET:
            break
        steps += 1
        xs_k = []
        for (d, value), shape in zip(xs, x_shapes):
            size = math.prod(shape)
            xs_k.append(
                (
                    None if d is None else Deps(d.rows[k * size : (k + 1) * size], shape),
                    None if value is None else value[k],
                )
            )
        outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs_k], body_needed)
        carry, ys[k] = outs[:num_carry], outs[num_carry:]
    if steps < length:
        rest = order[steps:]
        xs_any = [(None if d is None else _deps.reduce(d, [0]), None) for d, _ in xs]
        carry_avals = [v.aval for v in eqn.outvars[:num_carry]]
        outs = _fixed_point(it, body, consts, xs_any, carry, carry_avals, num_carry, len(rest), body_needed)
        carry = outs[:num_carry]
        for k in rest:
            ys[k] = outs[num_carry:]
    stacked = []
    for j, shape in enumerate(y_shapes):
        parts = [ys[k][j] for k in range(length)]
        size = math.prod(shape)
        if all(d is None for d, _ in parts):
            deps = None
        else:
            deps = Deps(
                sp.csr_array(sp.vstack([_rows(d, size, it.n) for d, _ in parts], format="csr")), (length, *shape)
            )
        if length and all(v is not None for _, v in parts):
            value = np.stack([np.asarray(v) for _, v in parts])
        else:
            value = None
        stacked.append((deps, value))
    return carry + stacked


def _rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for name in _ZERO:
        rules[name] = _zero
    for name in _LINEAR | {"abs"}:
        rules[name] = _elementwise("linear")
    for name in _NONLINEAR:
        rules[name] = _elementwise("nonlinear")
    rules["mul"] = _elementwise("mul")
    rules["div"] = _elementwise("div")
    for name in _IDENTITIES:
        rules[name] = _identities
    for name in _DENSE:
        rules[name] = _dense
    for name in _ROLES:
        rules[name] = _move
    for name in _SCATTERS:
        rules[name] = _scatter
    for name in _REDUCTIONS:
        rules[name] = _reduction
    for name in _CUMULATIVE:
        rules[name] = _cumulative
    for name in _WINDOWS:
        rules[name] = _reduce_window
    rules.update(
        {
            "reduce": _reduce,
            "sort": _sort,
            "top_k": _top_k,
            "approx_top_k": _top_k,
            "dot_general": _dot_general,
            "conv_general_dilated": _conv,
            "fft": _fft,
            "cond": _cond,
            "while": _while,
            "scan": _scan,
        }
    )
    return rules


_RULES = _rules()
