"""The conventions users bring from JAX and torch.func: has_aux, keyword constants, transform forms
(ad.grad, ad.value_and_grad), on every installed engine, compiled too, against analytic values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import abstractad as ad

from ._support import assert_close

X = np.array([0.3, 1.2, -0.7])
V = np.array([0.5, -1.0, 2.0])


def _backends():
    out: list = list(ad.installed_backends())
    if "jax" in out:
        out.append(ad.backends.Jax(compile=True))
    if "tensorflow" in out:
        out.append(ad.backends.TensorFlow(compile=True))
    return out


BACKENDS = _backends()
IDS = [b if isinstance(b, str) else repr(b) for b in BACKENDS]


def _tol(backend) -> float:
    return 1e-5 if backend == "finitediff" else 1e-10


def loss(x, a=1.0, *, scale=1.0):
    """scale * a * sum(sin(x) x²), with aux: the sum of x, a tag and the scale as given."""
    xp = ad.array_namespace(x)
    value = scale * a * xp.sum(xp.sin(x) * x**2)
    return value, {"total": xp.sum(x), "tag": "loss", "scale": scale}


def d1(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def d2(x):
    return -np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def _aux_ok(aux, scale) -> None:
    assert set(aux) == {"total", "tag", "scale"}
    assert isinstance(aux["total"], np.ndarray)  # arrays come back in x's library
    assert_close(aux["total"], X.sum(), 1e-12)
    assert aux["tag"] == "loss" and aux["scale"] == scale


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_has_aux_and_keyword_constants_on_every_operator(backend) -> None:
    tol = _tol(backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.EagerWarning)
        g, aux = ad.gradient(loss, X, 2.0, backend=backend, has_aux=True, scale=3.0)
        assert_close(g, 6.0 * d1(X), tol)
        _aux_ok(aux, 3.0)
        (value, aux), g = ad.value_and_gradient(loss, X, backend=backend, has_aux=True, scale=0.5)
        assert_close(value, 0.5 * np.sum(np.sin(X) * X**2), 1e-12)
        assert_close(g, 0.5 * d1(X), tol)
        _aux_ok(aux, 0.5)
        hv, aux = ad.hvp(loss, X, V, backend=backend, has_aux=True, scale=2.0)
        assert_close(hv, 2.0 * d2(X) * V, 1e3 * tol)
        _aux_ok(aux, 2.0)
        H, aux = ad.hessian(loss, X, backend=backend, has_aux=True)
        assert_close(H, np.diag(d2(X)), 1e3 * tol)
        _aux_ok(aux, 1.0)
        (value, aux), g, H = ad.value_gradient_and_hessian(loss, X, backend=backend, has_aux=True, scale=2.0)
        assert_close(g, 2.0 * d1(X), tol)
        _aux_ok(aux, 2.0)

        def elementwise(x, *, k):
            xp = ad.array_namespace(x)
            return k * xp.sin(x) * x**2, xp.max(x)

        t, aux = ad.jvp(elementwise, X, V, backend=backend, has_aux=True, k=2.0)
        assert_close(t, 2.0 * d1(X) * V, tol)
        assert_close(aux, X.max(), 1e-12)
        (y, aux), t = ad.value_and_jvp(elementwise, X, V, backend=backend, has_aux=True, k=1.0)
        assert_close(y, np.sin(X) * X**2, 1e-12)
        w, aux = ad.vjp(elementwise, X, V, backend=backend, has_aux=True, k=3.0)
        assert_close(w, 3.0 * d1(X) * V, tol)
        J, aux = ad.jacobian(elementwise, X, backend=backend, has_aux=True, k=1.0)
        assert_close(J, np.diag(d1(X)), tol)
        # Keyword constants without has_aux, arrays among them converted (not differentiated).
        g = ad.gradient(lambda x, *, w: ad.array_namespace(x).sum(w * x**2), X, backend=backend, w=V)
        assert_close(g, 2 * V * X, tol)


@pytest.mark.parametrize("backend", ["autograd", "jax", "torch"])
def test_scalar_x_operators_with_aux(backend) -> None:
    if backend not in ad.installed_backends():
        pytest.skip(f"{backend} not installed")

    def cube(x, *, c):
        return c * x**3, "aux"

    (y, aux), d = ad.value_and_derivative(cube, 2.0, backend=backend, has_aux=True, c=2.0)
    assert (y, aux, d) == (16.0, "aux", 24.0)
    d2_, aux = ad.second_derivative(cube, 2.0, backend=backend, has_aux=True, c=1.0)
    assert d2_ == pytest.approx(12.0) and aux == "aux"


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_transform_forms(backend) -> None:
    tol = _tol(backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.EagerWarning)
        df = ad.grad(lambda x, *, scale=1.0: loss(x, scale=scale)[0], backend=backend)
        assert_close(df(X, scale=2.0), 2.0 * d1(X), tol)
        assert df.__name__ == "grad(<lambda>)"
        g, aux = ad.grad(loss, backend=backend, has_aux=True)(X, 2.0)
        assert_close(g, 2.0 * d1(X), tol)
        _aux_ok(aux, 1.0)
        (value, aux), g = ad.value_and_grad(loss, backend=backend, has_aux=True)(X, scale=3.0)
        assert_close(value, 3.0 * np.sum(np.sin(X) * X**2), 1e-12)
        assert_close(g, 3.0 * d1(X), tol)
        value, g = ad.value_and_grad(lambda x: loss(x)[0], backend=backend)(X)
        assert_close(g, d1(X), tol)


def test_prepare_with_has_aux_and_keyword_constants() -> None:
    backend = "jax" if "jax" in ad.installed_backends() else "autograd"
    grad = ad.prepare("gradient", loss, X, backend=backend, has_aux=True, scale=2.0)
    g, aux = grad(X)
    assert_close(g, 2.0 * d1(X), 1e-6)
    _aux_ok(aux, 2.0)
    g, aux = grad(2 * X)
    assert_close(g, 2.0 * d1(2 * X), 1e-6)
    with pytest.raises(ValueError, match="scale"):  # a non-array constant is part of what was prepared
        grad(X, scale=5.0)
    plain = ad.prepare("gradient", lambda x: loss(x)[0], X, backend=backend)
    with pytest.raises(TypeError, match="without keyword constants"):
        plain(X, scale=2.0)


def test_repeated_calls_with_keywords_reuse_one_plan() -> None:
    from abstractad import _operators
    from abstractad._call import WithAux, WithKeywords

    def fresh(x, *, scale):
        return loss(x, scale=scale)

    def ours() -> list:
        return [plan for key, plan in _operators.PLANS._data.items() if key[1] == WithAux(WithKeywords(fresh))]

    for _ in range(3):
        ad.gradient(fresh, X, backend="autograd", has_aux=True, scale=1.0)
    assert len(ours()) == 1
    ad.gradient(fresh, X, backend="autograd", has_aux=True, scale=2.0)  # a new non-array value: a new plan
    assert len(ours()) == 2


def test_misleading_tuple_output_points_at_has_aux() -> None:
    with pytest.raises(TypeError, match="has_aux=True"):
        ad.gradient(lambda x: ((x**2).sum(), 1.0), X, backend="autograd")
    with pytest.raises(ValueError, match="has_aux=True"):
        ad.gradient(lambda x: ((x**2).sum(), x), X, backend="autograd")
    with pytest.raises(TypeError, match=r"has_aux=True needs f to return a pair"):
        ad.gradient(lambda x: (x**2).sum(), X, backend="autograd", has_aux=True)


def test_check_takes_keyword_constants_and_skips_engines_f_does_not_run_on() -> None:
    torch = pytest.importorskip("torch")
    x = torch.tensor(X)
    report = ad.check(lambda x, *, k: k * torch.sum(torch.sin(x) * x**2), x, k=2.0, operators=["gradient", "hvp"])
    assert report.ok, str(report)
    ran = {r.backend for r in report.rows if not r.skipped}
    assert {"torch", "finitediff"} <= ran
    others = [b for b in ad.installed_backends() if b not in ("torch", "finitediff")]
    for row in report.rows:
        if row.backend in others:
            assert row.skipped and "does not run on" in row.note, row
    if others:
        assert "skipped (f does not run on their arrays)" in report.verdict
    # The same with the NumPy function on every engine: nothing skipped, keyword constant honoured.
    report = ad.check(lambda x, *, k: k * ad.array_namespace(x).sum(x**2), X, k=3.0, operators=["gradient"])
    assert report.ok and not any(r.skipped for r in report.rows)


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_lazy_operators_take_keyword_constants(backend) -> None:
    def f(x, *, k):
        xp = ad.array_namespace(x)
        return k * xp.sin(x) * x**2

    def s(x, *, k):
        return ad.array_namespace(x).sum(f(x, k=k))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.EagerWarning)
        J = ad.lazy_jacobian(f, X, backend=backend, k=2.0)
        assert_close(J @ V, 2.0 * d1(X) * V, _tol(backend))
        H = ad.lazy_hessian(s, X, backend=backend, k=3.0)
        assert_close(H @ V, 3.0 * d2(X) * V, 1e3 * _tol(backend))
