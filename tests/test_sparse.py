"""Sparse(backend): sparse Jacobians and Hessians on every backend, against analytic references and
the dense operators; detection by the index-set tracer; formats, caching, errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from _support import BACKENDS, assert_close, installed, tolerance
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import abstractad as ad
from abstractad.testing import brusselator, energy2d, laplace2d, tridiagonal
from abstractad.testing import rosenbrock_chain as rosenbrock

Sparse = ad.backends.Sparse
N = 4  # grid side of the 2-D scenarios


# ---------------------------------------------------------------------------- scenarios


def tridiagonal_jacobian(x: np.ndarray) -> np.ndarray:
    n = x.size
    return np.diag(np.full(n - 1, 1.0), 1) + np.diag(np.full(n - 1, 1.0), -1) + np.diag(-2 + 3 * x**2)


def periodic_laplacian(side: int) -> np.ndarray:
    eye = np.eye(side)
    shift = np.roll(eye, 1, axis=1) + np.roll(eye, -1, axis=1)
    return np.kron(shift, eye) + np.kron(eye, shift) - 4 * np.eye(side * side)


def laplace2d_jacobian(x: np.ndarray) -> np.ndarray:
    return periodic_laplacian(N) + np.diag(3 * x**2)


def brusselator_jacobian(x: np.ndarray) -> np.ndarray:
    u, v = x[..., 0].reshape(-1), x[..., 1].reshape(-1)
    lap = 0.1 * periodic_laplacian(N)
    blocks = [[np.diag(2 * u * v - 4.4) + lap, np.diag(u * u)], [np.diag(3.4 - 2 * u * v), np.diag(-u * u) + lap]]
    # Unknowns are interleaved (u, v at each grid point): permute the block matrix.
    full = np.block(blocks)
    order = np.stack([np.arange(N * N), N * N + np.arange(N * N)], axis=1).reshape(-1)
    return full[np.ix_(order, order)]


def arrow_column(x: Any) -> Any:
    """Every output depends on x[0]: columns color in 2, rows in n."""
    return x**2 + x[0]


def arrow_column_jacobian(x: np.ndarray) -> np.ndarray:
    jac = np.diag(2 * x)
    jac[:, 0] += 1
    return jac


def arrow_row(x: Any) -> Any:
    """The first output depends on everything: rows color in 2, columns in n."""
    xp = ad.array_namespace(x)
    return xp.concat([xp.sum(x, keepdims=True), x[1:] ** 2])


def arrow_row_jacobian(x: np.ndarray) -> np.ndarray:
    jac = np.diag(2 * x)
    jac[0, :] = 1
    return jac


JACOBIANS = {
    "tridiagonal": (tridiagonal, tridiagonal_jacobian, (7,)),
    "laplace2d": (laplace2d, laplace2d_jacobian, (N * N,)),
    "brusselator": (brusselator, brusselator_jacobian, (N, N, 2)),
    "arrow_column": (arrow_column, arrow_column_jacobian, (6,)),
    "arrow_row": (arrow_row, arrow_row_jacobian, (6,)),
}


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        h[i + 1, i + 1] += 200
        h[i, i + 1] += -400 * x[i]
        h[i + 1, i] += -400 * x[i]
    return h


def energy2d_hessian(x: np.ndarray) -> np.ndarray:
    return -2 * periodic_laplacian(N) + np.diag(3 * x**2)


def hub(x: Any) -> Any:
    """x[0] couples with every other variable: a star graph, 2 colors in a star coloring."""
    xp = ad.array_namespace(x)
    return x[0] * xp.sum(x[1:]) + xp.sum(x**3)


def hub_hessian(x: np.ndarray) -> np.ndarray:
    h = np.diag(6 * x)
    h[0, 1:] += 1
    h[1:, 0] += 1
    return h


HESSIANS = {
    "rosenbrock": (rosenbrock, rosenbrock_hessian, (8,)),
    "energy2d": (energy2d, energy2d_hessian, (N * N,)),
    "hub": (hub, hub_hessian, (7,)),
}


def dense(a: Any) -> np.ndarray:
    """Any library's sparse (or dense) matrix as a dense NumPy array."""
    if sp.issparse(a):
        return a.toarray()
    module = type(a).__module__
    if module.startswith("jax"):
        return np.asarray(a.todense())
    if module.startswith("torch"):
        return a.to_dense().detach().cpu().numpy()
    if module.startswith("tensorflow"):
        import tensorflow as tf

        return tf.sparse.to_dense(a).numpy()
    return np.asarray(a)


