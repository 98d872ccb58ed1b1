"""Every operator on every backend against the analytic references of the scenario library."""

from __future__ import annotations

import numpy as np
import pytest
from _support import BACKENDS, assert_close, tolerance

import abstractad as ad
from abstractad.testing import scenarios

SCENARIOS = scenarios()
FIRST = ["jvp", "vjp", "value_and_jvp", "value_and_vjp", "jacobian", "value_and_jacobian"]
SCALAR_OUT = ["gradient", "value_and_gradient", "hessian", "hvp", "value_gradient_and_hessian"]
SCALAR_IN = ["derivative", "value_and_derivative", "second_derivative"]


def _cases():
    for s in SCENARIOS:
        ops = FIRST + (SCALAR_OUT if s.scalar_out and not s.scalar_in else []) + (SCALAR_IN if s.scalar_in else [])
        for op in ops:
            yield pytest.param(s, op, id=f"{s.name}-{op}")


def _check(got, want, s, b_id, order, value=None):
    tol = tolerance(b_id, s.x.dtype, order)
    assert_close(got, want, tol)
    got_arr = np.asarray(got)
    assert got_arr.dtype == np.asarray(s.x).dtype, f"dtype {got_arr.dtype} for x of {np.asarray(s.x).dtype}"


@pytest.mark.parametrize("s, op", list(_cases()))
def test_operator(backend_id: str, s, op: str) -> None:
    if backend_id == "complex-step" and op in ("hessian", "hvp", "value_gradient_and_hessian", "second_derivative"):
        pytest.skip("a bare complex-step backend cannot nest itself for second order")
    b = BACKENDS[backend_id]()
    v, w = s.seeds()
    call = getattr(ad, op)
    value_tol = tolerance("exact", s.x.dtype, 1)
    x_before = np.copy(s.x)
    if op in ("jvp", "value_and_jvp"):
        out = call(s.f, s.x, v, *s.args, backend=b)
        got = out[1] if op.startswith("value") else out
        _check(got, s.jvp(v), s, backend_id, 1)
        assert isinstance(got, np.generic if s.scalar_in and s.scalar_out else np.ndarray)
    elif op in ("vjp", "value_and_vjp"):
        out = call(s.f, s.x, w, *s.args, backend=b)
        got = out[1] if op.startswith("value") else out
        _check(got, s.vjp(w), s, backend_id, 1)
    elif op in ("jacobian", "value_and_jacobian"):
        out = call(s.f, s.x, *s.args, backend=b)
        got = out[1] if op.startswith("value") else out
        assert np.shape(got) == np.shape(s.value) + np.shape(s.x)
        _check(got, s.jacobian, s, backend_id, 1)
    elif op in ("gradient", "value_and_gradient", "derivative", "value_and_derivative"):
        out = call(s.f, s.x, *s.args, backend=b)
        got = out[1] if op.startswith("value") else out
        _check(got, s.jacobian, s, backend_id, 1)
    elif op == "hessian":
        _check(ad.hessian(s.f, s.x, *s.args, backend=b), s.hessian, s, backend_id, 2)
    elif op == "hvp":
        _check(ad.hvp(s.f, s.x, v, *s.args, backend=b), s.hvp(v), s, backend_id, 2)
    elif op == "value_gradient_and_hessian":
        y, g, h = ad.value_gradient_and_hessian(s.f, s.x, *s.args, backend=b)
        assert_close(y, s.value, value_tol)
        _check(g, s.gradient, s, backend_id, 2)  # finite differences take it at the second-order step
        _check(h, s.hessian, s, backend_id, 2)
    elif op == "second_derivative":
        _check(ad.second_derivative(s.f, s.x, *s.args, backend=b), s.second, s, backend_id, 2)
    else:  # pragma: no cover - the list above is exhaustive
        raise AssertionError(op)
    if op.startswith("value_and"):
        assert_close(out[0], s.value, value_tol)
    np.testing.assert_array_equal(s.x, x_before)
