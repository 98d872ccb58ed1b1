"""Graph coloring for sparse Jacobians and Hessians.

A sparse Jacobian ``J`` (m x n) is recovered from a few products ``J @ v_c`` when the columns are
colored so that two columns sharing a nonzero row never share a color (a partial distance-2
coloring of the column side of the bipartite graph, Gebremedhin, Manne & Pothen, "What Color Is
Your Jacobian?", SIAM Review 2005): column ``j`` of color ``c`` is then alone among the columns of
color ``c`` in each of its rows, so ``(J @ v_c)[i] == J[i, j]``. Rows work the same way with
``w_c @ J``. A symmetric Hessian needs fewer products with a *star coloring* of its adjacency
graph (a distance-1 coloring in which every path on 4 vertices uses at least 3 colors): every
entry ``H[i, j]`` is then read directly from ``H @ v_{c(j)}`` or, by symmetry, from
``H @ v_{c(i)}``.

The colorings are greedy first-fit colorings in a chosen vertex order (:data:`ORDERS`); the
``*_index`` functions give, for each structural nonzero, its flat position in the compressed
matrix, so decompression is one gather. Only numpy and scipy are used: the conflict graph is built
with sparse products, once per pattern for all the orders asked of it in a row, and the sequential
part of each coloring (:mod:`.coloring_greedy`) is a loop of a few Python operations per edge over
views of its CSR arrays.

A *pattern* is anything :class:`scipy.sparse.csr_array` accepts: a scipy sparse matrix or array of
any format, in which every stored entry counts as present (even a stored zero), or a dense array,
in which the nonzero entries count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .coloring_greedy import Graph

__all__ = [
    "ORDERS",
    "canonical_pattern",
    "column_coloring",
    "column_index",
    "is_column_coloring",
    "is_row_coloring",
    "is_star_coloring",
    "row_coloring",
    "row_index",
    "star_coloring",
    "star_index",
    "symmetric_pattern",
]

ORDERS = ("natural", "largest_first", "smallest_last", "incidence_degree", "dsatur")


# ------------------------------------------------------------------ patterns


def canonical_pattern(pattern: Any) -> sp.csr_array:
    """The boolean CSR structure of `pattern`: sorted column indices, no duplicates, no stored zeros.

    Every entry stored in a sparse input counts as present, even one whose value is 0 (duplicates
    are merged); in a dense input the nonzero entries count. The k-th stored entry of the result,
    in row-major order, is the k-th entry of what :func:`column_index` and :func:`row_index` return.

    >>> p = canonical_pattern([[0.0, 2.0], [3.0, 0.0]])
    >>> p.dtype, p.indptr.tolist(), p.indices.tolist()
    (dtype('bool'), [0, 1, 2], [1, 0])
    """
    if sp.issparse(pattern):
        if pattern.ndim != 2:
            raise ValueError(f"a sparsity pattern must be 2-D, got a sparse array of shape {pattern.shape}")
        if pattern.format == "csr" and pattern.has_canonical_format:  # sorted, no duplicates: keep the structure
            ones = np.ones(pattern.nnz, dtype=bool)
            return sp.csr_array((ones, pattern.indices.copy(), pattern.indptr.copy()), shape=pattern.shape)
        coo = pattern.tocoo()
        rows = np.asarray(coo.row, dtype=np.int64)
        cols = np.asarray(coo.col, dtype=np.int64)
        result = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=coo.shape)
    else:
        try:
            dense = np.asarray(pattern)
        except (TypeError, ValueError) as error:
            raise TypeError(f"a sparsity pattern must be array-like, got {type(pattern).__name__} ({error})") from None
        if dense.dtype.kind not in "biufc":
            raise TypeError(
                f"a sparsity pattern must be a scipy sparse matrix or a numeric/boolean array-like, "
                f"got {type(pattern).__name__} (dtype {dense.dtype})"
            )
        if dense.ndim != 2:
            raise ValueError(f"a sparsity pattern must be 2-D, got an array of shape {dense.shape}")
        result = sp.csr_array(dense != 0)
    result.sum_duplicates()  # also sorts the indices; a no-op when already canonical
    return result


def symmetric_pattern(pattern: Any) -> sp.csr_array:
    """The boolean CSR structure of ``pattern | pattern.T`` for a square pattern: what :func:`star_index` iterates.

    Diagonal entries are kept where `pattern` has them (the union with the transpose adds none).

    >>> s = symmetric_pattern([[1, 1, 0], [0, 0, 0], [0, 1, 0]])
    >>> s.toarray().astype(int)
    array([[1, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    p = _square(canonical_pattern(pattern))
    result = sp.csr_array(p + p.T)  # a boolean sum is a union: no entry cancels
    result.sum_duplicates()  # already canonical: a check
    return result


def _square(p: sp.csr_array) -> sp.csr_array:
    if p.shape[0] != p.shape[1]:
        raise ValueError(f"star coloring needs a square (symmetric) pattern, got shape {p.shape}")
    return p


def _row_of_entries(p: sp.csr_array) -> np.ndarray:
    """The row index of every stored entry of a CSR array, in storage order."""
    return np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))


# ------------------------------------------------------------------ conflict graphs, built once per pattern

# The graph of the last pattern colored, per kind (NumPy arrays only): a pattern is colored in several orders in a row.
_GRAPHS: dict[str, Graph] = {}


def _conflict_graph(kind: str, p: sp.csr_array) -> Graph:
    """The conflict graph of the canonical pattern `p`: "columns" (``p.T @ p``), "rows" (``p @ p.T``) or "star"."""
    graph = _GRAPHS.get(kind)
    if graph is None or not graph.built_from(p):
        if kind == "star":
            s = symmetric_pattern(p)
            indptr, indices = s.indptr, s.indices
        elif p.nnz == 0:
            n = p.shape[1] if kind == "columns" else p.shape[0]
            indptr, indices = np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32)
        else:
            # Symmetric, so the compressed structure of the product is its adjacency whatever its format.
            product = p.T @ p if kind == "columns" else p @ p.T
            indptr, indices = product.indptr, product.indices
        graph = _GRAPHS[kind] = Graph(p, *_without_diagonal(indptr, indices))
    return graph