def point(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


# Sparse over every backend of the suite, except those whose primitive cannot take our scenarios.
SPARSE_IDS = sorted(BACKENDS)


# ---------------------------------------------------------------------------- values on every backend


@pytest.mark.parametrize("scenario", sorted(JACOBIANS))
@pytest.mark.parametrize("backend_id", SPARSE_IDS)
def test_jacobian_matches_analytic_and_dense(backend_id: str, scenario: str) -> None:
    f, reference, shape = JACOBIANS[scenario]
    x = point(shape)
    b = BACKENDS[backend_id]()
    J = ad.jacobian(f, x, backend=Sparse(b))
    assert isinstance(J, sp.csr_array) and J.shape == (math.prod(shape), math.prod(shape))
    rtol = tolerance(backend_id, x.dtype, 1)
    assert_close(J.toarray(), reference(x), rtol)
    dense_jac = np.asarray(ad.jacobian(f, x, backend=b)).reshape(J.shape)
    assert_close(J.toarray(), dense_jac, rtol)
    # Only the structural nonzeros are stored: the pattern, not a dense matrix.
    assert J.nnz == np.count_nonzero(reference(x)) or J.nnz <= 7 * J.shape[0]


@pytest.mark.parametrize("scenario", sorted(HESSIANS))
@pytest.mark.parametrize("backend_id", SPARSE_IDS)
def test_hessian_matches_analytic_and_dense(backend_id: str, scenario: str) -> None:
    if backend_id in ("complex-step", "finitediff-complex"):
        pytest.skip("a complex step cannot be nested in itself (first order only)")
    f, reference, shape = HESSIANS[scenario]
    x = point(shape)
    b = BACKENDS[backend_id]()
    H = ad.hessian(f, x, backend=Sparse(b))
    assert isinstance(H, sp.csr_array) and H.shape == (x.size, x.size)
    rtol = tolerance(backend_id, x.dtype, 2)
    assert_close(H.toarray(), reference(x), rtol)
    assert_close(H.toarray(), np.asarray(ad.hessian(f, x, backend=b)), rtol)
    assert (H != H.T).nnz == 0 or backend_id.startswith("finitediff")


@pytest.mark.parametrize("backend_id", SPARSE_IDS)
def test_value_forms(backend_id: str) -> None:
    b = Sparse(BACKENDS[backend_id]())
    x = point((7,))
    rtol = tolerance(backend_id, x.dtype, 1)
    y, J = ad.value_and_jacobian(tridiagonal, x, backend=b)
    assert_close(y, tridiagonal(x), 1e-12)
    assert_close(J.toarray(), tridiagonal_jacobian(x), rtol)
    if backend_id in ("complex-step", "finitediff-complex"):
        return
    v, g, H = ad.value_gradient_and_hessian(rosenbrock, x, backend=b)
    assert_close(v, rosenbrock(x), 1e-12)
    # Under second order, finite differences take coarser steps for the gradient too.
    rtol = tolerance(backend_id, x.dtype, 2)
    assert_close(g, ad.gradient(rosenbrock, x, backend="autograd" if installed("autograd") else "finitediff"), rtol)
    assert_close(H.toarray(), rosenbrock_hessian(x), rtol)


def test_other_operators_are_the_wrapped_backends() -> None:
    b = Sparse("finitediff")
    x = point((5,))
    assert_close(ad.gradient(rosenbrock, x, backend=b), ad.gradient(rosenbrock, x, backend="finitediff"), 1e-12)
    v = np.ones(5)
    assert_close(ad.jvp(tridiagonal, x, v, backend=b), tridiagonal_jacobian(x) @ v, 1e-7)
    assert_close(ad.hvp(rosenbrock, x, v, backend=b), rosenbrock_hessian(x) @ v, 1e-4)


# ---------------------------------------------------------------------------- engines' own formats


ENGINE_ARRAYS = {
    "torch": lambda a: __import__("torch").asarray(a),
    "jax": lambda a: __import__("jax.numpy").numpy.asarray(a),
    "tensorflow": lambda a: __import__("tensorflow").constant(a),
}
FORMATS = {"torch": "Tensor", "jax": "BCOO", "tensorflow": "SparseTensor"}


@pytest.mark.parametrize("engine", sorted(ENGINE_ARRAYS))
def test_engine_arrays_give_the_engines_sparse_format(engine: str) -> None:
    pytest.importorskip(engine)
    x_np = point((7,))
    x = ENGINE_ARRAYS[engine](x_np.astype(np.float32))
    J = ad.jacobian(tridiagonal, x, backend=Sparse(engine))
    assert type(J).__name__ == FORMATS[engine]
    if engine == "torch":
        import torch

        assert J.layout == torch.sparse_csr and J.dtype == torch.float32
    assert_close(dense(J), tridiagonal_jacobian(x_np.astype(np.float32)), 1e-5)
    y, H = ad.value_gradient_and_hessian(rosenbrock, x, backend=Sparse(engine))[0::2]
    assert type(H).__name__ == FORMATS[engine]
    assert_close(dense(H), rosenbrock_hessian(x_np.astype(np.float32)), 1e-4)
    assert_close(np.asarray(y), rosenbrock(x_np), 1e-4)


def test_python_float_and_pytree_inputs() -> None:
    b = Sparse("autograd" if installed("autograd") else "finitediff")
    J = ad.jacobian(lambda x: x**3, 2.0, backend=b)
    assert J.shape == (1, 1) and J.toarray()[0, 0] == pytest.approx(12.0, rel=1e-6)
    # A pytree x is raveled in leaf order (here "a" before "b"): the matrix is over the flat vectors.
    tree = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}

    def f(t: dict) -> Any:
        xp = ad.array_namespace(t["a"])
        return xp.concat([t["a"] * t["b"], t["b"] ** 2])

    J = ad.jacobian(f, tree, backend=b)
    want = np.array([[3.0, 0.0, 1.0], [0.0, 3.0, 2.0], [0.0, 0.0, 6.0]])
    assert_close(J.toarray(), want, 1e-6)


