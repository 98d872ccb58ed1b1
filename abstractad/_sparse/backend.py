"""Sparse(backend): sparse Jacobians and Hessians by detection, coloring and compressed evaluation.

A Jacobian whose columns split into k groups that share no row is recovered from k pushforwards
(one per group, seeded with the sum of its basis vectors), or from k pullbacks by rows; a Hessian
from k HVPs of a symmetric star coloring. All k run as one batch through the backend's vmap hook,
and a gather with indices computed once places each entry in the sparse result. The pattern
(detected, or given) and the coloring are computed once per function, shapes and dtypes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

import numpy as np

from .. import _arrays, _complex, _derive, _tree
from .._backend import Backend, LRUCache, cache_key, resolve
from .._call import Arguments, Plan, Traced
from .._convert import to_native
from .._structure import HESS, JAC, Output, Point, split_result
from .._wrapper import Wrapper

COLORINGS = ("greedy", "natural", "largest_first", "smallest_last", "incidence_degree", "dsatur")
DETECTORS = (None, "tracer", "jaxpr")


def _scipy() -> Any:
    try:
        import scipy.sparse
    except ImportError as e:  # pragma: no cover - scipy is in the [sparse] and [all] extras
        raise ImportError("Sparse needs SciPy, which is not installed: pip install 'abstractad[sparse]'") from e
    return scipy.sparse


@dataclasses.dataclass(frozen=True, eq=False)
class Sparse(Wrapper):
    """Sparse Jacobians and Hessians on any backend, by coloring: ``jacobian``, ``hessian`` and their
    ``value_*`` forms return sparse matrices; every other operator is the wrapped backend's.

    The result is a 2-D matrix of shape ``(f(x).size, x.size)`` (Hessian: ``(x.size, x.size)``,
    pytrees raveled in leaf order): a ``scipy.sparse.csr_array`` for NumPy and Python inputs, a
    ``jax.experimental.sparse.BCOO`` for JAX arrays, a ``torch.sparse_csr_tensor`` (on `x`'s
    device) for torch tensors and a ``tf.sparse.SparseTensor`` for TensorFlow tensors.

    `sparsity` is the pattern (a SciPy sparse matrix or a boolean array, entries present where
    nonzero); by default it is detected once per function, shapes and dtypes: with ``jaxpr``
    interpretation on JAX, else by running `f` on index-set arrays (``detector="tracer"``), which
    needs `f` written with ``ad.array_namespace(x)``, NumPy or torch functions. Detection is global
    (the pattern holds for every `x`) and conservative (it never misses an entry).
    `coloring` is the vertex order of the greedy coloring: ``"greedy"`` tries ``natural``,
    ``largest_first`` and ``dsatur`` and keeps the fewest colors; or one of ``natural``,
    ``largest_first``, ``smallest_last``, ``incidence_degree``, ``dsatur``. Jacobians use columns (pushforwards) or rows
    (pullbacks), whichever needs fewer colors; Hessians a symmetric star coloring.

    >>> import numpy as np, abstractad as ad
    >>> def f(x):
    ...     return x[1:] ** 2 - x[:-1]
    >>> J = ad.jacobian(f, np.arange(4.0), backend=ad.backends.Sparse("autograd"))
    >>> type(J).__name__, J.shape, J.nnz
    ('csr_array', (3, 4), 6)
    >>> J.toarray()
    array([[-1.,  2.,  0.,  0.],
           [ 0., -1.,  4.,  0.],
           [ 0.,  0., -1.,  6.]])
    """

    name: ClassVar[str] = "sparse"
    backend: Any = None
    sparsity: Any = None
    coloring: str = "greedy"
    detector: str | None = None

    def __post_init__(self) -> None:
        if self.backend is None:
            raise TypeError("Sparse needs a backend to wrap, e.g. Sparse('jax')")
        _scipy()
        if isinstance(self.backend, Sparse):
            raise TypeError("Sparse(Sparse(...)): wrap the backend once")
        if self.coloring not in COLORINGS:
            raise ValueError(f"Sparse coloring must be one of {COLORINGS}, not {self.coloring!r}")
        if self.detector not in DETECTORS:
            raise ValueError(f"Sparse detector must be None, 'tracer' or 'jaxpr', not {self.detector!r}")
        object.__setattr__(self, "backend", resolve(self.backend))
        object.__setattr__(self, "mode", self.backend.mode)
        pattern = None if self.sparsity is None else _as_pattern(self.sparsity)
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_key", (self.backend, self.coloring, self.detector, _fingerprint(pattern)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sparse) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @property
    def wrapped(self) -> Backend:
        return self.backend

    def foreign(self, fn: Any) -> Callable[[Any], Any]:
        return self.backend.foreign(fn)

    def compile_operator(self, fn: Callable) -> Callable | None:
        return self.backend.compile_operator(fn) if self.backend.traces_python else None

    @property
    def compiles(self) -> bool:
        return self.backend.compiles and self.backend.traces_python

    def jacobian_sparsity(self, f: Callable, x: Any) -> Any:
        if self.detector == "tracer":
            return None
        return self.backend.jacobian_sparsity(f, x)

    def hessian_sparsity(self, f: Callable, x: Any) -> Any:
        if self.detector == "tracer":
            return None
        return self.backend.hessian_sparsity(f, x)

    # ------------------------------------------------------------------ the sparse operators
    def prepare_operator(self, spec: Any, arguments: Arguments, static: tuple) -> Plan | None:
        """A SparsePlan for jacobian, hessian and their value_ forms; None (the generic plan) for the others."""
        derive = _SPARSE.get(spec.name)
        if derive is None:
            return None
        return SparsePlan(spec, derive, arguments, static)

    def __repr__(self) -> str:
        fields = [repr(self.backend)]
        if self.sparsity is not None:
            fields.append(f"sparsity=<{self._pattern.shape[0]}x{self._pattern.shape[1]}, nnz={self._pattern.nnz}>")
        if self.coloring != "greedy":
            fields.append(f"coloring={self.coloring!r}")
        if self.detector is not None:
            fields.append(f"detector={self.detector!r}")
        return f"Sparse({', '.join(fields)})"


# ---------------------------------------------------------------------------- patterns


def _as_pattern(sparsity: Any) -> Any:
    """A user's pattern as a canonical boolean CSR array."""
    sparse = _scipy()
    if sparse.issparse(sparsity):
        coo = sparse.coo_array(sparsity)
        pattern = sparse.csr_array((np.ones(coo.nnz, dtype=bool), (coo.row, coo.col)), shape=coo.shape, dtype=bool)
    else:
        if _arrays.is_array(sparsity):
            sparsity = _arrays.to_numpy(sparsity)
        try:
            dense = np.asarray(sparsity)
        except Exception:
            raise TypeError(
                f"Sparse sparsity must be a SciPy sparse matrix or a boolean array, not {sparsity!r}"
            ) from None
        if dense.dtype == object:
            raise TypeError(
                f"Sparse sparsity must be a SciPy sparse matrix or a boolean array, not {type(sparsity).__name__}"
            )
        pattern = sparse.csr_array(dense != 0)
    if pattern.ndim != 2:
        raise ValueError(f"Sparse sparsity must be 2-D (outputs x inputs), not of shape {pattern.shape}")
    pattern.sum_duplicates()
    pattern.sort_indices()
    return pattern


