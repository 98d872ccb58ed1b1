"""The JAX engine: eager, compiled, inside the user's jax.jit, float64 without global flags."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support import A, X, assert_close, f, g, grad_f, hess_f, jac_g

import abstractad as ad

jax = pytest.importorskip("jax")
jnp = jax.numpy
Jax = ad.backends.Jax
CompileFallbackWarning = pytest.importorskip("abstractad.backends.jax").CompileFallbackWarning


def tol(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


# ------------------------------------------------------------------------------------------ eager


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", [Jax(), Jax(mode="forward"), Jax(mode="reverse"), Jax(compile=True)], ids=repr)
def test_numpy_in_numpy_out(backend, dtype) -> None:
    x, a = X.astype(dtype), A.astype(dtype)
    results = {
        "gradient": (ad.gradient(f, x, backend=backend), grad_f(X)),
        "hessian": (ad.hessian(f, x, backend=backend), hess_f(X)),
        "hvp": (ad.hvp(f, x, np.ones(3, dtype), backend=backend), hess_f(X) @ np.ones(3)),
        "jacobian": (ad.jacobian(g, x, a, backend=backend), jac_g(X, A)),
        "jvp": (ad.jvp(g, x, np.ones(3, dtype), a, backend=backend), jac_g(X, A) @ np.ones(3)),
        "vjp": (ad.vjp(g, x, np.ones(2, dtype), a, backend=backend), np.ones(2) @ jac_g(X, A)),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, np.ndarray), name
        assert got.dtype == dtype, (name, got.dtype)
        assert_close(got, want, tol(dtype))
    assert not _x64()


def test_jax_in_jax_out_dtype_kept() -> None:
    x32 = jnp.asarray(X, dtype=jnp.float32)
    out = ad.gradient(f, x32, backend="jax")
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32
    assert_close(out, grad_f(X), 1e-5)
    with jax.enable_x64(True):
        x64 = jnp.asarray(X, dtype=jnp.float64)
    out = ad.hessian(f, x64, backend="jax")  # a float64 JAX array, used with x64 off
    assert isinstance(out, jax.Array) and out.dtype == jnp.float64
    assert_close(out, hess_f(X), 1e-12)
    assert not _x64()


def test_direct_calls_keep_the_float64_scope() -> None:
    """Prepared and repeated calls go straight to the compiled operator; the float64 switch is asked
    for only where it matters (has_scope): float64 NumPy in, float64 out, x64 still off after."""
    assert Jax().has_scope("float64") and not Jax().has_scope("float32")
    assert ad.backends.SecondOrder(ad.backends.Autograd(), Jax()).has_scope("float64")
    b = Jax(compile=True)
    prepared = ad.prepare("gradient", f, X, backend=b)
    for k in range(3):
        x = X + 0.1 * k
        for got in (prepared(x), ad.gradient(f, x, backend=b)):
            assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.flags.writeable
            assert_close(got, grad_f(x), 1e-12)
        assert not _x64()
    assert prepared._fast is not None
    x32 = X.astype(np.float32)
    assert_close(ad.prepare("gradient", f, x32, backend=b)(x32), grad_f(X), 1e-5)


def test_float64_computed_in_float64_and_config_untouched() -> None:
    seen = []

    def h(x):
        seen.append((x.dtype, _x64()))
        return jnp.sum(x**3)

    out = ad.gradient(h, X, backend="jax")
    assert seen == [(jnp.float64, True)]
    assert out.dtype == np.float64
    assert_close(out, 3 * X**2, 1e-14)
    assert not _x64()


def test_torch_in_torch_out() -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    out = ad.gradient(f, t, backend="jax")
    # t requires grad: torch records the call, whose derivatives JAX gives (see test_foreign_values)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.grad_fn is not None
    assert_close(out.detach().numpy(), grad_f(X), 1e-12)
    plain = ad.gradient(f, t.detach(), backend="jax")  # nothing records it: converted, a plain tensor back
    assert plain.grad_fn is None and not plain.requires_grad
    assert_close(plain.numpy(), grad_f(X), 1e-12)
    assert t.requires_grad and t.grad is None
    np.testing.assert_array_equal(t.detach().numpy(), X)


def test_namespace_is_jax_numpy_for_tracers() -> None:
    spaces = []

    def h(x):
        spaces.append(ad.array_namespace(x))
        return jnp.sum(x)

    ad.gradient(h, X, backend="jax")
    jax.jit(lambda x: ad.gradient(h, x, backend="jax"))(jnp.asarray(X, dtype=jnp.float32))
    assert spaces and all(s is jnp for s in spaces)


def test_output_shape_is_cheap_and_optional() -> None:
    b = Jax()
    calls = []

    def h(x):
        calls.append(type(x).__name__)
        return jnp.stack([x, x])

    assert b.output_shape(h, jnp.ones(3)) == (2, 3)
    assert calls and "Tracer" in calls[0]  # traced abstractly, not run on data

    def untraceable(x):
        return x if x[0] > 0 else -x

    assert b.output_shape(untraceable, jnp.ones(3)) is None


# ------------------------------------------------------------------------------ inside user's jit


@pytest.mark.parametrize("backend", [Jax(), Jax(compile=True)], ids=repr)
def test_inside_user_jit(backend) -> None:
    x = jnp.asarray(X, dtype=jnp.float32)
    a = jnp.asarray(A, dtype=jnp.float32)
    grad = jax.jit(lambda x: ad.gradient(f, x, backend=backend))(x)
    hess = jax.jit(lambda x: ad.hessian(f, x, backend=backend))(x)
    jac = jax.jit(lambda x, a: ad.jacobian(g, x, a, backend=backend))(x, a)
    assert grad.dtype == hess.dtype == jac.dtype == jnp.float32
    assert_close(grad, grad_f(X), 1e-5)
    assert_close(hess, hess_f(X), 1e-5)
    assert_close(jac, jac_g(X, A), 1e-5)
    # ... and under the user's own transformations too.
    assert_close(
        jax.vmap(lambda x: ad.gradient(f, x, backend=backend))(jnp.stack([x, 2 * x])),
        np.stack([grad_f(X), grad_f(2 * X)]),
        1e-5,
    )


def test_inside_user_jit_float64() -> None:
    with jax.enable_x64(True):
        out = jax.jit(lambda x: ad.gradient(f, x, backend="jax"))(jnp.asarray(X))
        assert out.dtype == jnp.float64
    assert_close(out, grad_f(X), 1e-12)
    assert not _x64()


# ---------------------------------------------------------------------------------- compile=True


def test_compiled_calls_never_retrace() -> None:
    runs = []

    def h(x, a):
        runs.append(1)
        return jnp.sum((a @ jnp.sin(x)) ** 2)

    b = Jax(compile=True)
    rng = np.random.default_rng(0)
    for i in range(4):  # new data for x and for the constant a each time
        x, a = rng.standard_normal(3), rng.standard_normal((2, 3))
        got = ad.gradient(h, x, a, backend=b)
        assert_close(got, 2 * (a.T @ (a @ np.sin(x))) * np.cos(x), 1e-12)
        if i == 0:
            traced = len(runs)
            assert traced >= 1
    assert len(runs) == traced
    ad.gradient(h, x.astype(np.float32), a.astype(np.float32), backend=b)  # a new dtype traces once more
    ad.gradient(h, x.astype(np.float32), a.astype(np.float32), backend=b)
    assert len(runs) == 2 * traced
    ad.gradient(h, x, a, backend=Jax(compile=True))  # an equal backend object shares the cache
    assert len(runs) == 2 * traced


def test_compile_falls_back_with_one_warning() -> None:
    runs = []

    def h(x):
        runs.append(1)
        if x[0] > 0:  # Python control flow on a value: cannot be traced
            return jnp.sum(x**2)
        return jnp.sum(x**3)

    b = Jax(compile=True)
    x = np.array([1.0, 2.0])
    with pytest.warns(CompileFallbackWarning, match=r"TracerBoolConversionError.*jnp\.where") as record:
        assert_close(ad.gradient(h, x, backend=b), 2 * x, 1e-12)
    assert len(record) == 1 and record[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second warning, and eager semantics
        assert_close(ad.gradient(h, -x, backend=b), 3 * x**2, 1e-12)
    before = len(runs)
    ad.gradient(h, x, backend=b)
    assert len(runs) == before + 1  # eager: f runs on every call
    assert issubclass(CompileFallbackWarning, UserWarning)


class Boom(Exception):
    pass


@pytest.mark.parametrize("backend", [Jax(), Jax(compile=True)], ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_user_exceptions_propagate_and_state_is_clean(backend, dtype) -> None:
    def h(x):
        raise Boom("from f")

    with pytest.raises(Boom, match="from f"):
        ad.gradient(h, X.astype(dtype), backend=backend)
    with pytest.raises(Boom, match="from f"):
        jax.jit(lambda x: ad.gradient(h, x, backend=backend))(jnp.asarray(X, dtype=jnp.float32))
    assert not _x64()
    assert_close(ad.gradient(f, X.astype(dtype), backend=backend), grad_f(X), tol(dtype))  # still usable


def test_untraceable_and_failing_eagerly_raises_without_warning() -> None:
    def h(x):
        return jnp.sum(np.sin(x))  # a NumPy call on a tracer fails eagerly as well

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(jax.errors.TracerArrayConversionError):
            ad.gradient(h, X, backend=Jax(compile=True))