def test_empty_and_constant_functions() -> None:
    b = Sparse("finitediff")
    J = ad.jacobian(lambda x: 2.0 * ad.array_namespace(x).ones_like(x), np.ones(3), backend=b)
    assert J.shape == (3, 3) and J.nnz == 0
    H = ad.hessian(lambda x: ad.array_namespace(x).sum(x), np.ones(4), backend=b)
    assert H.shape == (4, 4) and H.nnz == 0


def test_given_sparsity_is_used_and_checked() -> None:
    x = point((6,))
    pattern = sp.diags_array([1.0, 1.0, 1.0], offsets=[-1, 0, 1], shape=(6, 6))
    J = ad.jacobian(tridiagonal, x, backend=Sparse("finitediff", sparsity=pattern))
    assert_close(J.toarray(), tridiagonal_jacobian(x), 1e-7)
    # A boolean array works too, and the Hessian takes it symmetrized.
    upper = np.triu(np.abs(rosenbrock_hessian(x)) > 0)
    H = ad.hessian(rosenbrock, x, backend=Sparse("finitediff", sparsity=upper))
    assert_close(H.toarray(), rosenbrock_hessian(x), 1e-4)
    with pytest.raises(ValueError, match="sparsity pattern has shape"):
        ad.jacobian(tridiagonal, np.ones(5), backend=Sparse("finitediff", sparsity=pattern))
    with pytest.raises(ValueError, match="must be 2-D"):
        Sparse("finitediff", sparsity=np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match="SciPy sparse matrix or a boolean array"):
        Sparse("finitediff", sparsity={"a": 1})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="coloring must be one of"):
        Sparse("finitediff", coloring="random")
    with pytest.raises(ValueError, match="detector"):
        Sparse("finitediff", detector="magic")
    with pytest.raises(TypeError, match="needs a backend"):
        Sparse()
    with pytest.raises(ValueError, match="scalar"):
        ad.hessian(tridiagonal, np.ones(4), backend=Sparse("finitediff"))


def test_value_dependent_control_flow_is_a_clear_error() -> None:
    def branchy(x: Any) -> Any:
        return x**2 if x[0] > 0 else -x

    with pytest.raises(TypeError, match="cannot branch on or convert its values"):
        ad.jacobian(branchy, np.ones(3), backend=Sparse("finitediff"))
    # With the pattern given, nothing is traced.
    J = ad.jacobian(branchy, np.ones(3), backend=Sparse("finitediff", sparsity=np.eye(3)))
    assert_close(J.toarray(), 2 * np.eye(3), 1e-7)