def _fingerprint(pattern: Any) -> Hashable:
    if pattern is None:
        return None
    digest = hashlib.sha1()
    for part in (np.asarray(pattern.shape), pattern.indptr, pattern.indices):
        digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
    return digest.hexdigest()


@dataclasses.dataclass
class Compression:
    """What one sparse operator evaluates: the pattern, the seeds (one per color), and where each
    stored entry of the result sits in the compressed products."""

    pattern: Any  # canonical CSR: the result's structure
    colors: np.ndarray
    seeds: np.ndarray  # (k, n) for pushforwards / HVPs, (k, m) for pullbacks: 0/1
    index: np.ndarray  # (nnz,) flat positions in the (k, m) or (k, n) compressed products
    forward: bool
    natives: dict = dataclasses.field(default_factory=dict)  # seeds and index as engine arrays, per device

    @property
    def k(self) -> int:
        return int(self.seeds.shape[0])


class State:
    """The patterns and colorings of one function at one set of shapes, computed on first use."""

    def __init__(self) -> None:
        self.jacobian: Compression | None = None
        self.hessian: Compression | None = None
        self._structures: dict[tuple, Any] = {}

    def assemble(self, values: Any, kind: str) -> Any:
        """The stored values of a Jacobian or Hessian (`kind`, JAC or HESS), already in x's library and
        on its device, as a sparse matrix of that library."""
        comp = self.hessian if kind == HESS else self.jacobian
        assert comp is not None
        lib = _arrays.library_of(values)
        key = (kind, lib, str(getattr(values, "device", "")) if lib == "torch" else None)
        structure = self._structures.get(key)
        if structure is None:  # the index arrays, made once per library and device
            structure = self._structures[key] = _structure(comp.pattern, values)
        return _to_sparse(comp.pattern, structure, values)


