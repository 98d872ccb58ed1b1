"""Graph colorings for sparse Jacobians and Hessians: validity against brute-force checkers, exact
decompression, known color counts and input errors."""

from __future__ import annotations

import doctest
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import abstractad._sparse.coloring as coloring
from abstractad._sparse.coloring import (
    ORDERS,
    canonical_pattern,
    column_coloring,
    column_index,
    is_column_coloring,
    is_row_coloring,
    is_star_coloring,
    row_coloring,
    row_index,
    star_coloring,
    star_index,
    symmetric_pattern,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = ("dense_bool", "dense_float", "list", "csr", "csr_matrix", "csc", "coo_duplicates", "csr_unsorted")


# ------------------------------------------------------------------ inputs


def encode(mask: np.ndarray, fmt: str, rng: np.random.Generator) -> object:
    """`mask` (the true structure) in one of FORMATS; sparse ones store some zeros, which must still count."""
    m, n = mask.shape
    values = np.where(mask, rng.uniform(1.0, 2.0, size=mask.shape), 0.0)
    if fmt == "list" and m > 0:  # with no rows, [] would be 1-D
        return mask.astype(int).tolist()
    if fmt in ("dense_bool", "list"):
        return mask.copy()
    if fmt == "dense_float":
        return values
    rows, cols = np.nonzero(mask)
    data = np.where(rng.random(rows.size) < 0.3, 0.0, values[rows, cols])  # stored zeros are structural
    if fmt in ("csr", "csr_matrix", "csc"):
        cls = {"csr": sp.csr_array, "csr_matrix": sp.csr_matrix, "csc": sp.csc_array}[fmt]
        a = cls(sp.coo_array((data, (rows, cols)), shape=(m, n)))
        assert a.nnz == rows.size  # the stored zeros are kept
        return a
    if fmt == "coo_duplicates":
        # Every entry once more, with the opposite value: the duplicates sum to zero and must still count.
        twice = rng.random(rows.size) < 0.5
        all_rows = np.concatenate([rows, rows[twice]])
        all_cols = np.concatenate([cols, cols[twice]])
        all_data = np.concatenate([data, -data[twice]])
        perm = rng.permutation(all_rows.size)
        return sp.coo_array((all_data[perm], (all_rows[perm], all_cols[perm])), shape=(m, n))
    assert fmt == "csr_unsorted"
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    indices = cols.copy()
    for i in range(m):
        rng.shuffle(indices[indptr[i] : indptr[i + 1]])
    return sp.csr_array((data, indices, indptr), shape=(m, n))


@st.composite
def patterns(draw: st.DrawFn, square: bool = False, max_size: int = 40) -> tuple[object, np.ndarray]:
    """``(pattern in some input format, its structure as a dense boolean array)``."""
    m = draw(st.integers(0, max_size))
    n = m if square else draw(st.integers(0, max_size))
    density = draw(st.sampled_from([0.0, 0.03, 0.1, 0.25, 0.6, 1.0]))
    fmt = draw(st.sampled_from(FORMATS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.random((m, n)) < density
    if draw(st.booleans()) and m and n:  # empty rows and columns
        mask[rng.integers(0, m, size=max(1, m // 4)), :] = False
        mask[:, rng.integers(0, n, size=max(1, n // 4))] = False
    if square and draw(st.booleans()):
        np.fill_diagonal(mask, rng.random(m) < 0.5)
    return encode(mask, fmt, rng), mask


# ------------------------------------------------------------------ brute-force checkers, independent of the module


def brute_column_coloring(mask: np.ndarray, colors: np.ndarray) -> bool:
    """No two columns of one color share a row: each row has at most one nonzero among the columns of a color."""
    return all((mask[:, colors == c].sum(axis=1) <= 1).all() for c in np.unique(colors))


def brute_star_coloring(mask: np.ndarray, colors: np.ndarray) -> bool:
    """Distance-1 on the adjacency graph of ``mask | mask.T``, and every path a-b-c-d on 4 vertices has >= 3 colors."""
    adj = mask | mask.T
    np.fill_diagonal(adj, False)
    c = np.asarray(colors)
    n = c.size
    if np.any(adj & (c[:, None] == c[None, :])):
        return False
    if n < 4:
        return True
    ca, cb, cc, cd = c[:, None, None, None], c[None, :, None, None], c[None, None, :, None], c[None, None, None, :]
    distinct = (
        1 + (cb != ca) + ((cc != ca) & (cc != cb)) + ((cd != ca) & (cd != cb) & (cd != cc))
    )  # the number of colors of (a, b, c, d)
    v = np.arange(n)
    a_, b_, c_, d_ = v[:, None, None, None], v[None, :, None, None], v[None, None, :, None], v[None, None, None, :]
    path = adj[:, :, None, None] & adj[None, :, :, None] & adj[None, None, :, :]  # edges ab, bc, cd (so a!=b...)
    path = path & (a_ != c_) & (b_ != d_) & (a_ != d_)
    return not np.any(path & (distinct < 3))


def brute_star_coloring_small(mask: np.ndarray, colors: np.ndarray) -> bool:
    """The literal definition with itertools, for tiny graphs (cross-checks brute_star_coloring)."""
    adj = mask | mask.T
    n = len(colors)
    for i, j in itertools.permutations(range(n), 2):
        if adj[i, j] and colors[i] == colors[j]:
            return False
    for a, b, c, d in itertools.permutations(range(n), 4):
        if adj[a, b] and adj[b, c] and adj[c, d] and len({colors[a], colors[b], colors[c], colors[d]}) < 3:
            return False
    return True


def assert_colors(colors: np.ndarray, length: int) -> int:
    """`colors` is an int64 vector of the given length using exactly the colors 0..k-1; returns k."""
    assert isinstance(colors, np.ndarray)
    assert colors.dtype == np.int64
    assert colors.shape == (length,)
    k = int(colors.max()) + 1 if length else 0
    assert set(colors.tolist()) == set(range(k))
    return k


def indicator(colors: np.ndarray) -> np.ndarray:
    """``V[:, c]`` = the 0/1 indicator of the vertices of color c."""
    k = int(colors.max()) + 1 if colors.size else 0
    return (colors[:, None] == np.arange(k)[None, :]).astype(float)


# ------------------------------------------------------------------ property tests


@SETTINGS
@given(patterns(), st.integers(0, 2**32 - 1))
def test_column_coloring_recovers_the_jacobian(case: tuple[object, np.ndarray], seed: int) -> None:
    pattern, mask = case
    m, n = mask.shape
    rng = np.random.default_rng(seed)
    jac = np.where(mask, rng.standard_normal(mask.shape), 0.0)
    rows, cols = np.nonzero(mask)  # row-major, sorted columns: the canonical order
    canon = canonical_pattern(pattern)
    assert canon.dtype == bool and canon.shape == (m, n) and canon.has_sorted_indices
    np.testing.assert_array_equal(canon.toarray(), mask)
    np.testing.assert_array_equal(canon.indices, cols)
    for order in ORDERS:
        colors = column_coloring(pattern, order)
        assert_colors(colors, n)
        assert brute_column_coloring(mask, colors), order
        assert is_column_coloring(pattern, colors)
        compressed = (jac @ indicator(colors)).T  # B[c] = J @ v_c, shape (ncolors, m)
        index = column_index(pattern, colors)
        assert index.dtype == np.int64 and index.shape == (rows.size,)
        np.testing.assert_array_equal(compressed.ravel()[index], jac[rows, cols])


@SETTINGS
@given(patterns(), st.integers(0, 2**32 - 1))
def test_row_coloring_recovers_the_jacobian(case: tuple[object, np.ndarray], seed: int) -> None:
    pattern, mask = case
    m, _ = mask.shape
    rng = np.random.default_rng(seed)
    jac = np.where(mask, rng.standard_normal(mask.shape), 0.0)
    rows, cols = np.nonzero(mask)
    for order in ORDERS:
        colors = row_coloring(pattern, order)
        assert_colors(colors, m)
        assert brute_column_coloring(mask.T, colors), order
        assert is_row_coloring(pattern, colors)
        compressed = indicator(colors).T @ jac  # C[c] = w_c @ J, shape (ncolors, n)
        index = row_index(pattern, colors)
        assert index.dtype == np.int64 and index.shape == (rows.size,)
        np.testing.assert_array_equal(compressed.ravel()[index], jac[rows, cols])


@SETTINGS
@given(patterns(square=True, max_size=30), st.integers(0, 2**32 - 1))
def test_star_coloring_recovers_the_hessian(case: tuple[object, np.ndarray], seed: int) -> None:
    pattern, mask = case
    n = mask.shape[0]
    rng = np.random.default_rng(seed)
    sym = mask | mask.T
    u = rng.uniform(1.0, 2.0, size=(n, n))
    hess = np.where(sym, u + u.T, 0.0)  # symmetric, nonzero exactly on the symmetrized pattern
    rows, cols = np.nonzero(sym)
    spat = symmetric_pattern(pattern)
    assert spat.dtype == bool and spat.has_sorted_indices
    np.testing.assert_array_equal(spat.toarray(), sym)
    np.testing.assert_array_equal(spat.indices, cols)
    for order in ORDERS:
        colors = star_coloring(pattern, order)
        assert_colors(colors, n)
        assert brute_star_coloring(mask, colors), order
        assert is_star_coloring(pattern, colors)
        compressed = (hess @ indicator(colors)).T  # B[c] = H @ v_c, shape (ncolors, n)
        index = star_index(pattern, colors)
        assert index.dtype == np.int64 and index.shape == (rows.size,)
        np.testing.assert_array_equal(compressed.ravel()[index], hess[rows, cols])


@SETTINGS
@given(patterns(max_size=12), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_is_coloring_agrees_with_brute_force(case: tuple[object, np.ndarray], ncolors: int, seed: int) -> None:
    pattern, mask = case
    m, n = mask.shape
    rng = np.random.default_rng(seed)
    col_colors = rng.integers(0, ncolors, size=n)
    row_colors = rng.integers(0, ncolors, size=m)
    valid = brute_column_coloring(mask, col_colors)
    assert is_column_coloring(pattern, col_colors) == valid
    if valid:
        assert column_index(pattern, col_colors).shape == (mask.sum(),)
    else:
        with pytest.raises(ValueError, match="column coloring"):
            column_index(pattern, col_colors)
    valid = brute_column_coloring(mask.T, row_colors)
    assert is_row_coloring(pattern, row_colors) == valid
    if not valid:
        with pytest.raises(ValueError, match="row coloring"):
            row_index(pattern, row_colors)
    square = mask[: min(m, n), : min(m, n)]
    star_colors = rng.integers(0, ncolors + 1, size=square.shape[0])
    valid = brute_star_coloring(square, star_colors)
    assert is_star_coloring(square, star_colors) == valid
    if not valid:
        with pytest.raises(ValueError, match="star coloring"):
            star_index(square, star_colors)


@settings(max_examples=40, deadline=None)
@given(patterns(square=True, max_size=7), st.integers(0, 2**32 - 1))
def test_brute_force_star_checkers_agree(case: tuple[object, np.ndarray], seed: int) -> None:
    _, mask = case
    colors = np.random.default_rng(seed).integers(0, 3, size=mask.shape[0])
    assert brute_star_coloring(mask, colors) == brute_star_coloring_small(mask, colors)


def test_larger_random_patterns() -> None:
    rng = np.random.default_rng(0)
    for n, density in [(300, 0.01), (500, 0.004)]:
        pattern = sp.random_array((n, n), density=density, rng=rng, format="csr")
        mask = pattern.toarray() != 0
        jac = np.where(mask, rng.standard_normal((n, n)), 0.0)
        u = rng.uniform(1.0, 2.0, size=(n, n))
        hess = np.where(mask | mask.T, u + u.T, 0.0)
        rows, cols = np.nonzero(mask)
        srows, scols = np.nonzero(mask | mask.T)
        for order in ORDERS:
            colors = column_coloring(pattern, order)
            index = column_index(pattern, colors)
            np.testing.assert_array_equal((jac @ indicator(colors)).T.ravel()[index], jac[rows, cols])
            colors = star_coloring(pattern, order)
            index = star_index(pattern, colors)
            np.testing.assert_array_equal((hess @ indicator(colors)).T.ravel()[index], hess[srows, scols])


# ------------------------------------------------------------------ fixed cases and known color counts


def tridiagonal(n: int) -> sp.csr_array:
    return sp.csr_array(sp.diags_array([np.ones(n - 1), np.ones(n), np.ones(n - 1)], offsets=[-1, 0, 1]))


def laplacian_2d(size: int) -> sp.csr_array:
    t = tridiagonal(size)
    eye = sp.eye_array(size)
    return sp.csr_array(sp.kron(eye, t) + sp.kron(t, eye))


def brusselator(size: int) -> sp.csr_array:
    """Two species on a periodic size x size grid, unknown 2*(i*size+j)+s: own 5-point stencil + other species."""
    i, j, s = np.meshgrid(np.arange(size), np.arange(size), np.arange(2), indexing="ij")
    i, j, s = i.ravel(), j.ravel(), s.ravel()
    unknown = 2 * (i * size + j) + s
    rows, cols = [], []
    for di, dj, ds in [(0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1)]:
        rows.append(unknown)
        cols.append(2 * (((i + di) % size) * size + (j + dj) % size) + (s + ds) % 2)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    n = 2 * size * size
    return sp.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))


def ncolors(colors: np.ndarray) -> int:
    return int(colors.max()) + 1


@pytest.mark.parametrize("order", ORDERS)
def test_tridiagonal_needs_three_colors(order: str) -> None:
    pattern = tridiagonal(1000)
    assert ncolors(column_coloring(pattern, order)) == 3
    assert ncolors(row_coloring(pattern, order)) == 3
    assert ncolors(star_coloring(pattern, order)) == 3


# Measured on the 5-point Laplacian of a 100 x 100 grid (optimum 5 for both): columns 7 with every
# order but dsatur (5); star 5 with natural, largest_first, incidence_degree and dsatur, 7 with smallest_last.
LAPLACIAN_COLUMN = {"natural": 7, "largest_first": 7, "smallest_last": 7, "incidence_degree": 7, "dsatur": 5}
LAPLACIAN_STAR = {"natural": 5, "largest_first": 5, "smallest_last": 7, "incidence_degree": 5, "dsatur": 5}


@pytest.mark.parametrize("order", ORDERS)
def test_laplacian_color_counts(order: str) -> None:
    pattern = laplacian_2d(100)
    colors = column_coloring(pattern, order)
    assert is_column_coloring(pattern, colors)
    assert 5 <= ncolors(colors) <= LAPLACIAN_COLUMN[order]
    colors = star_coloring(pattern, order)
    assert is_star_coloring(pattern, colors)
    assert 5 <= ncolors(colors) <= LAPLACIAN_STAR[order]


@pytest.mark.parametrize("order", ORDERS)
def test_brusselator_color_counts(order: str) -> None:
    # 6 nonzeros per row, so at least 6 colors; measured at most 12 (columns) and 10 (star) for size 32.
    pattern = brusselator(32)
    assert pattern.nnz == 6 * pattern.shape[0]
    colors = column_coloring(pattern, order)
    assert is_column_coloring(pattern, colors)
    assert 6 <= ncolors(colors) <= 12
    colors = star_coloring(pattern, order)
    assert is_star_coloring(pattern, colors)
    assert 6 <= ncolors(colors) <= 10


@pytest.mark.parametrize("order", ORDERS)
def test_path_and_star_graphs(order: str) -> None:
    path = np.zeros((12, 12), dtype=bool)
    path[np.arange(11), np.arange(1, 12)] = True  # one triangle only: symmetrized by star_coloring
    colors = star_coloring(path, order)
    assert ncolors(colors) == 3 and brute_star_coloring(path, colors)
    hub = np.zeros((15, 15), dtype=bool)
    hub[4, :] = hub[:, 4] = True
    hub[4, 4] = False
    colors = star_coloring(hub, order)
    assert ncolors(colors) == 2 and brute_star_coloring(hub, colors)
    # The 14 leaf columns all share row 4; column 4 shares no row with them.
    assert ncolors(column_coloring(hub, order)) == 14


def test_deliberately_invalid_colorings() -> None:
    pattern = tridiagonal(6)
    assert not is_column_coloring(pattern, [0, 1, 0, 1, 0, 1])  # columns 0 and 2 share row 1
    assert is_column_coloring(pattern, [0, 1, 2, 0, 1, 2])
    assert not is_row_coloring(pattern, [0, 0, 1, 2, 0, 1])
    assert not is_star_coloring(pattern, [0, 1, 0, 1, 0, 1])  # the path 0-1-2-3 has two colors
    assert not is_star_coloring(pattern, [0, 0, 1, 2, 0, 1])  # adjacent vertices share a color
    assert is_star_coloring(pattern, [0, 1, 0, 2, 0, 1])
    assert is_star_coloring(np.eye(3), [0, 0, 0])  # the diagonal is ignored
    with pytest.raises(ValueError, match="column coloring"):
        column_index(pattern, [0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="star coloring"):
        star_index(pattern, [0, 1, 0, 1, 0, 1])


def test_stored_zeros_count_and_dense_zeros_do_not() -> None:
    stored = sp.csr_array((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    assert canonical_pattern(stored).nnz == 2
    cancelling = sp.coo_array((np.array([1.0, -1.0]), (np.array([0, 0]), np.array([1, 1]))), shape=(2, 2))
    assert canonical_pattern(cancelling).toarray().tolist() == [[False, True], [False, False]]
    assert canonical_pattern(np.array([[0.0, 2.0], [0.0, 0.0]])).nnz == 1
    assert column_coloring(np.array([[1.0, 0.0], [0.0, 0.0]])).tolist() == [0, 0]
    assert column_coloring(sp.csr_array((np.array([1.0, 0.0]), ([0, 0], [0, 1])), shape=(2, 2))).tolist() == [0, 1]


def test_empty_patterns() -> None:
    for shape in [(0, 0), (0, 5), (5, 0), (4, 4)]:
        zeros = np.zeros(shape)
        for order in ORDERS:
            assert column_coloring(zeros, order).tolist() == [0] * shape[1]
            assert row_coloring(zeros, order).tolist() == [0] * shape[0]
        assert column_index(zeros, np.zeros(shape[1], dtype=int)).shape == (0,)
        assert row_index(zeros, np.zeros(shape[0], dtype=int)).shape == (0,)
    assert star_coloring(np.zeros((0, 0))).dtype == np.int64
    assert star_coloring(np.zeros((3, 3))).tolist() == [0, 0, 0]
    assert star_index(np.eye(3), [0, 0, 0]).tolist() == [0, 1, 2]  # B[0] = H @ 1 is the diagonal


# ------------------------------------------------------------------ errors


def test_bad_patterns() -> None:
    for bad in [np.ones(3), np.ones((2, 2, 2)), np.float64(1.0), sp.coo_array(np.ones(3))]:
        for function in (column_coloring, row_coloring, canonical_pattern):
            with pytest.raises(ValueError, match="2-D"):
                function(bad)
    for bad in [None, "abc", object(), {"a": 1}, [[1, 2], [3]]]:
        with pytest.raises(TypeError, match="pattern"):
            column_coloring(bad)
    for function in (star_coloring, symmetric_pattern):
        with pytest.raises(ValueError, match="square"):
            function(np.ones((2, 3)))
    with pytest.raises(ValueError, match="square"):
        is_star_coloring(np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="square"):
        star_index(np.ones((2, 3)), [0, 1])


def test_unknown_order() -> None:
    for function in (column_coloring, row_coloring, star_coloring):
        with pytest.raises(ValueError, match="natural, largest_first, smallest_last, incidence_degree, dsatur"):
            function(np.eye(3), "random")
        with pytest.raises(ValueError, match="unknown order"):
            function(np.eye(3), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "function", [is_column_coloring, is_row_coloring, is_star_coloring, column_index, row_index, star_index]
)
def test_bad_colors(function: object) -> None:
    pattern = np.eye(3)
    for bad in ([0, 1], [0, 1, 2, 3], np.zeros((3, 1), dtype=int), 0):
        with pytest.raises(ValueError, match="length 3"):
            function(pattern, bad)  # type: ignore[operator]
    with pytest.raises(ValueError, match="non-negative"):
        function(pattern, [0, -1, 1])  # type: ignore[operator]
    with pytest.raises(ValueError, match="integers"):
        function(pattern, [0.0, 0.5, 1.0])  # type: ignore[operator]
    assert function(pattern, np.array([0.0, 1.0, 2.0])) is not None  # type: ignore[operator]


def test_docstring_examples() -> None:
    result = doctest.testmod(coloring, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------------ the fast loops against a literal reference
#
# A direct transcription of the definitions on adjacency sets, slow and obviously right: first-fit in
# a vertex order (for star colorings, the smallest color that makes no two-colored path on 4 colored
# vertices, found by enumerating the paths), and DSATUR by a scan of all uncolored vertices.


def conflict_sets(mask: np.ndarray, kind: str) -> list[set[int]]:
    """Adjacency sets of the conflict graph: columns sharing a row, rows sharing a column, or ``mask | mask.T``."""
    m = mask.astype(int)
    adj = (m.T @ m if kind == "columns" else m @ m.T if kind == "rows" else m + m.T) > 0
    np.fill_diagonal(adj, False)
    return [set(np.flatnonzero(row).tolist()) for row in adj]


def reference_first_fit(adj: list[set[int]], v: int, colors: list[int], star: bool) -> int:
    """The smallest color for `v` that keeps the colored vertices a distance-1 (or star) coloring."""
    taken = {colors[w] for w in adj[v] if colors[w] >= 0}
    c = 0
    while c in taken or (star and reference_two_colored_path(adj, v, c, colors)):
        c += 1
    return c


def reference_two_colored_path(adj: list[set[int]], v: int, c: int, colors: list[int]) -> bool:
    """Whether coloring `v` with `c` makes a path on 4 colored vertices, through v, with 2 colors."""
    trial = list(colors)
    trial[v] = c
    colored = [w for w in range(len(adj)) if trial[w] >= 0]
    for a in colored:
        for b in adj[a]:
            for x in adj[b]:
                for d in adj[x]:
                    path = (a, b, x, d)
                    if v in path and len(set(path)) == 4 and min(trial[u] for u in path) >= 0:
                        if len({trial[u] for u in path}) < 3:
                            return True
    return False


def reference_coloring(adj: list[set[int]], order: str, star: bool, vertices: list[int] | None = None) -> np.ndarray:
    """First-fit in `order` ("natural", "largest_first", "dsatur"), or in the given sequence of `vertices`."""
    n = len(adj)
    degree = [len(a) for a in adj]
    colors = [-1] * n
    if vertices is None and order == "natural":
        vertices = list(range(n))
    elif vertices is None and order == "largest_first":
        vertices = sorted(range(n), key=lambda v: -degree[v])  # stable: ties by index
    for step in range(n):
        if vertices is not None:
            v = vertices[step]
        else:  # DSATUR: most distinct neighbour colors, then largest degree, then smallest index
            uncolored = [u for u in range(n) if colors[u] < 0]
            v = max(uncolored, key=lambda u: (len({colors[w] for w in adj[u]} - {-1}), degree[u], -u))
        colors[v] = reference_first_fit(adj, v, colors, star)
    return np.asarray(colors, dtype=np.int64)


COLORINGS = {"columns": column_coloring, "rows": row_coloring, "star": star_coloring}


@SETTINGS
@given(
    patterns(max_size=25), st.sampled_from(["columns", "rows"]), st.sampled_from(["natural", "largest_first", "dsatur"])
)
def test_distance1_colorings_equal_the_reference(case: tuple[object, np.ndarray], kind: str, order: str) -> None:
    pattern, mask = case
    np.testing.assert_array_equal(
        COLORINGS[kind](pattern, order), reference_coloring(conflict_sets(mask, kind), order, False)
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns(square=True, max_size=14), st.sampled_from(["natural", "largest_first", "dsatur"]))
def test_star_colorings_equal_the_reference(case: tuple[object, np.ndarray], order: str) -> None:
    pattern, mask = case
    np.testing.assert_array_equal(
        star_coloring(pattern, order), reference_coloring(conflict_sets(mask, "star"), order, True)
    )


@SETTINGS
@given(patterns(square=True, max_size=25), st.sampled_from(["columns", "rows", "star"]))
def test_smallest_last_and_incidence_degree_orders(case: tuple[object, np.ndarray], kind: str) -> None:
    """Their ties are broken by set order: check the defining property of each order, then first-fit along it."""
    pattern, mask = case
    adj = conflict_sets(mask, kind)
    n = len(adj)
    graph = coloring._conflict_graph(kind, canonical_pattern(pattern))
    for order in ("smallest_last", "incidence_degree"):
        vertices = graph.order(order).tolist()
        assert sorted(vertices) == list(range(n))
        if order == "smallest_last":  # removed last to first, each of least degree among those left
            left = set(range(n))
            for v in reversed(vertices):
                assert len(adj[v] & left) == min(len(adj[u] & left) for u in left)
                left.remove(v)
        else:  # each with the most neighbours among those before it
            done: set[int] = set()
            for v in vertices:
                assert len(adj[v] & done) == max(len(adj[u] & done) for u in set(range(n)) - done)
                done.add(v)
        expected = reference_coloring(adj, order, kind == "star", vertices)
        np.testing.assert_array_equal(COLORINGS[kind](pattern, order), expected)


def test_larger_patterns_equal_the_reference() -> None:
    rng = np.random.default_rng(1)
    for n, density in [(150, 0.02), (120, 0.05)]:
        mask = rng.random((n, n)) < density
        for kind in ("columns", "rows"):
            adj = conflict_sets(mask, kind)
            for order in ("natural", "largest_first", "dsatur"):
                np.testing.assert_array_equal(COLORINGS[kind](mask, order), reference_coloring(adj, order, False))
    mask = rng.random((60, 60)) < 0.04
    adj = conflict_sets(mask, "star")
    for order in ("natural", "largest_first", "dsatur"):
        np.testing.assert_array_equal(star_coloring(mask, order), reference_coloring(adj, order, True))


# Measured with the implementation before the conflict graph was shared and the loops rewritten (same colorings).
BEFORE = {
    ("laplacian_2d", "columns"): {
        "natural": 7,
        "largest_first": 7,
        "smallest_last": 7,
        "incidence_degree": 7,
        "dsatur": 5,
    },
    ("laplacian_2d", "star"): {
        "natural": 5,
        "largest_first": 5,
        "smallest_last": 7,
        "incidence_degree": 5,
        "dsatur": 5,
    },
    ("brusselator", "columns"): {
        "natural": 8,
        "largest_first": 8,
        "smallest_last": 11,
        "incidence_degree": 12,
        "dsatur": 11,
    },
    ("brusselator", "star"): {
        "natural": 9,
        "largest_first": 9,
        "smallest_last": 10,
        "incidence_degree": 10,
        "dsatur": 10,
    },
}


@pytest.mark.parametrize("problem, kind", list(BEFORE))
def test_color_counts_as_before(problem: str, kind: str) -> None:
    pattern = laplacian_2d(100) if problem == "laplacian_2d" else brusselator(32)
    counts = {order: ncolors(COLORINGS[kind](pattern, order)) for order in ORDERS}
    assert counts == BEFORE[problem, kind]
    if kind == "columns":
        assert {order: ncolors(row_coloring(pattern, order)) for order in ORDERS} == BEFORE[problem, kind]


def test_shared_graph_follows_the_pattern() -> None:
    """Colorings are kept per pattern: a changed pattern (even the same object, changed in place) is colored anew,
    and the returned arrays are the caller's own."""
    pattern = tridiagonal(8).toarray()
    first = column_coloring(pattern, "dsatur")
    expected = first.tolist()
    first[:] = 99
    assert column_coloring(pattern, "dsatur").tolist() == expected
    pattern[:, :] = 0
    pattern[0, :] = 1  # one dense row: every column conflicts with every other
    assert column_coloring(pattern, "dsatur").tolist() == list(range(8))
    assert column_coloring(np.eye(8), "dsatur").tolist() == [0] * 8
    assert column_coloring(pattern, "natural").tolist() == list(range(8))
