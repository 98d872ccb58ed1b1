"""Lazy operators are SciPy LinearOperators: solvers, composite operators and minimize(hess=...) take them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import abstractad as ad

from ._support import assert_close

spla = pytest.importorskip("scipy.sparse.linalg")
optimize = pytest.importorskip("scipy.optimize")

BACKENDS = ad.installed_backends()
A = np.array([[2.0, 0.0, 1.0], [0.0, 4.0, -1.0], [1.0, 1.0, 3.0], [0.5, -2.0, 0.0]])


def linear(x, A):
    return ad.array_namespace(x).matmul(A, x)


def rosenbrock(x):
    xp = ad.array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def cubic(x):
    """f(x) = sum(x³)/3 + x0 x1: Hessian diag(2x) + [[0, 1], [1, 0]] in the leading block."""
    xp = ad.array_namespace(x)
    return xp.sum(x**3) / 3 + x[0] * x[1]


def cubic_hessian(x):
    h = np.diag(2 * x)
    h[0, 1] = h[1, 0] = 1.0
    return h


@pytest.mark.parametrize("backend", BACKENDS)
def test_operators_are_linear_operators_and_aslinearoperator_keeps_them(backend) -> None:
    x = np.array([1.0, 2.0, 3.0])
    J = ad.lazy_jacobian(lambda x: x**2, x, backend=backend)
    H = ad.lazy_hessian(cubic, x, backend=backend)
    for op in (J, J.T, H):
        assert isinstance(op, spla.LinearOperator)
        assert spla.aslinearoperator(op) is op
    assert isinstance(J, ad.JacobianOperator) and isinstance(H, ad.HessianOperator)
    assert type(H).__name__ == "HessianOperator"


@pytest.mark.parametrize("backend", BACKENDS)
def test_scipy_composite_operators_call_our_products(backend) -> None:
    x, v, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -1.0, 2.0])
    J = ad.lazy_jacobian(linear, x, A, backend=backend)
    H = ad.lazy_hessian(cubic, x, backend=backend)
    tol = 1e-6 if backend == "finitediff" else 1e-12
    assert_close(J * v, A @ v, tol)
    assert_close(J.dot(v), A @ v, tol)
    assert_close(J.H @ w, A.T @ w, tol)
    assert_close(J.adjoint().matvec(w), A.T @ w, tol)
    assert_close((H + H) @ v, 2 * cubic_hessian(x) @ v, tol * 1e3)
    assert_close((2 * H).matvec(v), 2 * cubic_hessian(x) @ v, tol * 1e3)
    assert_close((J.T * J) @ v, A.T @ A @ v, tol)
    assert_close(J.dot(np.stack([v, 2 * v], axis=1)), A @ np.stack([v, 2 * v], axis=1), tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_newton_cg_takes_a_lazy_hessian(backend) -> None:
    x0 = np.full(6, 1.3)
    result = optimize.minimize(
        rosenbrock,
        x0,
        method="Newton-CG",
        jac=lambda x: ad.gradient(rosenbrock, x, backend=backend),
        hess=lambda x: ad.lazy_hessian(rosenbrock, x, backend=backend),
    )
    assert result.success, result.message
    assert_close(result.x, np.ones(6), 1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_solvers_on_the_operators(backend) -> None:
    x = np.array([1.0, 2.0, 3.0])
    H = ad.lazy_hessian(cubic, x, backend=backend)
    b = np.array([1.0, -2.0, 0.5])
    tol = 1e-5 if backend == "finitediff" else 1e-8
    assert_close(spla.cg(H, b, rtol=1e-12)[0], np.linalg.solve(cubic_hessian(x), b), tol)
    assert_close(spla.gmres(H, b, rtol=1e-12)[0], np.linalg.solve(cubic_hessian(x), b), tol)
    J = ad.lazy_jacobian(linear, np.zeros(3), A, backend=backend)
    assert_close(spla.lsqr(J, A @ x, atol=1e-14, btol=1e-14)[0], x, tol)
    assert_close(spla.eigsh(H, k=1, which="LA")[0], np.linalg.eigvalsh(cubic_hessian(x))[-1:], tol)


def test_import_abstractad_does_not_import_scipy() -> None:
    code = "import sys, abstractad; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