def _index(index: np.ndarray) -> np.ndarray:
    """Gather positions in the narrowest integer type that holds them (int32 where JAX has no int64)."""
    return index.astype(np.int32 if index.size == 0 or index.max() < 2**31 - 1 else np.int64)


def _seeds(colors: np.ndarray, k: int) -> np.ndarray:
    seeds = np.zeros((k, colors.size), dtype=np.float64)
    seeds[colors, np.arange(colors.size)] = 1.0
    return seeds


def _choose_coloring(fn: Callable[[Any, str], np.ndarray], pattern: Any, order: str) -> np.ndarray:
    if order != "greedy":
        return fn(pattern, order)
    best = None
    for candidate in ("natural", "largest_first", "dsatur"):
        colors = fn(pattern, candidate)
        if best is None or (colors.max(initial=-1) < best.max(initial=-1)):
            best = colors
    assert best is not None
    return best


def jacobian_compression(b: Sparse, pattern: Any) -> Compression:
    """Columns (pushforwards) or rows (pullbacks), whichever takes fewer colors and the backend can do."""
    from . import coloring as _coloring

    inner = b.backend
    can_forward = inner.has_pushforward() and inner.mode != "reverse"
    can_reverse = inner.has_pullback() and inner.mode != "forward"
    options = []
    if can_forward:
        options.append((True, _choose_coloring(_coloring.column_coloring, pattern, b.coloring)))
    # A symmetric pattern colors its rows as its columns: no need to try.
    symmetric = pattern.shape[0] == pattern.shape[1] and (pattern != pattern.T).nnz == 0
    if can_reverse and not (can_forward and symmetric):
        options.append((False, _choose_coloring(_coloring.row_coloring, pattern, b.coloring)))
    forward, colors = min(options, key=lambda o: (o[1].max(initial=-1), not o[0]))
    k = int(colors.max(initial=-1)) + 1
    index = _coloring.column_index(pattern, colors) if forward else _coloring.row_index(pattern, colors)
    return Compression(pattern, colors, _seeds(colors, k), _index(index), forward)


def hessian_compression(b: Sparse, pattern: Any) -> Compression:
    from . import coloring as _coloring

    colors = _choose_coloring(_coloring.star_coloring, pattern, b.coloring)
    k = int(colors.max(initial=-1)) + 1
    full = _coloring.symmetric_pattern(pattern)
    return Compression(full, colors, _seeds(colors, k), _index(_coloring.star_index(full, colors)), True)


