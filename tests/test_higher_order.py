"""taylor and laplacian on every backend, against analytic answers; traced, compiled, prepared; memory O(n)."""

from __future__ import annotations

import importlib.util
import tracemalloc

import numpy as np
import pytest
from _support import BACKENDS, assert_close, tolerance

import abstractad as ad

X = np.array([0.3, -0.7, 1.1])
V = np.array([1.0, 2.0, -0.5])
SIN_DERIVATIVES = (np.sin, np.cos, lambda z: -np.sin(z), lambda z: -np.cos(z))


def waves(x):
    """Σ sin(x) + Σ cos(2 x): a sum of sines along any direction."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x)) + xp.sum(xp.cos(2.0 * x))


def waves_along(k: int) -> float:
    """dᵏ/dtᵏ waves(X + t V) at t = 0: Σ vᵏ sin⁽ᵏ⁾(x) + Σ (2v)ᵏ cos⁽ᵏ⁾(2x)."""
    cos_k = SIN_DERIVATIVES[(k + 1) % 4]
    return float(np.sum(V**k * SIN_DERIVATIVES[k % 4](X)) + np.sum((2 * V) ** k * cos_k(2 * X)))


def vector_waves(x):
    xp = ad.array_namespace(x)
    return xp.sin(x) * 3.0


def vector_waves_along(k: int) -> np.ndarray:
    return 3.0 * V**k * SIN_DERIVATIVES[k % 4](X)


def polynomial(x):
    """Σ x³ + x₀² x₁: Laplacian Σ 6x + 2 x₁."""
    return ad.array_namespace(x).sum(x**3) + x[0] ** 2 * x[1]


def exponentials(x):
    """[Σ eˣ, x₀ x₁ x₂, Σ x⁴]: Laplacians [Σ eˣ, 0, Σ 12 x²]."""
    xp = ad.array_namespace(x)
    return xp.stack([xp.sum(xp.exp(x)), x[0] * x[1] * x[2], xp.sum(x**4)])


def order_limit(backend_id: str) -> int:
    """The highest order each backend nests to: finite differences 2, the complex step 1, TensorFlow 3
    (its forward accumulators fail four deep), the other AD engines any (4 here)."""
    if backend_id == "complex-step":
        return 1
    if backend_id.startswith("tensorflow"):
        return 3
    return 2 if backend_id.startswith("finitediff") else 4


def rtol(backend_id: str, order: int) -> float:
    return tolerance(backend_id, np.float64, 1) if order <= 1 else tolerance(backend_id, np.float64, 2) * 10


@pytest.mark.parametrize("backend_id", list(BACKENDS))
def test_taylor_of_sines_along_a_direction(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    top = order_limit(backend_id)
    series = ad.taylor(waves, X, V, order=top, backend=b)
    assert isinstance(series, tuple) and len(series) == top + 1
    for k, got in enumerate(series):
        assert np.shape(got) == ()
        assert_close(got, waves_along(k), rtol(backend_id, k))
    vector = ad.taylor(vector_waves, X, V, order=top, backend=b)
    for k, got in enumerate(vector):
        assert_close(got, vector_waves_along(k), rtol(backend_id, k))


@pytest.mark.parametrize("backend_id", [k for k in BACKENDS if k.startswith(("finitediff", "tensorflow"))])
def test_finite_differences_stop_at_order_two(backend_id: str) -> None:
    limit = order_limit(backend_id)
    with pytest.raises(ValueError, match=f"nests at most {limit}"):
        ad.taylor(waves, X, V, order=limit + 1, backend=BACKENDS[backend_id]())


def test_order_is_checked() -> None:
    assert ad.taylor(waves, X, V, order=0, backend="autograd") == (pytest.approx(waves(X)),)
    with pytest.raises(ValueError, match="order ≥ 0"):
        ad.taylor(waves, X, V, order=-1, backend="autograd")
    with pytest.raises(TypeError, match="integer"):
        ad.taylor(waves, X, V, order=1.5, backend="autograd")
    with pytest.raises(TypeError, match="integer"):
        ad.prepare("taylor", waves, X, V, backend="autograd")


@pytest.mark.parametrize("backend_id", [k for k in BACKENDS if k != "complex-step"])
def test_laplacian_of_polynomials_and_exponentials(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    tol = rtol(backend_id, 2)
    got = ad.laplacian(polynomial, X, backend=b)
    assert np.shape(got) == ()
    assert_close(got, np.sum(6 * X) + 2 * X[1], tol)
    want = [np.sum(np.exp(X)), 0.0, np.sum(12 * X**2)]
    assert_close(ad.laplacian(exponentials, X, backend=b), want, tol)


@pytest.mark.parametrize("backend_id", [k for k in BACKENDS if k != "complex-step"])
def test_laplacian_in_chunks(backend_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two basis vectors (the last one short): the diagonal entries of each chunk's products,
    and the second derivatives along each chunk's rows, add up to the whole Laplacian."""
    from abstractad import _derive

    monkeypatch.setattr(_derive, "LAPLACIAN_ELEMENTS", 20)  # n = 5: steps of 2 (scalar and 3 outputs)
    x = np.array([0.3, -0.7, 1.1, 0.5, -0.2])
    b = BACKENDS[backend_id]()

    def scalar(z):  # fresh functions: no plan of an earlier test's chunking
        return ad.array_namespace(z).sum(z**3) + z[0] ** 2 * z[4]

    def vector(z):
        xp = ad.array_namespace(z)
        return xp.stack([xp.sum(xp.exp(z)), z[1] * z[3] ** 2, xp.sum(z**4)])

    tol = rtol(backend_id, 2)
    assert_close(ad.laplacian(scalar, x, backend=b), np.sum(6 * x) + 2 * x[4], tol)
    assert_close(ad.laplacian(vector, x, backend=b), [np.sum(np.exp(x)), 2 * x[1], np.sum(12 * x**2)], tol)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_jax_laplacian_does_not_unroll_over_the_basis() -> None:
    """Under jit the Laplacian's program has the same size for every n: one vmapped product (scalar f)
    or one vmapped pair of jvps (array-valued f), not one per basis vector."""
    import jax
    import jax.numpy as jnp

    def scalar(z):
        return jnp.sum(jnp.exp(jnp.sin(z)) * z) + jnp.sum(z[1:] * z[:-1] ** 2)

    def vector(z):
        return jnp.sin(z) * jnp.sum(z**2)

    for f in (scalar, vector):
        sizes = {
            n: len(jax.make_jaxpr(lambda z, f=f: ad.laplacian(f, z, backend="jax"))(jnp.ones(n)).eqns) for n in (8, 64)
        }
        assert sizes[8] == sizes[64], sizes
    z = jnp.linspace(-1.0, 1.0, 6)
    want = jnp.stack([jnp.trace(h) for h in jax.jacfwd(jax.jacrev(vector))(z)])
    assert_close(jax.jit(lambda z: ad.laplacian(vector, z, backend="jax"))(z), want, 1e-5)


