"""Sparsity detection from jaxprs: exact patterns of structured functions, conservative ones elsewhere,
and, on random compositions, never an entry missing that a numerical Jacobian or Hessian shows."""

from __future__ import annotations

import doctest
import math
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("scipy")
jnp = jax.numpy
lax = jax.lax

from abstractad._sparse import jaxpr as _jaxpr  # noqa: E402 - only with JAX installed
from abstractad._sparse import jaxpr_control as _jaxpr_control  # noqa: E402
from abstractad._sparse.jaxpr import hessian_pattern, jacobian_pattern  # noqa: E402

F32, F64 = np.float32, np.float64


def dense(pattern: Any) -> np.ndarray:
    return np.asarray(pattern.toarray(), dtype=int)


def x64() -> Any:
    return jax.enable_x64(True)


def numeric(f: Callable, shape: tuple[int, ...], hessian: bool = False, points: int = 3, seed: int = 0) -> np.ndarray:
    """Where the float64 Jacobian (or Hessian) of `f` is finite and nonzero at some random points."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    found = None
    with x64():
        derivative = jax.jit(jax.hessian(f) if hessian else jax.jacfwd(f))
        for _ in range(points):
            x = jnp.asarray(rng.uniform(-2.0, 2.0, size=shape))
            leaves = jax.tree_util.tree_leaves(derivative(x))
            value = np.concatenate([np.asarray(leaf, dtype=np.float64).reshape(-1, n) for leaf in leaves])
            hit = np.isfinite(value) & (value != 0)
            found = hit if found is None else found | hit
    return found


def assert_superset(pattern: Any, f: Callable, shape: tuple[int, ...], hessian: bool = False) -> None:
    p = dense(pattern).astype(bool)
    seen = numeric(f, shape, hessian)
    assert p.shape == seen.shape
    missing = np.argwhere(seen & ~p)
    assert missing.size == 0, f"entries {missing[:5].tolist()} are nonzero but not in the pattern"


def stencil(size: int, offsets: list[int], periodic: bool) -> np.ndarray:
    out = np.zeros((size, size), dtype=int)
    for i in range(size):
        for k in offsets:
            j = i + k
            if periodic:
                out[i, j % size] = 1
            elif 0 <= j < size:
                out[i, j] = 1
    return out


def grid_laplacian(N: int, periodic: bool) -> np.ndarray:
    out = np.zeros((N * N, N * N), dtype=int)
    for i in range(N):
        for j in range(N):
            for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if periodic:
                    a, b = a % N, b % N
                elif not (0 <= a < N and 0 <= b < N):
                    continue
                out[i * N + j, a * N + b] = 1
    return out


def laplacian_periodic(x: Any) -> Any:
    N = math.isqrt(x.size)
    u = x.reshape(N, N)
    return (jnp.roll(u, 1, 0) + jnp.roll(u, -1, 0) + jnp.roll(u, 1, 1) + jnp.roll(u, -1, 1) - 4 * u).reshape(-1)


def laplacian_zero(x: Any) -> Any:
    N = math.isqrt(x.size)
    u = jnp.pad(x.reshape(N, N), 1)
    return (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]).reshape(-1)


def brusselator(x: Any) -> Any:
    """Two species on a periodic grid: du = 1 + u²v - 4.4u + αΔu, dv = 3.4u - u²v + αΔv."""
    N = math.isqrt(x.size // 2)
    u, v = x[: N * N].reshape(N, N), x[N * N :].reshape(N, N)

    def lap(w: Any) -> Any:
        return jnp.roll(w, 1, 0) + jnp.roll(w, -1, 0) + jnp.roll(w, 1, 1) + jnp.roll(w, -1, 1) - 4 * w

    du = 1.0 + u * u * v - 4.4 * u + 10.0 * lap(u)
    dv = 3.4 * u - u * u * v + 10.0 * lap(v)
    return jnp.concatenate([du.ravel(), dv.ravel()])


# ---- exact patterns


@pytest.mark.parametrize("dtype", [F32, F64])
def test_elementwise_is_diagonal(dtype: Any) -> None:
    def f(x: Any) -> Any:
        return jnp.sin(x) * jnp.exp(x) + jnp.tanh(x) ** 2 - jnp.sqrt(jnp.abs(x) + 1) / (1 + x**2) + jnp.log1p(x**2)

    assert (dense(jacobian_pattern(f, (5,), dtype)) == np.eye(5, dtype=int)).all()


def test_differences() -> None:
    expected = np.eye(4, 5, 1, dtype=int) + np.eye(4, 5, dtype=int)
    assert (dense(jacobian_pattern(lambda x: x[1:] - x[:-1], (5,), F32)) == expected).all()


@pytest.mark.parametrize(
    ("f", "periodic"),
    [
        (lambda x: jnp.concatenate([x[:1], x[2:] - 2 * x[1:-1] + x[:-2], x[-1:]]), None),
        (lambda x: jnp.pad(x, 1)[2:] - 2 * x + jnp.pad(x, 1)[:-2], False),
        (lambda x: jnp.roll(x, 1) - 2 * x + jnp.roll(x, -1), True),
    ],
    ids=["concatenate", "pad", "roll"],
)
def test_second_differences(f: Callable, periodic: bool | None) -> None:
    p = dense(jacobian_pattern(f, (6,), F64))
    if periodic is None:
        expected = stencil(6, [-1, 0, 1], False)
        expected[0] = np.eye(6, dtype=int)[0]
        expected[-1] = np.eye(6, dtype=int)[-1]
    else:
        expected = stencil(6, [-1, 0, 1], periodic)
    assert (p == expected).all()


@pytest.mark.parametrize("periodic", [True, False])
def test_laplacian_2d(periodic: bool) -> None:
    f = laplacian_periodic if periodic else laplacian_zero
    assert (dense(jacobian_pattern(f, (25,), F32)) == grid_laplacian(5, periodic)).all()


def test_brusselator() -> None:
    N = 4
    lap = grid_laplacian(N, True)
    eye = np.eye(N * N, dtype=int)
    expected = np.block([[lap, eye], [eye, lap]])
    assert (dense(jacobian_pattern(brusselator, (2 * N * N,), F64)) == expected).all()


def test_large_grid_is_fast_and_sparse() -> None:
    N = 316  # n ≈ 1e5
    p = jacobian_pattern(brusselator, (2 * N * N,), F64)
    assert p.shape == (2 * N * N, 2 * N * N)
    assert p.nnz == 2 * N * N * 6


def test_reductions() -> None:
    p = dense(jacobian_pattern(lambda x: jnp.sum(x, axis=1), (2, 3), F32))
    assert (p == np.kron(np.eye(2, dtype=int), np.ones((1, 3), dtype=int))).all()
    p = dense(jacobian_pattern(lambda x: jnp.max(x, axis=0), (2, 3), F32))
    assert (p == np.hstack([np.eye(3, dtype=int)] * 2)).all()
    assert (dense(jacobian_pattern(jnp.max, (4,), F32)) == 1).all()


def test_matmul_with_constant_is_dense_per_row() -> None:
    A = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # its zeros are not used: the pattern holds for any A
    assert (dense(jacobian_pattern(lambda x: jnp.asarray(A) @ x, (3,), F32)) == 1).all()
    p = dense(jacobian_pattern(lambda x: x.reshape(3, 2) @ jnp.ones((2, 4)), (6,), F32))
    assert (p == np.kron(np.eye(3, dtype=int), np.ones((4, 2), dtype=int))).all()


def test_bilinear() -> None:
    p = dense(jacobian_pattern(lambda x: x.reshape(2, 2) @ x.reshape(2, 2), (4,), F64))
    expected = np.array([[1, 1, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]])
    assert (p == expected).all()
    assert (dense(jacobian_pattern(lambda x: x @ x, (3,), F32)) == 1).all()


def test_gather_and_scatter_with_constant_indices() -> None:
    p = dense(jacobian_pattern(lambda x: x[jnp.array([2, 0, 2])], (4,), F32))
    assert (p == np.eye(4, dtype=int)[[2, 0, 2]]).all()
    p = dense(jacobian_pattern(lambda x: x.at[jnp.array([1, 3])].set(x[:2] ** 2), (5,), F32))
    assert (p == np.eye(5, dtype=int)[[0, 0, 2, 1, 4]]).all()
    p = dense(jacobian_pattern(lambda x: x.at[jnp.array([1, 1])].add(x[3:]), (5,), F32))
    expected = np.eye(5, dtype=int)
    expected[1, 3:] = 1
    assert (p == expected).all()
    p = dense(jacobian_pattern(lambda x: x.reshape(3, 2)[:, jnp.array([1])].ravel(), (6,), F32))
    assert (p == np.eye(6, dtype=int)[[1, 3, 5]]).all()


@pytest.mark.parametrize(
    "f",
    [lambda x: jnp.where(x > 0, x, 0), jax.nn.relu, jax.nn.softplus, lambda x: jnp.clip(x, -1, 1)],
    ids=["where", "relu", "softplus", "clip"],
)
def test_piecewise_is_diagonal(f: Callable) -> None:
    assert (dense(jacobian_pattern(f, (4,), F32)) == np.eye(4, dtype=int)).all()


def test_logsumexp_cumsum_sort() -> None:
    assert (dense(jacobian_pattern(jax.scipy.special.logsumexp, (4,), F32)) == 1).all()
    assert (dense(jacobian_pattern(jnp.cumsum, (4,), F32)) == np.tril(np.ones((4, 4), dtype=int))).all()
    p = dense(jacobian_pattern(lambda x: jnp.sort(x, axis=1), (2, 3), F32))
    assert (p == np.kron(np.eye(2), np.ones((3, 3)))).all()
    # Sorting by constant keys is a known permutation.
    p = dense(jacobian_pattern(lambda x: x[jnp.argsort(jnp.array([3.0, 1.0, 2.0]))], (3,), F32))
    assert (p == np.eye(3, dtype=int)[[1, 2, 0]]).all()


def test_loops() -> None:
    # fori_loop with static bounds: a scan unrolled with its known counter.
    def two_steps(x: Any) -> Any:
        return lax.fori_loop(0, 2, lambda i, c: c + jnp.roll(c, 1), x)

    assert (dense(jacobian_pattern(two_steps, (6,), F32)) == stencil(6, [0, -1, -2], True)).all()

    def by_index(x: Any) -> Any:
        return lax.fori_loop(0, 5, lambda i, c: c.at[i].set(x[i] * x[(i + 1) % 5]), jnp.zeros(5))

    assert (dense(jacobian_pattern(by_index, (5,), F32)) == stencil(5, [0, 1], True)).all()

    # while_loop with a counter known at every iteration: unrolled too.
    def counted(x: Any) -> Any:
        return lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] + jnp.roll(c[1], 1)), (0, x))[1]

    assert (dense(jacobian_pattern(counted, (6,), F32)) == stencil(6, [0, -1, -2], True)).all()

    # scan with per-iteration slices of xs.
    def running(x: Any) -> Any:
        return lax.scan(lambda c, xi: (c + xi, c * xi), 0.0, x)[1]

    assert (dense(jacobian_pattern(running, (4,), F32)) == np.tril(np.ones((4, 4), dtype=int))).all()


@pytest.mark.parametrize(
    "f",
    [
        lambda x: lax.while_loop(
            lambda c: c[0] + jnp.abs(c[1][0]) < 5.0, lambda c: (c[0] + 1, c[1] * 1.5 + c[1][::-1] * 0.1), (0.0, x)
        )[1],
        lambda x: lax.while_loop(
            lambda c: (c[0] < 3) & (jnp.sum(c[1]) < 10.0), lambda c: (c[0] + 1, c[1] * 1.1), (0, x)
        )[1],
        lambda x: lax.fori_loop(0, 30_000, lambda i, c: c * 0.999 + jnp.sin(c) * 1e-4, x),
        lambda x: lax.scan(lambda c, xi: (c * 0.5 + xi, c * xi), 0.0, jnp.tile(x, 5000))[1][:7],
        lambda x: lax.fori_loop(0, jnp.argmax(x), lambda i, c: c + c[i % 4] * 0.1, x),
    ],
    ids=["while-value-dependent", "while-scaling", "fori-long", "scan-long", "fori-dynamic"],
)
def test_loops_without_known_trip_count_are_conservative(f: Callable, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_jaxpr_control, "_UNROLL_BUDGET", 500)  # past it, long loops go to the fixed point sooner
    p = jacobian_pattern(f, (4,), F64)
    assert_superset(p, f, (4,))


def test_fixed_point_keeps_loops_sparse() -> None:
    # Unknown trip count, elementwise body: the fixed point stays diagonal.
    def f(x: Any) -> Any:
        return lax.while_loop(lambda c: c[0] < x[0], lambda c: (c[0] + 1.0, jnp.sin(c[1])), (0.0, x))[1]

    assert (dense(jacobian_pattern(f, (4,), F64)) == np.eye(4, dtype=int)).all()


def test_slow_fixed_point_is_widened() -> None:
    # Each sweep spreads the dependencies by one element: after _MAX_SWEEPS the carry is widened to
    # everything that reaches the loop, which is a fixed point.
    n = _jaxpr_control._MAX_SWEEPS + 20

    def f(x: Any) -> Any:
        body = lambda c: (c[0] + 1.0, c[1] + jnp.roll(c[1], 1))  # noqa: E731
        return lax.while_loop(lambda c: c[0] < x[0] * 0 + 3, body, (0.0, x))[1]

    p = jacobian_pattern(f, (n,), F64)
    assert (dense(p) == 1).all()
    assert_superset(p, f, (n,))


def test_scalar_loop_is_exact() -> None:
    n = 200

    def f(x: Any) -> Any:
        return lax.fori_loop(0, n, lambda i, c: c.at[i].set(x[i - 1] - 2 * x[i] + x[(i + 1) % n]), jnp.zeros(n))

    assert (dense(jacobian_pattern(f, (n,), F32)) == stencil(n, [-1, 0, 1], True)).all()


def test_cond() -> None:
    def f(x: Any) -> Any:
        return lax.cond(x[0] > 0, lambda v: v * 2, lambda v: jnp.sin(v[::-1]), x)

    assert (dense(jacobian_pattern(f, (3,), F32)) == np.eye(3, dtype=int) | np.eye(3, dtype=int)[::-1]).all()
    # A known branch index takes that branch only.
    known = dense(jacobian_pattern(lambda x: lax.switch(1, [lambda v: v, lambda v: v[::-1]], x), (3,), F32))
    assert (known == np.eye(3, dtype=int)[::-1]).all()


def test_nested_jit_and_custom_rules() -> None:
    @jax.jit
    def inner(z: Any) -> Any:
        return z[1:] * z[:-1]

    @jax.custom_vjp
    def g(x: Any) -> Any:
        return jnp.sin(x)

    g.defvjp(lambda x: (jnp.sin(x), x), lambda r, ct: (ct * jnp.cos(r),))

    def f(x: Any) -> Any:
        return jax.jit(lambda y: inner(y) + g(y[1:]) + jax.checkpoint(lambda w: w**2)(y[:-1]))(x)

    assert (dense(jacobian_pattern(f, (4,), F32)) == np.eye(3, 4, dtype=int) + np.eye(3, 4, 1, dtype=int)).all()


def test_value_dependent_index_is_conservative() -> None:
    f = lambda x: x[jnp.argmax(x)] * x  # noqa: E731
    p = dense(jacobian_pattern(f, (4,), F64))
    assert (p == 1).all()
    g = lambda x: x.reshape(3, 2)[jnp.argmax(x) % 3]  # noqa: E731
    p = dense(jacobian_pattern(g, (6,), F64))
    assert (p == np.array([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]])).all()  # along the indexed axis only
    h = lambda x: lax.dynamic_update_slice(x, x[:2] ** 2, (jnp.argmin(x),))  # noqa: E731
    assert_superset(jacobian_pattern(h, (5,), F64), h, (5,))


def test_shapes_and_outputs() -> None:
    assert dense(jacobian_pattern(lambda x: jnp.sin(x) * x, (), F32)).tolist() == [[1]]
    p = jacobian_pattern(lambda x: jnp.outer(x, x), (3,), F32)
    assert p.shape == (9, 3)
    assert (dense(p)[4] == [0, 1, 0]).all() and (dense(p)[1] == [1, 1, 0]).all()
    p = jacobian_pattern(lambda x: x.T, (2, 3), F32)
    assert (dense(p) == np.eye(6, dtype=int)[[0, 3, 1, 4, 2, 5]]).all()
    # A pytree output: leaves stacked in tree order; constants and integers have no dependency.
    tree = dense(jacobian_pattern(lambda x: {"a": x[0] * 2, "b": (x[1:], jnp.arange(2.0), jnp.argmax(x))}, (3,), F64))
    assert (tree == np.vstack([np.eye(3, dtype=int), np.zeros((3, 3), dtype=int)])).all()


def test_x64_is_restored() -> None:
    before = jax.config.jax_enable_x64
    jacobian_pattern(jnp.sin, (3,), F64)
    assert jax.config.jax_enable_x64 == before
    with pytest.raises(ValueError, match="scalar"):
        hessian_pattern(jnp.sin, (3,), F64)
    assert jax.config.jax_enable_x64 == before


def test_unknown_primitive_is_dense_with_one_warning() -> None:
    from jax.extend.core import Primitive

    mystery = Primitive(f"mystery_{uuid.uuid4().hex[:8]}")
    mystery.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    mystery.def_impl(lambda x: x)

    def f(x: Any) -> Any:
        return jnp.concatenate([mystery.bind(x[:2]), x[2:] * 2])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p = dense(jacobian_pattern(f, (4,), F32))
        jacobian_pattern(f, (4,), F32)
        h = dense(hessian_pattern(lambda x: jnp.sum(f(x)), (4,), F32))
    assert [str(w.message).count(mystery.name) for w in caught] == [1]
    assert "dense" in str(caught[0].message)
    assert (p == np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])).all()
    assert (h == np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])).all()


# ---- Hessians


def test_hessian_patterns() -> None:
    def rosenbrock(x: Any) -> Any:
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    A = np.arange(16.0).reshape(4, 4)
    cases = {
        "square": (lambda x: jnp.sum(x**2), np.eye(4, dtype=int)),
        "neighbours": (lambda x: jnp.sum(x[1:] * x[:-1]), np.eye(4, k=1, dtype=int) + np.eye(4, k=-1, dtype=int)),
        "rosenbrock": (rosenbrock, stencil(4, [-1, 0, 1], False)),
        "sin": (lambda x: jnp.sum(jnp.sin(x)), np.eye(4, dtype=int)),
        "linear": (lambda x: jnp.sum(3 * x - x[::-1]) + 1, np.zeros((4, 4), dtype=int)),
        "quadratic form": (lambda x: x @ jnp.asarray(A) @ x, np.ones((4, 4), dtype=int)),
        "logsumexp": (jax.scipy.special.logsumexp, np.ones((4, 4), dtype=int)),
        "relu": (lambda x: jnp.sum(jax.nn.relu(x) * 2 + jnp.abs(x[::-1])), np.zeros((4, 4), dtype=int)),
        "dot": (lambda x: x[:2] @ x[2:], np.eye(4, k=2, dtype=int) + np.eye(4, k=-2, dtype=int)),
        "division": (lambda x: x[0] / x[1] + x[2] * 3, np.array([[0, 1, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4])),
    }
    for name, (f, expected) in cases.items():
        p = hessian_pattern(f, (4,), F64)
        assert (p != p.T).nnz == 0, name
        assert (dense(p) == expected).all(), name


# ---- random compositions: never an entry missing


UNARY: dict[str, Callable[[Any], Any]] = {
    "sin": jnp.sin,
    "tanh": jnp.tanh,
    "square": lambda a: a**2,
    "cube": lambda a: a**3 * 0.1,
    "exp": lambda a: jnp.exp(jnp.tanh(a)),
    "log": lambda a: jnp.log1p(a**2),
    "abs": jnp.abs,
    "relu": jax.nn.relu,
    "scale": lambda a: 2.0 * a - 1.0,
    "where": lambda a: jnp.where(a > 0, a, a[::-1] * 0.5),
    "roll": lambda a: jnp.roll(a, 1),
    "roll2": lambda a: jnp.roll(a, -2),
    "flip": lambda a: a[::-1],
    "tail": lambda a: a[1:] if a.size > 1 else a,
    "head": lambda a: a[:-1] if a.size > 1 else a,
    "stride": lambda a: a[::2],
    "pad": lambda a: jnp.pad(a, (1, 2)),
    "diff": lambda a: a[1:] - a[:-1] if a.size > 1 else a,
    "cumsum": jnp.cumsum,
    "sort": jnp.sort,
    "sum": lambda a: jnp.sum(a).reshape(1),
    "max": lambda a: jnp.max(a).reshape(1),
    "prod": lambda a: jnp.prod(jnp.tanh(a[:3])).reshape(1),
    "gather": lambda a: a[jnp.array([0, a.size - 1, 0])],
    "scatter": lambda a: a.at[jnp.array([0, a.size // 2])].add(a[-2:] if a.size > 1 else a),
    "transpose": lambda a: a.reshape(2, -1).T.ravel() if a.size % 2 == 0 else a,
    "rowsum": lambda a: jnp.sum(a.reshape(2, -1), axis=0) if a.size % 2 == 0 else a,
    "matmul": lambda a: jnp.ones((3, a.size)) @ a * 0.1,
    "fori": lambda a: lax.fori_loop(0, 2, lambda i, c: c * 0.5 + jnp.roll(c, 1) ** 2 * 0.1, a),
    "scan": lambda a: lax.scan(lambda c, xi: (c * 0.5 + xi, c * xi), 0.0, a)[1],
    "logsumexp": lambda a: jax.scipy.special.logsumexp(a).reshape(1),
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.0 + b**2),
    "concat": lambda a, b: jnp.concatenate([a, b]),
    "outer": lambda a, b: (a[:2, None] * b[None, :2]).ravel(),
    "dot": lambda a, b: jnp.dot(a, b).reshape(1),
}


def build(program: Any) -> Callable[[Any], Any]:
    """A function of x from a program: "x", (unary name, program) or (binary name, program, program)."""
    if program == "x":
        return lambda x: x.ravel()
    if len(program) == 2:
        op, inner = UNARY[program[0]], build(program[1])
        return lambda x: op(inner(x))
    op2, left, right = BINARY[program[0]], build(program[1]), build(program[2])

    def combined(x: Any) -> Any:
        a, b = left(x), right(x)
        m = min(a.size, b.size)
        return op2(a[:m], b[:m])

    return combined


def depth(program: Any) -> int:
    return 0 if program == "x" else 1 + max(depth(p) for p in program[1:])


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    programs = st.recursive(
        st.just("x"),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(sorted(UNARY)), inner),
            st.tuples(st.sampled_from(sorted(BINARY)), inner, inner),
        ),
        max_leaves=4,
    ).filter(lambda p: 1 <= depth(p) <= 4)
    shapes = st.sampled_from([(3,), (4,), (6,), (2, 3), (3, 2), (2, 2, 2)])
    relaxed = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

    @relaxed
    @given(programs, shapes)
    def test_random_jacobians_are_supersets(program: Any, shape: tuple[int, ...]) -> None:
        f = build(program)
        with x64():
            p = jacobian_pattern(f, shape, F64)
        assert p.shape == (math.prod(jax.eval_shape(f, jax.ShapeDtypeStruct(shape, F32)).shape), math.prod(shape))
        assert_superset(p, f, shape)

    @relaxed
    @given(programs, shapes)
    def test_random_hessians_are_supersets(program: Any, shape: tuple[int, ...]) -> None:
        inner = build(program)

        def f(x: Any) -> Any:
            return jnp.sum(jnp.sin(inner(x)))

        p = hessian_pattern(f, shape, F64)
        assert (p != p.T).nnz == 0
        assert_superset(p, f, shape, hessian=True)


def test_docstring_examples() -> None:
    result = doctest.testmod(_jaxpr, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted and not result.failed