def test_users_exceptions_propagate() -> None:
    class Mine(Exception):
        pass

    def broken(x: Any) -> Any:
        raise Mine("from f")

    with pytest.raises(Mine, match="from f"):
        ad.jacobian(broken, np.ones(3), backend=Sparse("finitediff"))


# ---------------------------------------------------------------------------- colors, modes, caching


def test_columns_or_rows_by_fewer_colors() -> None:
    """arrow_column needs 2 column colors (pushforwards), arrow_row 2 row colors (pullbacks)."""
    calls = {"forward": 0, "reverse": 0}
    fd = ad.backends.FiniteDiff()

    class Counting(ad.Backend):
        def pushforward(self, f: Any, x: Any, v: Any) -> Any:
            calls["forward"] += 1
            return fd.pushforward(f, x, v)

        def pullback(self, f: Any, x: Any) -> Any:
            calls["reverse"] += 1
            jac = fd_jacobian(f, x)
            return f(x), lambda w: w @ jac

    def fd_jacobian(f: Any, x: Any) -> np.ndarray:
        return np.asarray(ad.jacobian(f, x, backend=fd))

    x = point((12,))
    J = ad.jacobian(arrow_column, x, backend=Sparse(Counting()))
    assert_close(J.toarray(), arrow_column_jacobian(x), 1e-7)
    assert calls == {"forward": 2, "reverse": 0}
    calls.update(forward=0)
    J = ad.jacobian(arrow_row, x, backend=Sparse(Counting()))
    assert_close(J.toarray(), arrow_row_jacobian(x), 1e-7)
    assert calls["reverse"] == 1 and calls["forward"] == 0  # one batched pullback over the 2 row colors


def test_detection_and_coloring_run_once_per_function_and_shapes() -> None:
    seen = {"traced": 0}

    def f(x: Any) -> Any:
        if type(x).__name__ == "Tracer":
            seen["traced"] += 1
        return tridiagonal(x)

    b = Sparse("finitediff")
    for _ in range(3):
        ad.jacobian(f, point((7,)), backend=Sparse("finitediff"))  # an equal Sparse: the same plan
        ad.value_and_jacobian(f, point((7,)), backend=b)
    assert seen["traced"] == 1
    ad.jacobian(f, point((9,)), backend=b)  # new shapes: detected again
    assert seen["traced"] == 2
    prepared = ad.prepare("jacobian", f, point((7,)), backend=b)
    assert_close(prepared(point((7,), 3)).toarray(), tridiagonal_jacobian(point((7,), 3)), 1e-7)
    assert seen["traced"] == 2


def test_chunk_size_splits_the_colors() -> None:
    x = point((N * N,))
    whole = ad.jacobian(laplace2d, x, backend=Sparse("finitediff"))
    parts = ad.jacobian(laplace2d, x, backend=Sparse("finitediff"), chunk_size=2)
    assert_close(parts.toarray(), whole.toarray(), 1e-12)


@pytest.mark.parametrize(
    "coloring", ["greedy", "natural", "largest_first", "smallest_last", "incidence_degree", "dsatur"]
)
def test_every_coloring_order_gives_the_same_matrix(coloring: str) -> None:
    x = point((N, N, 2))
    J = ad.jacobian(brusselator, x, backend=Sparse("finitediff", coloring=coloring))
    assert_close(J.toarray(), brusselator_jacobian(x), 1e-7)
    H = ad.hessian(energy2d, x.reshape(-1)[: N * N], backend=Sparse("finitediff", coloring=coloring))
    assert_close(H.toarray(), energy2d_hessian(x.reshape(-1)[: N * N]), 1e-4)


def test_sparse_is_hashable_by_value() -> None:
    pattern = sp.eye_array(4, format="csr")
    assert Sparse("finitediff", sparsity=pattern) == Sparse("finitediff", sparsity=pattern.toarray())
    assert Sparse("finitediff") != Sparse("finitediff", coloring="dsatur")
    assert len({Sparse("finitediff"), Sparse("finitediff")}) == 1
    assert "Sparse(FiniteDiff" in repr(Sparse("finitediff", sparsity=pattern))