def _detect_jacobian(b: Sparse, f: Callable, x: Any) -> Any:
    from . import tracer as _tracer

    found = b.jacobian_sparsity(f, x)
    if found is None:
        found = _tracer.jacobian_pattern(f, tuple(_derive.shape(x)), _arrays.dtype_name(x))
    return found


def _detect_hessian(b: Sparse, f: Callable, x: Any) -> Any:
    from . import tracer as _tracer

    found = b.hessian_sparsity(f, x)
    if found is None:
        found = _tracer.hessian_pattern(f, tuple(_derive.shape(x)), _arrays.dtype_name(x))
    return found


def _given(b: Sparse, shape: tuple[int, int], what: str) -> Any:
    pattern = b._pattern
    if tuple(pattern.shape) != shape:
        raise ValueError(
            f"Sparse: the sparsity pattern has shape {tuple(pattern.shape)}, but the {what} has shape {shape}"
        )
    return pattern


# ---------------------------------------------------------------------------- compressed evaluation


def _transpose_index(pattern: Any) -> np.ndarray:
    """For each stored entry (i, j) of a symmetric canonical CSR `pattern`, the position of (j, i)."""
    positions = _scipy().csr_array((np.arange(pattern.nnz), pattern.indices, pattern.indptr), shape=pattern.shape)
    transposed = positions.T.tocsr()
    transposed.sort_indices()
    return np.asarray(transposed.data, dtype=np.int64)


def _values(b: Backend, compressed: Any, comp: Compression) -> Any:
    """The stored entries of the result, gathered from the compressed products."""
    xp = _arrays.array_namespace(compressed)
    flat = xp.reshape(compressed, (-1,))
    return xp.take(flat, _constant(b, flat, comp, "index", lambda: b.constant(flat, comp.index)), axis=0)


def _seed_array(b: Backend, comp: Compression, like: Any, shape: tuple[int, ...]) -> Any:
    """The seeds, one per color, shaped like `like` and in its dtype."""

    def build() -> Any:
        s = b.constant(like, comp.seeds.reshape((comp.k, *shape)))
        return s if _arrays.dtype_name(s) == _arrays.dtype_name(like) else b.namespace(like).astype(s, like.dtype)

    return _constant(b, like, comp, "seeds", build)


# Array types whose constants outlive the call (not tracers, not graph tensors): cached per device.
_CONCRETE = {"ndarray", "Tensor", "ArrayImpl", "EagerTensor"}


def _constant(b: Backend, like: Any, comp: Compression, name: str, build: Callable[[], Any]) -> Any:
    """``build()``, an engine array for arrays like `like`: made once per array type, dtype and device
    where it is a concrete array (inside jax.jit or tf.function it is a constant of the trace)."""
    kind = type(like)
    if kind.__name__ not in _CONCRETE:
        return build()
    key = (name, kind, _arrays.dtype_name(like), str(getattr(like, "device", "")))
    cached = comp.natives.get(key)
    if cached is None:
        cached = comp.natives[key] = build()
    return cached


def _join(parts: list[Any]) -> Any:
    """The compressed products of the chunks of colors, as one array."""
    return parts[0] if len(parts) == 1 else _arrays.array_namespace(parts[0]).concat(parts, axis=0)


def _chunks(k: int, chunk_size: int | None) -> list[tuple[int, int]]:
    step = _derive.chunk_length(k, 1, chunk_size) if chunk_size is not None else max(k, 1)
    return [(s, min(k, s + step)) for s in range(0, k, step)]