def test_laplacian_of_a_pytree_output() -> None:
    def f(x):
        return {"cubes": x**3, "total": (x**2).sum()}

    got = ad.laplacian(f, X, backend="autograd")
    assert_close(got["cubes"], 6 * X, 1e-12)
    assert_close(got["total"], 6.0, 1e-12)
    series = ad.taylor(f, X, V, order=2, backend="autograd")
    assert_close(series[2]["total"], 2 * np.sum(V**2), 1e-12)


@pytest.mark.filterwarnings("ignore::abstractad.CompileFallbackWarning")
@pytest.mark.parametrize("backend_id", [k for k in ("autograd", "jax-compiled", "torch-compiled") if k in BACKENDS])
def test_prepare_and_compile_do_not_retrace(backend_id: str) -> None:
    traces = []

    def f(x):
        traces.append(1)
        return polynomial(x)

    b = BACKENDS[backend_id]()
    lap = ad.prepare("laplacian", f, X, backend=b)
    series = ad.prepare("taylor", f, X, V, order=3, backend=b)
    for scale in (1.0, 2.0, 3.0):
        x = X * scale
        assert_close(lap(x), np.sum(6 * x) + 2 * x[1], 1e-9)
        assert_close(
            series(x, V)[2], float(np.sum(6 * x * V**2) + 2 * (V[0] ** 2 * x[1] + 2 * x[0] * V[0] * V[1])), 1e-9
        )
    first = len(traces)
    for _ in range(3):
        lap(X)
        series(X, V)
    if backend_id == "jax-compiled":  # torch.compile falls back to eager on nested functorch levels
        assert len(traces) == first, "a compiled operator traced f again"
    assert ad.prepare("taylor", f, X, V, order=0, backend=b)(X, V)[0] == pytest.approx(polynomial(X))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_inside_jit_and_under_grad() -> None:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x, v = jnp.asarray(X), jnp.asarray(V)
        lap = jax.jit(lambda x: ad.laplacian(polynomial, x, backend="jax"))(x)
        assert_close(lap, np.sum(6 * X) + 2 * X[1], 1e-12)
        series = jax.jit(lambda x: ad.taylor(waves, x, v, order=4, backend="jax"))(x)
        for k in range(5):
            assert_close(series[k], waves_along(k), 1e-10)
        # d/dx of Σ 6x + 2 x₁ is [6, 8, 6]; d/dx of the second derivative along v of Σ x³ is 6 v².
        assert_close(jax.grad(lambda x: ad.laplacian(polynomial, x, backend="jax"))(x), [6.0, 8.0, 6.0], 1e-12)
        cubes = lambda x: jnp.sum(x**3)  # noqa: E731
        grad = jax.grad(lambda x: ad.taylor(cubes, x, v, order=2, backend="jax")[2])(x)
        assert_close(grad, 6 * V**2, 1e-12)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_jet_matches_nested_jvps_and_falls_back() -> None:
    import jax
    import jax.numpy as jnp

    b = ad.backends.Jax()
    with jax.enable_x64(True):
        x, v = jnp.asarray(X), jnp.asarray(V)
        jet = b.taylor(waves, x, v, 5)
        assert jet is not None
        nested = ad._derive.taylor(ad.backends.Autograd(), waves, X, V, 5)
        for a, c in zip(jet, nested):
            assert_close(a, c, 1e-10)

        def loops(x):  # a while_loop: jet has no rule for it
            return jnp.sum(jax.lax.fori_loop(0, 3, lambda i, z: jnp.sin(z), x))

        if b.taylor(loops, x, v, 2) is None:
            got = ad.taylor(loops, X, V, order=2, backend=b)
            want = ad.taylor(loops, X, V, order=2, backend=ad.backends.Jax(mode="forward"))
            assert_close(got[2], want[2], 1e-10)