# ---------------------------------------------------------------------------- detection


@pytest.mark.parametrize("scenario", sorted(JACOBIANS))
def test_tracer_finds_the_exact_pattern(scenario: str) -> None:
    f, reference, shape = JACOBIANS[scenario]
    found = ad.jacobian_sparsity(f, np.zeros(shape), backend="finitediff")
    assert isinstance(found, sp.csr_array) and found.dtype == bool
    np.testing.assert_array_equal(found.toarray(), reference(point(shape)) != 0)


@pytest.mark.parametrize("scenario", sorted(HESSIANS))
def test_tracer_finds_the_exact_hessian_pattern(scenario: str) -> None:
    f, reference, shape = HESSIANS[scenario]
    found = ad.hessian_sparsity(f, np.zeros(shape), backend="finitediff")
    np.testing.assert_array_equal(found.toarray(), reference(point(shape)) != 0)


def test_tracer_follows_numpy_autograd_and_torch_functions() -> None:
    want = np.eye(4, k=0, dtype=bool) | np.eye(4, k=1, dtype=bool)
    got = ad.jacobian_sparsity(lambda x: np.sin(x[:-1]) * np.exp(x[1:]), np.zeros(4), backend="finitediff")
    np.testing.assert_array_equal(got.toarray(), want[:3])
    if installed("autograd"):
        import autograd.numpy as anp

        got = ad.jacobian_sparsity(lambda x: anp.tanh(x[:-1]) + anp.sum(x[1:] ** 2, keepdims=True), np.zeros(4))
        np.testing.assert_array_equal(got.toarray(), np.array([[1, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]], bool))
    if installed("torch"):
        import torch

        def f(x: Any) -> Any:
            return torch.cat([torch.sin(x[1:]) * x[:-1], x.sum(dim=0, keepdim=True)])

        got = ad.jacobian_sparsity(f, torch.zeros(4), backend="torch")
        want = np.vstack([want[:3], np.ones((1, 4), bool)])
        np.testing.assert_array_equal(got.toarray(), want)


def test_tracer_is_conservative_about_constants_and_unknown_indices() -> None:
    A = np.eye(3)  # a constant's zeros are values, and the pattern holds for every value
    np.testing.assert_array_equal(ad.jacobian_sparsity(lambda x: A @ x, np.zeros(3)).toarray(), np.ones((3, 3), bool))

    def pick(x: Any) -> Any:
        xp = ad.array_namespace(x)
        return x[xp.argmax(x)] * x[0]  # an index that depends on x: any element may be picked

    np.testing.assert_array_equal(ad.jacobian_sparsity(pick, np.zeros(3)).toarray(), np.ones((1, 3), bool))


# A random composition of Array API operations, and the check that the detected pattern holds
# every nonzero of the numerical Jacobian at random points.
UNARY = ["sin", "exp", "tanh", "square", "abs", "negative"]


@st.composite
def programs(draw: Any) -> list[tuple]:
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["unary", "shift_mul", "shift_add", "sum", "roll", "flip", "concat", "where"]))
        steps.append((kind, draw(st.sampled_from(UNARY)), draw(st.integers(1, 3))))
    return steps


def run_program(steps: list[tuple], x: Any) -> Any:
    xp = ad.array_namespace(x)
    y = x
    for kind, unary, k in steps:
        n = y.shape[0]
        k = min(k, n - 1) if n > 1 else 0
        if kind == "unary":
            y = getattr(xp, unary)(y)
        elif kind == "shift_mul" and k:
            y = xp.concat([y[k:] * y[:-k], y[:k]])
        elif kind == "shift_add" and k:
            y = xp.concat([y[:k], y[k:] + 2 * y[:-k]])
        elif kind == "sum":
            y = xp.concat([y[1:], xp.sum(y[: k + 1], keepdims=True)])
        elif kind == "roll":
            y = xp.roll(y, k)
        elif kind == "flip":
            y = y[::-1]  # (autograd has no derivative of flip)
        elif kind == "concat":
            k = min(k, x.shape[0])
            y = xp.concat([y, y[:k] * x[:k]])
        elif kind == "where":
            y = xp.where(y > 0.3, y * y, 2 * y)
    return y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.integers(2, 9))