def sparse_jacobian(state: State, b: Sparse, f: Callable, x: Any, chunk_size: int | None = None) -> tuple[Any, Any]:
    """``(f(x), stored entries of J)``: one batched pushforward or pullback per chunk of colors."""
    inner = b.backend
    n = _derive.size(x)
    if state.jacobian is None:
        if b._pattern is not None:
            m = int(b._pattern.shape[0])
            pattern = _given(b, (m, n), f"Jacobian of f at x (with {n} inputs)")
        else:
            pattern = _detect_jacobian(b, f, x)
        state.jacobian = jacobian_compression(b, pattern)
    comp = state.jacobian
    m = int(comp.pattern.shape[0])
    if comp.k == 0:
        y = f(x)
        _check_outputs(y, m)
        return y, _values(b, b.namespace(x).zeros((0,), dtype=x.dtype), comp)
    parts, y = [], None
    if comp.forward:
        seeds = _seed_array(b, comp, x, tuple(_derive.shape(x)))
        for start, stop in _chunks(comp.k, chunk_size):
            y, part = inner.batched_pushforward(f, x, seeds[start:stop])
            parts.append(part)
    else:
        y, pullbacks = inner.batched_pullback(f, x)
        seeds = _seed_array(b, comp, y, tuple(_derive.shape(y)))
        for start, stop in _chunks(comp.k, chunk_size):
            parts.append(pullbacks(seeds[start:stop]))
    _check_outputs(y, m)
    return y, _values(b, _join(parts), comp)


def _check_outputs(y: Any, m: int) -> None:
    if _derive.size(y) != m:
        raise ValueError(
            f"Sparse: the sparsity pattern has {m} rows, but f(x) has {_derive.size(y)} elements "
            f"(shape {_derive.shape(y)})"
        )


def sparse_gradient_and_hessian(
    state: State, b: Sparse, f: Callable, x: Any, chunk_size: int | None = None
) -> tuple[Any, Any]:
    """``(∇f(x), stored entries of ∇²f(x))``: one batch of HVPs, one per color of a star coloring."""
    inner = b.backend
    n = _derive.size(x)
    if state.hessian is None:
        if b._pattern is not None:
            pattern = _given(b, (n, n), f"Hessian of f at x (with {n} inputs)")
        else:
            pattern = _detect_hessian(b, f, x)
        state.hessian = hessian_compression(b, pattern)
    comp = state.hessian
    with inner.nest():
        outer, grad, xo, to_outer = _derive.second_order(inner, f, x)
        if comp.k == 0:
            g = grad(xo)
            return g, _values(b, b.namespace(g).zeros((0,), dtype=g.dtype), comp)
        seeds = to_outer(_seed_array(inner, comp, x, tuple(_derive.shape(x))))
        batched = type(outer).batched_pushforward is not Backend.batched_pushforward
        parts, g = [], None
        if _derive.use_forward(outer, batched):
            for start, stop in _chunks(comp.k, chunk_size):
                g, part = outer.batched_pushforward(grad, xo, seeds[start:stop])
                parts.append(part)
        else:  # reverse-over-reverse: the Hessian is symmetric, so a pullback of the gradient is an HVP
            g, pullbacks = outer.batched_pullback(grad, xo)
            parts = [pullbacks(seeds[start:stop]) for start, stop in _chunks(comp.k, chunk_size)]
    values = _values(outer, _join(parts), comp)
    if inner.exact and outer.exact:
        return g, values
    # An approximate Hessian (finite differences) is made exactly symmetric, as the dense one is.
    mirror = _constant(outer, values, comp, "transpose", lambda: outer.constant(values, _transpose_index(comp.pattern)))
    return g, (values + outer.namespace(values).take(values, mirror, axis=0)) / 2


def sparse_value_gradient_and_hessian(
    state: State, b: Sparse, f: Callable, x: Any, chunk_size: int | None = None
) -> tuple[Any, Any, Any]:
    return (f(x), *sparse_gradient_and_hessian(state, b, f, x, chunk_size))


_SPARSE: dict[str, Callable[..., Any]] = {
    "jacobian": sparse_jacobian,
    "hessian": sparse_gradient_and_hessian,
    "value_gradient_and_hessian": sparse_value_gradient_and_hessian,
}