def test_second_order_and_sparse_pass_them_through() -> None:
    nested = ad.backends.SecondOrder("autograd", "autograd") if hasattr(ad.backends, "SecondOrder") else None
    for b in [nested, ad.backends.Sparse("autograd") if hasattr(ad.backends, "Sparse") else None]:
        if b is None:
            continue
        assert_close(ad.laplacian(polynomial, X, backend=b), np.sum(6 * X) + 2 * X[1], 1e-10)
        assert_close(ad.taylor(waves, X, V, order=3, backend=b)[3], waves_along(3), 1e-10)


def test_laplacian_memory_is_linear_in_n() -> None:
    """n = 1e4: the dense Hessian would be 800 MB; the Laplacian stays far below it."""
    n = 10_000
    x = np.linspace(-1.0, 1.0, n)

    def f(x):
        xp = ad.array_namespace(x)
        return xp.sum(xp.exp(x)) + xp.sum(x[1:] * x[:-1])

    ad.laplacian(f, x[:10], backend="autograd")  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        got = ad.laplacian(f, x, backend="autograd")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_close(got, np.sum(np.exp(x)), 1e-10)
    assert peak < n * n * 8 / 4, f"peak {peak / 1e6:.0f} MB of a dense Hessian's {n * n * 8 / 1e6:.0f} MB: not O(n)"
