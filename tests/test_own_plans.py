"""A backend's own plans (Backend.prepare_operator): Sparse's way into the call path, open to any backend."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import abstractad as ad
from abstractad._call import Plan

pytest.importorskip("autograd")


class _Doubled(Plan):
    """A plan of its own: the generic plan, with every result doubled on the way back."""

    def result(self, leaves, kind):
        return 2 * super().result(leaves, kind)


@dataclasses.dataclass(frozen=True)
class _OwnGradients(ad.backends.Autograd):
    """Autograd, preparing its gradients with a plan of its own."""

    def prepare_operator(self, spec, arguments, static):
        if spec.name != "gradient":
            return None
        return _Doubled(spec.name, spec.derive, arguments, results=spec.results, static=static, keep=spec.keep)


def _f(x):
    return (x**3).sum()


def _square(x):
    return x**2


def test_a_backend_prepares_some_operators_with_its_own_plan() -> None:
    b, x = _OwnGradients(), np.array([1.0, 2.0])
    np.testing.assert_allclose(ad.gradient(_f, x, backend=b), 6 * x**2)  # 2 * 3x²
    value, grad = ad.value_and_gradient(_f, x, backend=b)
    assert value == 2 * 9.0
    np.testing.assert_allclose(grad, 6 * x**2)
    prepared = ad.prepare("gradient", _f, x, backend=b)
    for _ in range(3):  # the first calls, then the direct ones
        np.testing.assert_allclose(prepared(x + 1), 6 * (x + 1) ** 2)
    # The other operators keep the generic plan.
    np.testing.assert_allclose(ad.jacobian(lambda z: z**3, x, backend=b), np.diag(3 * x**2))


def test_sparse_enters_through_its_own_plan() -> None:
    """Sparse prepares jacobian, hessian and their value_ forms with a SparsePlan; the rest are generic."""
    pytest.importorskip("scipy")
    from abstractad._sparse.backend import SparsePlan

    sparse, x = ad.backends.Sparse("autograd", sparsity=np.eye(3, dtype=bool)), np.arange(3.0)
    for name, f in [
        ("jacobian", _square),
        ("value_and_jacobian", _square),
        ("hessian", _f),
        ("value_gradient_and_hessian", _f),
    ]:
        assert type(ad.prepare(name, f, x, backend=sparse)._plan) is SparsePlan
    assert type(ad.prepare("gradient", lambda z: (z**2).sum(), x, backend=sparse)._plan) is Plan
    value, J = ad.value_and_jacobian(_square, x, backend=sparse)
    np.testing.assert_allclose(value, x**2)
    np.testing.assert_allclose(J.toarray(), np.diag(2 * x))