# (Sparse, function and shapes) -> State: shared by jacobian and value_and_jacobian, bounded.
_STATES = LRUCache(256)


class SparsePlan(Plan):
    """The plan of a sparse operator: the generic plan's structures, conversions and compiled operator,
    with the sparse derivation (bound to the State of the function and shapes) and its Jacobian or
    Hessian returned as the stored entries, then assembled into a sparse matrix of x's library."""

    numpy_direct = False  # a NumPy x gets a SciPy matrix: its calls convert, they are not direct

    def __init__(self, spec: Any, derive: Callable[..., Any], arguments: Arguments, static: tuple) -> None:
        point, b = arguments.point, arguments.b
        if _complex.is_complex(point.info.dtype):
            raise TypeError(f"{b!r}: sparse {spec.name} needs a real x")
        # The function and shapes: one State (pattern, coloring) for jacobian and value_and_jacobian.
        constants = (arguments.arg_spec, tuple(map(cache_key, arguments.arg_leaves)))
        key = (arguments.f, point.key, point.info.shape, point.info.dtype, *constants)
        self.state = state = _STATES.get_or_build((b, key), State)

        def sparse(b: Backend, f: Callable, x: Any, *rest: Any) -> Any:
            return derive(state, b, f, x, *rest)

        super().__init__(spec.name, sparse, arguments, results=spec.results, static=static, keep=spec.keep)

    def tree_form(self) -> bool:
        return False  # the compressed products need x as one flat vector

    def traced_operator(self, derive: Callable, arg_leaves: Sequence[Any], static: tuple, keep: int | None) -> Traced:
        return SparseTraced(self, derive, arg_leaves, static, keep)

    def result(self, leaves: Sequence[Any], kind: str) -> Any:
        if kind not in (JAC, HESS):
            return super().result(leaves, kind)
        info = self.point.info
        return self.state.assemble(_arrays.restore_python(leaves[0], dataclasses.replace(info, scalar=False)), kind)

    def direct(self) -> Callable[..., Any] | None:
        """The (compiled) operator with its sparse results assembled from the engine's arrays."""
        if self.output.layout is not None or self.point.layout is not None:
            return None
        fn, kinds, assemble = self.fn, self.kinds, self.state.assemble

        def assembled(*args: Any) -> tuple[Any, ...]:
            return tuple(assemble(r[0], kind) if kind in (JAC, HESS) else r[0] for r, kind in zip(fn(*args), kinds))

        return (lambda *args: assembled(*args)[0]) if len(kinds) == 1 else assembled


class SparseTraced(Traced):
    """The sparse operator that the engine runs: `f` at the flat x, the sparse derivation, and the
    stored entries of its Jacobian or Hessian returned as one leaf (no complex pairs: x is real)."""

    def derivation(self, output: Output, unpack: Callable[..., Any]) -> Callable[..., tuple[tuple[Any, ...], ...]]:
        _, b, point, kinds, _ = self.plan_values
        derive, f, static, keep, unravel = self.derive, self.f, self.static, self.keep, point.unravel

        def derived(*flat: Any) -> tuple[tuple[Any, ...], ...]:
            xn, seeds, full = unpack(flat)

            def fx(z: Any) -> Any:
                return output(f(unravel(z), *full))

            out = derive(b, fx, xn, *seeds, *static)
            out = out if keep is None else (out[keep],)
            return tuple(
                (r,) if kind in (JAC, HESS) else split_result(r, kind, point, output) for r, kind in zip(out, kinds)
            )

        return derived


# ---------------------------------------------------------------------------- sparse formats


