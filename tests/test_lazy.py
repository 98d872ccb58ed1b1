"""Lazy Jacobian and Hessian operators, alone and inside SciPy's solvers, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
from _support import BACKENDS, assert_close, tolerance

import abstractad as ad
from abstractad.testing import SCENARIOS

scipy_linalg = pytest.importorskip("scipy.sparse.linalg")
FIRST_ORDER = ["affine_tanh", "cube_matrix", "outer", "rosenbrock"]
SECOND_ORDER = ["sum_sin_sq", "rosenbrock", "matrix_quadratic"]


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_jacobian_operator_products(backend_id: str, name: str) -> None:
    s = SCENARIOS[name]
    J = ad.lazy_jacobian(s.f, s.x, *s.args, backend=BACKENDS[backend_id]())
    m, n = np.size(s.value), np.size(s.x)
    jac = np.reshape(s.jacobian, (m, n))
    v, w = s.seeds()
    tol = tolerance(backend_id, np.float64, 1)
    assert J.shape == (m, n) and J.dtype == np.float64
    assert_close(J @ v.ravel(), jac @ v.ravel(), tol)
    assert_close(J.T @ w.ravel(), jac.T @ w.ravel(), tol)
    assert_close(w.ravel() @ J, jac.T @ w.ravel(), tol)
    assert_close(J.matmat(np.eye(n)[:, :2]), jac[:, :2], tol)
    assert_close(J.rmatmat(np.eye(m)[:, :2]), jac.T[:, :2], tol)
    assert_close(J.to_dense(), jac, tol)
    assert_close(J.T.to_dense(), jac.T, tol)
    assert_close(J.value, s.value, 1e-12)
    assert_close(J @ v.reshape(n, 1), (jac @ v.ravel()).reshape(n if m == n else m, 1), tol)


def test_jacobian_operator_reuses_the_forward_pass() -> None:
    calls = []

    def f(x):
        calls.append(1)
        return x**2

    J = ad.lazy_jacobian(f, np.arange(3.0), backend="autograd")
    for w in np.eye(3):
        J.rmatvec(w)
    assert len(calls) == 1


def test_jacobian_operator_bad_seed() -> None:
    J = ad.lazy_jacobian(lambda x: x**2, np.ones(3), backend="fd")
    with pytest.raises(ValueError, match="length 3"):
        J @ np.ones(4)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_hessian_operator_products(backend_id: str, name: str) -> None:
    if backend_id == "complex-step":
        pytest.skip("a bare complex-step backend cannot nest itself")
    s = SCENARIOS[name]
    H = ad.lazy_hessian(s.f, s.x, *s.args, backend=BACKENDS[backend_id]())
    n = np.size(s.x)
    hess = np.reshape(s.hessian, (n, n))
    v, _ = s.seeds()
    tol = tolerance(backend_id, np.float64, 2)
    assert H.shape == (n, n) and H.T is H
    assert_close(H @ v.ravel(), hess @ v.ravel(), tol)
    assert_close(H.matmat(np.eye(n)), hess, tol)
    assert_close(H.to_dense(), hess, tol)
    assert_close(H.gradient(), np.ravel(s.gradient).reshape(np.shape(s.x)), tolerance(backend_id, np.float64, 1))


def test_solvers_accept_lazy_operators(backend_id: str) -> None:
    if backend_id == "complex-step":
        pytest.skip("a bare complex-step backend cannot nest itself")
    b = BACKENDS[backend_id]()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 4))
    x_true = rng.standard_normal(4)
    J = ad.lazy_jacobian(lambda x, a: ad.array_namespace(x).matmul(a, x), np.zeros(4), a, backend=b)
    op = scipy_linalg.aslinearoperator(J)
    assert op.shape == (6, 4)
    got = scipy_linalg.lsqr(J, a @ x_true, atol=1e-12, btol=1e-12)[0]
    assert_close(got, x_true, 1e-5)

    q = a.T @ a + np.eye(4)  # symmetric positive definite

    def quad(x, q):
        xp = ad.array_namespace(x)
        return 0.5 * xp.sum(x * xp.matmul(q, x))

    H = ad.lazy_hessian(quad, np.zeros(4), q, backend=b)
    rhs = q @ x_true
    assert_close(scipy_linalg.cg(H, rhs, rtol=1e-10)[0], x_true, 1e-4)
    assert_close(scipy_linalg.gmres(H, rhs, rtol=1e-10)[0], x_true, 1e-4)
    top = scipy_linalg.eigsh(H, k=1, which="LA")[0][0]
    assert abs(top - np.linalg.eigvalsh(q)[-1]) <= 1e-4 * abs(top)