def test_detected_pattern_never_misses_a_nonzero(steps: list[tuple], n: int) -> None:
    found = ad.jacobian_sparsity(lambda x: run_program(steps, x), np.zeros(n), backend="finitediff").toarray()
    backend = "autograd" if installed("autograd") else "finitediff"
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=n)
        jac = np.asarray(ad.jacobian(lambda x: run_program(steps, x), x, backend=backend)).reshape(found.shape)
        assert not np.any((np.abs(jac) > 1e-12) & ~found), f"missed entries of\n{jac}\npattern\n{found}"
    # And the sparse Jacobian built on it is the dense one.
    x = np.random.default_rng(7).normal(size=n)
    J = ad.jacobian(lambda x: run_program(steps, x), x, backend=Sparse(backend))
    dense_jac = np.asarray(ad.jacobian(lambda x: run_program(steps, x), x, backend=backend)).reshape(J.shape)
    assert_close(J.toarray(), dense_jac, 1e-6)


# ---------------------------------------------------------------------------- compiled and traced


def test_jax_compiled_sparse_jacobian_never_retraces() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    traces = {"n": 0}

    def f(x: Any) -> Any:
        if isinstance(x, jax.core.Tracer):
            traces["n"] += 1
        return tridiagonal(x)

    b = Sparse(ad.backends.Jax(compile=True))
    op = ad.prepare("jacobian", f, jnp.ones(6), backend=b)
    for seed in range(4):
        x = point((6,), seed).astype(np.float32)
        assert_close(dense(op(jnp.asarray(x))), tridiagonal_jacobian(x), 1e-5)
        assert_close(dense(ad.jacobian(f, jnp.asarray(x), backend=b)), tridiagonal_jacobian(x), 1e-5)
    after_first = traces["n"]
    ad.jacobian(f, jnp.asarray(point((6,), 9), dtype=jnp.float32), backend=b)
    assert traces["n"] == after_first


def test_sparse_jacobian_inside_the_users_jax_jit_and_tf_function() -> None:
    if installed("jax"):
        import jax
        import jax.numpy as jnp

        @jax.jit
        def jac(x: Any) -> Any:
            return ad.jacobian(tridiagonal, x, backend=Sparse("jax"))

        x = point((6,)).astype(np.float32)
        J = jac(jnp.asarray(x))
        assert type(J).__name__ == "BCOO"
        assert_close(dense(J), tridiagonal_jacobian(x), 1e-5)
    if installed("tensorflow"):
        import tensorflow as tf

        @tf.function
        def values(x: Any) -> Any:
            return ad.jacobian(tridiagonal, x, backend=Sparse("tensorflow")).values

        x = point((6,))
        got = values(tf.constant(x)).numpy()
        want = tridiagonal_jacobian(x)
        assert_close(got, want[want != 0], 1e-10)


def test_jax_detects_through_its_jaxpr() -> None:
    """jnp-only code (which index-set arrays cannot enter) is detected from the jaxpr on JAX."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    def f(x: Any) -> Any:
        return jnp.diff(x) * jnp.cumsum(x)[1:] + jnp.sum(x[:2] ** 2)

    x = jnp.asarray(point((5,)))
    found = ad.jacobian_sparsity(f, x, backend="jax").toarray()
    want = np.tril(np.ones((4, 5), bool), 1)  # cumsum couples every earlier element
    np.testing.assert_array_equal(found, want)
    J = ad.jacobian(f, x, backend=Sparse("jax"))
    assert_close(dense(J), np.asarray(ad.jacobian(f, x, backend="jax")), 1e-5)
    with pytest.raises(TypeError, match="index-set arrays"):
        ad.jacobian(f, x, backend=Sparse("jax", detector="tracer"))


@pytest.mark.parametrize("engine", ["autograd", "finitediff", "jax", "tensorflow", "torch"])
def test_pattern_functions_on_every_engine(engine: str) -> None:
    if engine != "finitediff":
        pytest.importorskip(engine)
    x = point((7,))
    found = ad.jacobian_sparsity(tridiagonal, x, backend=engine)
    np.testing.assert_array_equal(found.toarray(), tridiagonal_jacobian(x) != 0)
    found = ad.hessian_sparsity(rosenbrock, x, backend=engine)
    np.testing.assert_array_equal(found.toarray(), rosenbrock_hessian(x) != 0)