def _structure(pattern: Any, like: Any) -> Any:
    """The index arrays of the sparse format of `like`'s library, for `pattern`."""
    m = int(pattern.shape[0])
    lib = _arrays.library_of(like)
    if lib == "torch":
        import torch

        return (
            torch.as_tensor(pattern.indptr.astype(np.int64), device=like.device),
            torch.as_tensor(pattern.indices.astype(np.int64), device=like.device),
        )
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(pattern.indptr))
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.asarray(np.stack([rows, pattern.indices], axis=1).astype(np.int32))
    if lib == "tensorflow":
        import tensorflow as tf

        return tf.constant(np.stack([rows, pattern.indices.astype(np.int64)], axis=1).reshape(-1, 2))
    return None


def _to_sparse(pattern: Any, structure: Any, values: Any) -> Any:
    """CSR structure plus values in their library: SciPy, JAX BCOO, torch sparse CSR, tf.sparse."""
    m, n = (int(d) for d in pattern.shape)
    lib = _arrays.library_of(values)
    if lib == "torch":
        import warnings

        import torch

        with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta": it is what users asked for
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(*structure, values, size=(m, n))
    if lib == "jax":
        from jax.experimental import sparse as jsparse

        # As jax.jit rebuilds one it returns (BCOO's constructor re-validates its arrays: 100 µs a call).
        info = {"shape": (m, n), "indices_sorted": True, "unique_indices": True}
        return jsparse.BCOO.tree_unflatten(info, (values, structure))
    if lib == "tensorflow":
        import tensorflow as tf

        return tf.sparse.SparseTensor(structure, values, dense_shape=(m, n))
    data = np.asarray(_arrays.to_numpy(values) if _arrays.is_array(values) else values)
    return _scipy().csr_array((data, pattern.indices.copy(), pattern.indptr.copy()), shape=(m, n))


# ---------------------------------------------------------------------------- patterns, public


def _traced(f: Callable, x: Any, args: tuple, backend: Any) -> tuple[Sparse, Callable, Any]:
    """`f` as the operators see it (one flat array in, one array out, constants bound), on `x` as the
    engine's array: what detection runs."""
    point = Point(x)
    inner = (
        backend
        if isinstance(backend, Backend)
        else resolve(backend, x if point.layout is None else _tree.flatten(x)[0][0])
    )
    b = inner if isinstance(inner, Sparse) else Sparse(inner)
    with b.scope(point.info.dtype):
        xn = point.native(b, x)
    leaves, spec = _tree.flatten(tuple(args))
    natives = [to_native(b, a) if _arrays.is_array(a) else a for a in leaves]
    full = spec.unflatten(natives)
    output = Output(b)

    def fx(z: Any) -> Any:
        return output(f(point.unravel(z), *full))

    return b, fx, xn


def jacobian_sparsity(f: Callable, x: Any, *args: Any, backend: Any = None) -> Any:
    """The global sparsity pattern of the Jacobian of `f` at arrays like `x`: a boolean
    ``scipy.sparse.csr_array`` of shape ``(f(x).size, x.size)`` that holds for every `x`.

    Found as :class:`Sparse` finds it: from the jaxpr on ``backend="jax"``, else by running `f` once
    on index-set arrays (no value of `x` is used, only its shape and dtype).

    >>> import numpy as np, abstractad as ad
    >>> ad.jacobian_sparsity(lambda x: x[1:] * x[:-1], np.zeros(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    b, fx, xn = _traced(f, x, args, backend)
    with b.scope(_arrays.dtype_name(xn)):
        return _detect_jacobian(b, fx, xn)


def hessian_sparsity(f: Callable, x: Any, *args: Any, backend: Any = None) -> Any:
    """The global sparsity pattern of the Hessian of scalar-valued `f` at arrays like `x`: a
    symmetric boolean ``scipy.sparse.csr_array`` of shape ``(x.size, x.size)``.

    >>> import numpy as np, abstractad as ad
    >>> ad.hessian_sparsity(lambda x: (x[1:] * x[:-1]).sum(), np.zeros(3)).toarray().astype(int)
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    b, fx, xn = _traced(f, x, args, backend)
    with b.scope(_arrays.dtype_name(xn)):
        return _detect_hessian(b, fx, xn)
