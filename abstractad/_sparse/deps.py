"""Index sets for sparsity detection: what each element of an array depends on, for every input.

An array's dependencies are a boolean CSR matrix with a row per element (in C order) and a column
per input element: row e holds the inputs element e may depend on. Every operation on arrays maps
to a few matrix operations on these rows (a gather for data movement, a sum of rows for a
reduction, an elementwise union), so a pass over a program costs a few sparse products, whatever
the program. Second order (the Hessian's pattern) is collected in a :class:`HessianPairs` accumulator:
each nonlinear operation adds the products of the dependencies it multiplies.

Both detectors, the array tracer (:mod:`abstractad._sparse.tracer`) and the jaxpr interpreter
(:mod:`abstractad._sparse.jaxpr`), are front ends to this module. The pattern is global: it holds for
every input, because no value is ever looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

# A pattern this dense is no sparse problem: detection stops with an error rather than fill memory.
MAX_ENTRIES = 200_000_000


class Deps:
    """The dependencies of an array of `shape` on `n` inputs: ``rows`` is (size, n), boolean CSR."""

    __slots__ = ("n", "rows", "shape")

    def __init__(self, rows: sp.csr_array, shape: tuple[int, ...]) -> None:
        self.rows = rows
        self.shape = tuple(int(d) for d in shape)
        self.n = int(rows.shape[1])

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:
        return f"Deps(shape={self.shape}, n={self.n}, nnz={self.rows.nnz})"


def identity(shape: tuple[int, ...]) -> Deps:
    """The inputs themselves: element i depends on input i."""
    n = math.prod(shape)
    return Deps(sp.eye_array(n, format="csr", dtype=bool), shape)


def empty(shape: tuple[int, ...], n: int) -> Deps:
    return Deps(sp.csr_array((math.prod(shape), n), dtype=bool), shape)


def element_ids(shape: tuple[int, ...]) -> np.ndarray:
    """The flat index of each element of an array of `shape`: what data movement is applied to."""
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def _check(rows: sp.csr_array) -> sp.csr_array:
    if rows.nnz > MAX_ENTRIES:
        raise ValueError(
            f"sparsity detection: an intermediate pattern has {rows.nnz:,} entries, too dense for a sparse "
            "Jacobian or Hessian; use the dense operator instead"
        )
    return rows


def gather(d: Deps, index: np.ndarray) -> Deps:
    """Element e of the result is element ``index[e]`` of `d` (no dependency where it is negative)."""
    index = np.asarray(index, dtype=np.int64)
    flat = index.reshape(-1)
    valid = flat >= 0
    if valid.all():
        return Deps(d.rows[flat] if flat.size else sp.csr_array((0, d.n), dtype=bool), index.shape)
    picked = np.nonzero(valid)[0]
    select = sp.csr_array(
        (np.ones(picked.size, dtype=bool), (picked, flat[valid])), shape=(flat.size, d.size), dtype=bool
    )
    return Deps(_check(sp.csr_array(select @ d.rows)), index.shape)


def broadcast(d: Deps, shape: tuple[int, ...]) -> Deps:
    if d.shape == tuple(shape):
        return d
    return gather(d, np.broadcast_to(element_ids(d.shape), shape))


def union(parts: Sequence[Deps | None], shape: tuple[int, ...], n: int) -> Deps | None:
    """Elementwise union, broadcasting each part to `shape` (None: a part without dependencies)."""
    present = [broadcast(p, shape) for p in parts if p is not None]
    if not present:
        return None
    rows = present[0].rows
    for p in present[1:]:
        rows = rows + p.rows
    return Deps(_check(sp.csr_array(rows)), shape)


def reduce(d: Deps, axes: Sequence[int], keepdims: bool = False) -> Deps:
    """Each result element depends on everything it sums (max, min, product alike)."""
    axes = sorted({a % len(d.shape) for a in axes}) if d.shape else []
    kept = [i for i in range(len(d.shape)) if i not in axes]
    out_shape = (
        tuple(1 if i in axes else s for i, s in enumerate(d.shape)) if keepdims else tuple(d.shape[i] for i in kept)
    )
    if not axes:
        return Deps(d.rows, out_shape)
    # The flat result index of each input element: its coordinates along the kept axes.
    coords = np.indices(d.shape, dtype=np.int64).reshape(len(d.shape), -1)
    kept_shape = tuple(d.shape[i] for i in kept)
    target = np.ravel_multi_index(tuple(coords[kept]), kept_shape) if kept else np.zeros(d.size, dtype=np.int64)
    total = math.prod(kept_shape)
    summing = sp.csr_array(
        (np.ones(d.size, dtype=bool), (target, np.arange(d.size))), shape=(total, d.size), dtype=bool
    )
    return Deps(_check(sp.csr_array(summing @ d.rows)), out_shape)


def spread(d: Deps, axis: int, reverse: bool = False, everywhere: bool = False) -> Deps:
    """Cumulative operations along `axis`: element k depends on elements 0..k (k..end reversed);
    `everywhere`: on every element along the axis (sorting, softmax-like coupling)."""
    if not d.shape:
        return d
    axis %= len(d.shape)
    length = d.shape[axis]
    ids = np.moveaxis(element_ids(d.shape), axis, -1).reshape(-1, length)
    out_rows, in_cols = [], []
    for k in range(length):
        if everywhere:
            sources = ids
        else:
            sources = ids[:, k:] if reverse else ids[:, : k + 1]
        out_rows.append(np.repeat(ids[:, k], sources.shape[1]))
        in_cols.append(sources.reshape(-1))
        if sum(len(r) for r in out_rows) > MAX_ENTRIES:
            _check(sp.csr_array((MAX_ENTRIES + 1, 1)))
    rows = np.concatenate(out_rows) if out_rows else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(in_cols) if in_cols else np.zeros(0, dtype=np.int64)
    mix = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(d.size, d.size), dtype=bool)
    return Deps(_check(sp.csr_array(mix @ d.rows)), d.shape)


def contract(
    lhs: Deps | None,
    rhs: Deps | None,
    lhs_shape: tuple[int, ...],
    rhs_shape: tuple[int, ...],
    contracting: tuple[Sequence[int], Sequence[int]],
    batch: tuple[Sequence[int], Sequence[int]],
    n: int,
    pairs: HessianPairs | None = None,
) -> Deps | None:
    """A generalized matrix product (``lax.dot_general``'s dimension numbers): the result, laid out
    as (batch, lhs free, rhs free), depends on the lhs row and the rhs column it contracts."""
    (lc, rc), (lb, rb) = contracting, batch
    lfree = [i for i in range(len(lhs_shape)) if i not in lc and i not in lb]
    rfree = [i for i in range(len(rhs_shape)) if i not in rc and i not in rb]
    bshape = tuple(lhs_shape[i] for i in lb)
    lf = tuple(lhs_shape[i] for i in lfree)
    rf = tuple(rhs_shape[i] for i in rfree)
    out_shape = (*bshape, *lf, *rf)

    def side(d: Deps | None, shape: tuple[int, ...], b: Sequence[int], free: list[int], c: Sequence[int], left: bool):
        if d is None:
            return None
        # (batch, free, contracting) -> reduce the contracting axes -> broadcast into the result.
        moved = gather(d, np.transpose(element_ids(shape), (*b, *free, *c)))
        k = len(c)
        reduced = reduce(moved, range(len(moved.shape) - k, len(moved.shape))) if k else moved
        nb, nf = len(b), len(free)
        if left:
            expanded = reduced.shape + (1,) * len(rf)
        else:
            expanded = reduced.shape[:nb] + (1,) * len(lf) + reduced.shape[nb : nb + nf]
        return broadcast(Deps(reduced.rows, expanded), out_shape)

    left = side(lhs, lhs_shape, lb, lfree, lc, True)
    right = side(rhs, rhs_shape, rb, rfree, rc, False)
    if pairs is not None and left is not None and right is not None:
        pairs.cross(left, right)
    return union([left, right], out_shape, n)


class HessianPairs:
    """The Hessian's pattern, collected: every pair of inputs that some nonlinear operation couples."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._parts: list[sp.csr_array] = []

    def square(self, d: Deps | None) -> None:
        """A nonlinear function of one argument couples all its dependencies with each other."""
        if d is not None and d.rows.nnz:
            self._parts.append(_check(sp.csr_array(d.rows.T @ d.rows)))

    def cross(self, a: Deps | None, b: Deps | None) -> None:
        """A product couples the dependencies of one factor with those of the other, elementwise."""
        if a is not None and b is not None and a.rows.nnz and b.rows.nnz:
            self._parts.append(_check(sp.csr_array(a.rows.T @ b.rows)))

    def pattern(self) -> sp.csr_array:
        """The symmetric (n, n) pattern collected so far."""
        total = sp.csr_array((self.n, self.n), dtype=bool)
        for part in self._parts:
            total = total + part
        return sp.csr_array(total + total.T)


def pattern(d: Deps | None, size: int, n: int) -> sp.csr_array:
    """The (size, n) Jacobian pattern of an output with dependencies `d` (None: constant), sorted CSR."""
    rows = sp.csr_array((size, n), dtype=bool) if d is None else sp.csr_array(d.rows, copy=True)
    rows.sum_duplicates()
    rows.sort_indices()
    return rows


def link(d: Deps, targets: np.ndarray, sources: np.ndarray, shape: tuple[int, ...]) -> Deps:
    """A result of `shape` whose flat element ``targets[k]`` depends on flat element ``sources[k]`` of `d`, for
    every k (a target listed several times depends on the union; an element never listed, on nothing)."""
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    sources = np.asarray(sources, dtype=np.int64).reshape(-1)
    select = sp.csr_array(
        (np.ones(targets.size, dtype=bool), (targets, sources)), shape=(math.prod(shape), d.size), dtype=bool
    )
    return Deps(_check(sp.csr_array(select @ d.rows)), shape)


def gather_union(d: Deps, index: np.ndarray) -> Deps:
    """Element e of the result depends on every element ``index[e, j]`` of `d` (none where negative):
    the result has shape ``index.shape[:-1]`` (windowed reductions, convolutions)."""
    index = np.asarray(index, dtype=np.int64)
    shape = index.shape[:-1]
    flat = index.reshape(math.prod(shape), -1)
    target, slot = np.nonzero(flat >= 0)
    return link(d, target, flat[target, slot], shape)
