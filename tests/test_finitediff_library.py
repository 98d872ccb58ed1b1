"""Finite differences evaluate f on arrays of x's own library: a torch, JAX or TensorFlow function can be
checked against them, with every operator, results in x's library."""

from __future__ import annotations

import numpy as np
import pytest

import abstractad as ad

from ._support import assert_close

X = np.array([0.3, 1.2, -0.7])
V = np.array([0.5, -1.0, 2.0])


def _torch():
    torch = pytest.importorskip("torch")
    seen = []

    def f(x):
        seen.append(type(x))
        return torch.sum(torch.sin(x) * x**2)

    def F(x):
        seen.append(type(x))
        return torch.sin(x) * x**2

    return f, F, torch.tensor, torch.Tensor, lambda a: a.numpy(), seen


def _jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    seen = []

    def f(x):
        seen.append(type(x))
        return jnp.sum(jnp.sin(x) * x**2)

    def F(x):
        seen.append(type(x))
        return jnp.sin(x) * x**2

    return f, F, lambda a: jnp.asarray(a, dtype=jnp.float32), jax.Array, np.asarray, seen


def _tensorflow():
    tf = pytest.importorskip("tensorflow")
    seen = []

    def f(x):
        seen.append(type(x))
        return tf.reduce_sum(tf.sin(x) * x**2)

    def F(x):
        seen.append(type(x))
        return tf.sin(x) * x**2

    return f, F, tf.constant, tf.Tensor, lambda a: a.numpy(), seen


LIBRARIES = {"torch": _torch, "jax": _jax, "tensorflow": _tensorflow}


def d1(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def d2(x):
    return -np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x)


@pytest.mark.parametrize("method", ["central", "forward", "complex"])
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_functions_of_each_library_against_finite_differences(library, method) -> None:
    f, F, make, kind, numpy, seen = LIBRARIES[library]()
    if library == "tensorflow" and method == "complex":
        pytest.skip("the complex step evaluates f on NumPy for TensorFlow x (TF's complex powers lose the step)")
    b = ad.backends.FiniteDiff(method=method)
    x, v = make(X), make(V)
    single = library == "jax"  # JAX without x64: float32
    tol = {"central": 1e-6, "forward": 1e-4, "complex": 1e-10}[method] * (1e3 if single else 1)
    tol2 = 2e-2 if single and method == "forward" else 1e-3 if single or method == "forward" else 1e-5
    got = {
        "gradient": (ad.gradient(f, x, backend=b), d1(X), tol),
        "jvp": (ad.jvp(F, x, v, backend=b), d1(X) * V, tol),
        "vjp": (ad.vjp(F, x, v, backend=b), d1(X) * V, tol),
        "jacobian": (ad.jacobian(F, x, backend=b), np.diag(d1(X)), tol),
        "hvp": (ad.hvp(f, x, v, backend=b), d2(X) * V, tol2),
        "hessian": (ad.hessian(f, x, backend=b), np.diag(d2(X)), tol2),
    }
    for name, (result, want, rtol) in got.items():
        assert isinstance(result, kind), name
        assert_close(numpy(result), want, rtol)
    assert seen and all(issubclass(t, kind) for t in seen)


@pytest.mark.parametrize("library", list(LIBRARIES))
def test_numpy_seed_for_an_engine_x(library) -> None:
    _, F, make, kind, numpy, _ = LIBRARIES[library]()
    x = make(X)
    w = V.astype(np.float32) if library == "jax" else V
    got = ad.vjp(F, x, w, backend="finitediff")
    assert isinstance(got, kind)
    assert_close(numpy(got), d1(X) * V, 1e-3 if library == "jax" else 1e-6)


def test_torch_function_checked_against_finite_differences() -> None:
    torch = pytest.importorskip("torch")
    report = ad.check(lambda x: torch.sum(torch.sin(x) * x**2), torch.tensor(X), backends=["torch", "finitediff"])
    assert report.ok, str(report)


@pytest.mark.parametrize("method", ["central", "forward", "complex"])
def test_finite_difference_hessians_are_symmetric(method) -> None:
    def f(x):
        xp = ad.array_namespace(x)
        return xp.sum(xp.exp(x[:-1] * x[1:])) + xp.sum(xp.sin(x) ** 2)

    x = np.array([0.3, -1.2, 0.8, 2.0])
    H = ad.hessian(f, x, backend=ad.backends.FiniteDiff(method=method))
    assert np.array_equal(H, H.T)
    _, _, H2 = ad.value_gradient_and_hessian(f, x, backend=ad.backends.FiniteDiff(method=method))
    assert np.array_equal(H2, H2.T)
    assert_close(H, ad.hessian(f, x, backend="autograd"), 1e-3 if method == "forward" else 1e-5)


def test_sparse_finite_difference_hessians_are_symmetric() -> None:
    pytest.importorskip("scipy")

    def f(x):
        xp = ad.array_namespace(x)
        return xp.sum(xp.exp(x[:-1] * x[1:])) + xp.sum(xp.sin(x) ** 2)

    x = np.linspace(-1.0, 1.0, 12)
    H = ad.hessian(f, x, backend=ad.backends.Sparse(ad.backends.FiniteDiff())).toarray()
    assert np.array_equal(H, H.T)
    assert_close(H, ad.hessian(f, x, backend="autograd"), 1e-5)