def _without_diagonal(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The compressed structure ``indptr/indices`` of a square pattern without its diagonal entries."""
    n = indptr.size - 1
    rows = np.repeat(np.arange(n, dtype=indices.dtype), np.diff(indptr))
    keep = indices != rows
    new_indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=new_indptr[1:])
    return new_indptr, indices[keep]


# ------------------------------------------------------------------ colorings


def _check_order(order: str) -> None:
    if not isinstance(order, str) or order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")


def _color(kind: str, pattern: Any, order: str) -> np.ndarray:
    _check_order(order)
    p = canonical_pattern(pattern)
    if kind == "star":
        _square(p)
    return _conflict_graph(kind, p).coloring(order, kind == "star").copy()


def column_coloring(pattern: Any, order: str = "natural") -> np.ndarray:
    """Colors of the columns such that two columns sharing a nonzero row differ (length n, values 0..k-1).

    A greedy partial distance-2 coloring: first-fit on the column intersection graph (the pattern
    of ``P.T @ P``) in the vertex order `order`, one of :data:`ORDERS`.

    >>> column_coloring([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])
    array([0, 1, 0, 1])
    """
    return _color("columns", pattern, order)


def row_coloring(pattern: Any, order: str = "natural") -> np.ndarray:
    """Colors of the rows such that two rows sharing a nonzero column differ (length m, values 0..k-1).

    >>> row_coloring([[1, 0], [1, 1], [0, 1]])
    array([0, 1, 0])
    """
    return _color("rows", pattern, order)


def star_coloring(pattern: Any, order: str = "natural") -> np.ndarray:
    """A star coloring of the adjacency graph of a square pattern (length n, values 0..k-1).

    The graph joins ``i != j`` when ``(i, j)`` or ``(j, i)`` is in the pattern (the diagonal is
    ignored). Adjacent vertices get different colors and every path on 4 vertices uses at least
    3 colors, which is what :func:`star_index` needs to read a symmetric matrix off ``H @ V``.
    With ``order="dsatur"`` the saturation counts the colors of the distance-1 neighbours.

    >>> tridiagonal = [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]
    >>> star_coloring(tridiagonal)
    array([0, 1, 0, 2, 0])
    """
    return _color("star", pattern, order)


# ------------------------------------------------------------------ checks and decompression


def _colors(colors: Any, length: int, what: str) -> np.ndarray:
    """`colors` as a 1-D int64 array of non-negative integers of the given length, or ValueError."""
    try:
        array = np.asarray(colors)
    except (TypeError, ValueError) as error:
        raise ValueError(f"colors must be a 1-D array of non-negative integers ({error})") from None
    if array.ndim != 1 or array.size != length:
        raise ValueError(f"colors must be a 1-D array of length {length} (one per {what}), got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.dtype.kind in "biu":
        result = array.astype(np.int64)
    elif array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
        result = array.astype(np.int64)
    else:
        raise ValueError(f"colors must be integers, got dtype {array.dtype}")
    if result.min() < 0:
        raise ValueError("colors must be non-negative")
    return result


def _ncolors(colors: np.ndarray) -> int:
    return int(colors.max()) + 1 if colors.size else 0


def _counts(keys: np.ndarray, bound: int) -> np.ndarray | None:
    """How often each of ``0..bound-1`` occurs in `keys` (all in that range); None where the table would be large."""
    return np.bincount(keys, minlength=bound) if bound <= 8 * keys.size + 4096 else None


def _unique_keys(keys: np.ndarray, bound: int) -> bool:
    """Whether all `keys` (integers in ``0..bound-1``) differ."""
    counts = _counts(keys, bound)
    if counts is not None:
        return keys.size == 0 or int(counts.max()) <= 1
    ordered = np.sort(keys)
    return not bool(np.any(ordered[1:] == ordered[:-1]))


def _alone(keys: np.ndarray, bound: int) -> np.ndarray:
    """Whether each key occurs once in `keys` (integers in ``0..bound-1``): a count, or a sort (not np.unique)."""
    counts = _counts(keys, bound)
    if counts is not None:
        return counts[keys] == 1
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeated = np.zeros(keys.size, dtype=bool)
    same = ordered[1:] == ordered[:-1]
    repeated[1:] |= same
    repeated[:-1] |= same
    alone = np.empty(keys.size, dtype=bool)
    alone[order] = ~repeated
    return alone


def _column_keys(p: sp.csr_array, colors: np.ndarray) -> np.ndarray:
    """``i * ncolors + color(j)`` for every stored entry ``(i, j)``: equal keys mean a conflict in row i."""
    return _row_of_entries(p) * _ncolors(colors) + colors[p.indices]


def _row_keys(p: sp.csr_array, colors: np.ndarray) -> np.ndarray:
    """``j * ncolors + color(i)`` for every stored entry ``(i, j)``: equal keys mean a conflict in column j."""
    return p.indices.astype(np.int64) * _ncolors(colors) + colors[_row_of_entries(p)]


def is_column_coloring(pattern: Any, colors: Any) -> bool:
    """Whether no two columns of one color share a nonzero row (so :func:`column_index` can decompress).

    >>> is_column_coloring([[1, 1, 0], [0, 1, 1]], [0, 1, 0]), is_column_coloring([[1, 1, 0], [0, 1, 1]], [0, 0, 1])
    (True, False)
    """
    p = canonical_pattern(pattern)
    c = _colors(colors, p.shape[1], "column")
    return _unique_keys(_column_keys(p, c), p.shape[0] * _ncolors(c))


def is_row_coloring(pattern: Any, colors: Any) -> bool:
    """Whether no two rows of one color share a nonzero column (so :func:`row_index` can decompress).

    >>> is_row_coloring([[1, 0], [1, 1], [0, 1]], [0, 1, 0]), is_row_coloring([[1, 0], [1, 1], [0, 1]], [0, 0, 1])
    (True, False)
    """
    p = canonical_pattern(pattern)
    c = _colors(colors, p.shape[0], "row")
    return _unique_keys(_row_keys(p, c), p.shape[1] * _ncolors(c))


def _star_analysis(s: sp.csr_array, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """For the symmetric pattern `s`: rows and columns of its entries, whether column j is the only one of
    color c(j) in row i (for each entry), and whether `colors` is a star coloring.
    """
    rows = _row_of_entries(s)
    cols = s.indices.astype(np.int64)
    keys = rows * _ncolors(colors) + colors[cols]
    alone = _alone(keys, s.shape[0] * _ncolors(colors))
    off = rows != cols
    # Position of the entry (j, i) for each entry (i, j): the entries in column-major order, as `s` is symmetric
    # (a CSC conversion, which keeps the rows of each column in order, of the entry numbers).
    transpose = sp.csr_array((np.arange(s.nnz), s.indices, s.indptr), shape=s.shape).tocsc().data
    valid = bool(np.all(colors[rows[off]] != colors[cols[off]]) and np.all((alone | alone[transpose])[off]))
    return rows, cols, alone, valid


def is_star_coloring(pattern: Any, colors: Any) -> bool:
    """Whether `colors` is a star coloring of the adjacency graph of a square pattern.

    Checked as: adjacent vertices differ, and for every edge ``(i, j)`` either ``j`` is the only
    neighbour of ``i`` of its color or ``i`` the only neighbour of ``j`` of its color (that is,
    every entry can be read directly, see :func:`star_index`); with distance-1 this is equivalent
    to "every path on 4 vertices uses at least 3 colors".

    >>> path = [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    >>> is_star_coloring(path, [0, 1, 0, 2]), is_star_coloring(path, [0, 1, 0, 1])
    (True, False)
    """
    s = symmetric_pattern(pattern)
    return _star_analysis(s, _colors(colors, s.shape[0], "vertex"))[3]


def column_index(pattern: Any, colors: Any) -> np.ndarray:
    """Positions in the compressed ``B`` (ncolors x m, ``B[c] = J @ v_c``) of the entries of :func:`canonical_pattern`.

    ``v_c`` is the 0/1 indicator of the columns of color ``c`` and ``ncolors = max(colors) + 1``;
    for the k-th stored entry ``(i, j)`` (row-major), ``J[i, j] == B.ravel()[index[k]]`` with
    ``index[k] = color(j) * m + i``. Raises ValueError if `colors` is not a column coloring.

    >>> import numpy as np
    >>> J = np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]])
    >>> colors = column_coloring(J)
    >>> B = np.stack([J @ (colors == c) for c in range(colors.max() + 1)])
    >>> B.ravel()[column_index(J, colors)]
    array([1., 2., 3., 4.])
    """
    p = canonical_pattern(pattern)
    c = _colors(colors, p.shape[1], "column")
    if not _unique_keys(_column_keys(p, c), p.shape[0] * _ncolors(c)):
        raise ValueError("colors is not a column coloring of the pattern: two columns of one color share a row")
    return c[p.indices] * p.shape[0] + _row_of_entries(p)


def row_index(pattern: Any, colors: Any) -> np.ndarray:
    """Positions in the compressed ``C`` (ncolors x n, ``C[c] = w_c @ J``) of the entries of :func:`canonical_pattern`.

    ``w_c`` is the 0/1 indicator of the rows of color ``c``; for the k-th stored entry ``(i, j)``
    (row-major), ``J[i, j] == C.ravel()[index[k]]`` with ``index[k] = color(i) * n + j``. Raises
    ValueError if `colors` is not a row coloring.

    >>> import numpy as np
    >>> J = np.array([[1.0, 0.0], [2.0, 3.0], [0.0, 4.0]])
    >>> colors = row_coloring(J)
    >>> C = np.stack([(colors == c) @ J for c in range(colors.max() + 1)])
    >>> C.ravel()[row_index(J, colors)]
    array([1., 2., 3., 4.])
    """
    p = canonical_pattern(pattern)
    c = _colors(colors, p.shape[0], "row")
    if not _unique_keys(_row_keys(p, c), p.shape[1] * _ncolors(c)):
        raise ValueError("colors is not a row coloring of the pattern: two rows of one color share a column")
    return c[_row_of_entries(p)] * p.shape[1] + p.indices


def star_index(pattern: Any, colors: Any) -> np.ndarray:
    """Flat positions in ``B`` (ncolors x n, ``B[c] = H @ v_c``) of the entries of :func:`symmetric_pattern`.

    `H` is symmetric with the pattern ``pattern | pattern.T`` (diagonal entries where `pattern` has
    them), and the result lists *that* pattern's entries in row-major order (build the output
    from ``symmetric_pattern(pattern)``, not from `pattern`). For an entry ``(i, j)``: if no other
    column of row ``i`` has color ``c(j)``, ``H[i, j] == B[c(j), i]`` (index ``c(j) * n + i``),
    otherwise ``H[i, j] == H[j, i] == B[c(i), j]`` (index ``c(i) * n + j``); diagonal entries
    are ``B[c(i), i]``. Raises ValueError if `colors` is not a star coloring.

    >>> import numpy as np
    >>> H = np.array([[1.0, 2.0, 0.0], [2.0, 3.0, 4.0], [0.0, 4.0, 5.0]])
    >>> colors = star_coloring(H)
    >>> B = np.stack([H @ (colors == c) for c in range(colors.max() + 1)])
    >>> B.ravel()[star_index(H, colors)]
    array([1., 2., 2., 3., 4., 4., 5.])
    """
    s = symmetric_pattern(pattern)
    n = s.shape[0]
    c = _colors(colors, n, "vertex")
    rows, cols, alone, valid = _star_analysis(s, c)
    if not valid:
        raise ValueError("colors is not a star coloring of the pattern's adjacency graph")
    return np.where(alone, c[cols] * n + rows, c[rows] * n + cols)
