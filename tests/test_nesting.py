"""SecondOrder over every pair of engines, and differentiate_with from every outer engine."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _support import assert_close

import abstractad as ad
from abstractad.testing import SCENARIOS

ENGINES = ad.installed_backends()
PAIRS = list(itertools.product(ENGINES, ENGINES))


def _tol(*names: str) -> float:
    return 1e-5 if "finitediff" in names else 1e-10


@pytest.mark.parametrize("outer, inner", PAIRS, ids=[f"{o}-over-{i}" for o, i in PAIRS])
@pytest.mark.parametrize("name", ["rosenbrock", "matrix_quadratic"])
def test_second_order_pairs(outer: str, inner: str, name: str) -> None:
    s = SCENARIOS[name]
    b = ad.backends.SecondOrder(outer, inner)
    v, _ = s.seeds()
    tol = _tol(outer, inner)
    assert_close(ad.hessian(s.f, s.x, *s.args, backend=b), s.hessian, tol)
    assert_close(ad.hvp(s.f, s.x, v, *s.args, backend=b), s.hvp(v), tol)
    y, g, h = ad.value_gradient_and_hessian(s.f, s.x, *s.args, backend=b)
    assert_close(y, s.value, 1e-12)
    assert_close(g, s.gradient, tol)
    assert_close(h, s.hessian, tol)


STRATEGIES = [("forward", "reverse"), ("reverse", "reverse"), ("reverse", "forward"), ("forward", "forward")]


AD_ENGINES = [e for e in ENGINES if e != "finitediff"]


@pytest.mark.parametrize("engine", AD_ENGINES)
@pytest.mark.parametrize("outer_mode, inner_mode", STRATEGIES)
def test_hvp_strategies(engine: str, outer_mode: str, inner_mode: str) -> None:
    """Forward-over-reverse, reverse-over-reverse, reverse-over-forward, forward-over-forward."""
    s = SCENARIOS["sum_sin_sq"]
    v, _ = s.seeds()
    cls = type(ad.resolve_backend(engine))
    b = ad.backends.SecondOrder(cls(mode=outer_mode), cls(mode=inner_mode))
    assert_close(ad.hvp(s.f, s.x, v, backend=b), s.hvp(v), 1e-10)
    assert_close(ad.hessian(s.f, s.x, backend=b), s.hessian, 1e-10)


def test_second_order_needs_two_backends() -> None:
    with pytest.raises(TypeError, match="outer and an inner"):
        ad.backends.SecondOrder("autograd")
    with pytest.raises(ValueError, match="unknown backend"):
        ad.backends.SecondOrder("autograd", "nope")


def test_differentiate_with_numpy_is_plain_evaluation() -> None:
    cube = ad.differentiate_with(lambda x: x**3, "finitediff")
    assert_close(cube(np.array([2.0])), [8.0], 0)
    assert cube.foreign.backend == ad.backends.FiniteDiff()


@pytest.mark.parametrize("inner", ENGINES)
def test_differentiate_with_inside_autograd(inner: str) -> None:
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    sincube = ad.differentiate_with(lambda x: ad.array_namespace(x).sin(x) * x**2, inner)
    x = np.array([0.3, -1.2, 2.0])
    want = np.cos(x) * x**2 + 2 * x * np.sin(x)
    g = autograd.grad(lambda x: anp.sum(sincube(x) * 2.0))(x)
    assert_close(g, 2 * want, _tol(inner))
    jv = autograd.make_jvp(lambda x: sincube(x))(x)(np.ones(3))[1]
    assert_close(jv, want, _tol(inner))
    # Second order through the bridge: reverse over reverse, and forward over reverse.
    grad = autograd.grad(lambda x: anp.sum(sincube(x)))
    assert_close(autograd.jacobian(grad)(x), _sincube_second(x), _tol2(inner))
    assert_close(autograd.make_jvp(grad)(x)(np.ones(3))[1], _sincube_second(x).sum(axis=1), _tol2(inner))


def _sincube(inner: str):
    f = ad.differentiate_with(lambda x: ad.array_namespace(x).sin(x) * x**2, inner)
    x = np.array([0.3, -1.2, 2.0])
    return f, x, np.cos(x) * x**2 + 2 * x * np.sin(x)


def _sincube_second(x: np.ndarray) -> np.ndarray:
    """The Hessian of sum(sin(x) x^2)."""
    return np.diag(-np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x))


def _tol2(inner: str) -> float:
    return 1e-5 if inner == "finitediff" else 1e-10


@pytest.mark.parametrize("inner", ENGINES)
def test_differentiate_with_inside_jax(inner: str) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    f, x, want = _sincube(inner)
    tol = _tol(inner)
    with jax.enable_x64(True):
        xj = jnp.asarray(x)

        def loss(z):
            return jnp.sum(f(z) * 2.0)

        assert_close(jax.grad(loss)(xj), 2 * want, tol)
        assert_close(jax.jit(jax.grad(loss))(xj), 2 * want, tol)
        assert_close(jax.vmap(jax.grad(loss))(jnp.stack([xj, xj])), np.stack([2 * want] * 2), tol)
        assert_close(jax.jacrev(f)(xj), np.diag(want), tol)
        assert_close(jax.jit(f)(xj), np.sin(x) * x**2, 1e-12)
        # Forward mode too: natively for JAX's own function, through the bridge's primitives otherwise.
        assert_close(jax.jvp(f, (xj,), (jnp.ones(3),))[1], want, tol)
        # Second order through the bridge: reverse over reverse and forward over reverse (jax.hessian).
        hess = jax.jacrev(jax.grad(lambda z: jnp.sum(f(z))))
        assert_close(hess(xj), _sincube_second(x), _tol2(inner))
        assert_close(jax.jit(hess)(xj), _sincube_second(x), _tol2(inner))
        assert_close(jax.hessian(lambda z: jnp.sum(f(z)))(xj), _sincube_second(x), _tol2(inner))


@pytest.mark.parametrize("inner", ENGINES)
def test_differentiate_with_inside_torch(inner: str) -> None:
    torch = pytest.importorskip("torch")
    f, x, want = _sincube(inner)
    tol = _tol(inner)
    xt = torch.tensor(x, requires_grad=True)
    (f(xt) * 2.0).sum().backward()
    assert_close(xt.grad, 2 * want, tol)
    x0 = torch.tensor(x)
    assert_close(torch.func.grad(lambda z: f(z).sum())(x0), want, tol)
    assert_close(torch.func.jvp(f, (x0,), (torch.ones(3, dtype=x0.dtype),))[1], want, tol)
    assert_close(torch.func.jacrev(f)(x0), np.diag(want), tol)
    assert_close(torch.func.jacfwd(f)(x0), np.diag(want), tol)
    assert_close(torch.func.vmap(f)(torch.stack([x0, 2 * x0])), np.stack([f(x), f(2 * x)]), 1e-12)
    assert not x0.requires_grad
    # Second order through the bridge: torch.func.hessian (forward over reverse), jacrev over
    # grad, and double backward.
    hess = _sincube_second(x)
    assert_close(torch.func.hessian(lambda z: f(z).sum())(x0), hess, _tol2(inner))
    assert_close(torch.func.jacrev(torch.func.grad(lambda z: f(z).sum()))(x0), hess, _tol2(inner))
    xt = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(f(xt).sum(), xt, create_graph=True)
    (hv,) = torch.autograd.grad(g, xt, torch.ones(3, dtype=xt.dtype))
    assert_close(hv, hess.sum(axis=1), _tol2(inner))


@pytest.mark.parametrize("inner", ENGINES)
def test_differentiate_with_inside_tensorflow(inner: str) -> None:
    tf = pytest.importorskip("tensorflow")
    f, x, want = _sincube(inner)
    tol = _tol(inner)

    def grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            y = tf.reduce_sum(f(z) * 2.0)
        return tape.gradient(y, z)

    xt = tf.constant(x)
    assert_close(grad(xt), 2 * want, tol)
    assert_close(tf.function(grad)(xt), 2 * want, tol)
    assert_close(tf.function(f)(xt), np.sin(x) * x**2, 1e-12)

    def hessian(z):  # second order through the bridge: nested tapes
        with tf.GradientTape() as outer:
            outer.watch(z)
            with tf.GradientTape() as inner_tape:
                inner_tape.watch(z)
                y = tf.reduce_sum(f(z))
            g = inner_tape.gradient(y, z)
        return outer.jacobian(g, z)

    assert_close(hessian(xt), _sincube_second(x), _tol2(inner))
    assert_close(tf.function(hessian)(xt), _sincube_second(x), _tol2(inner))


@pytest.mark.parametrize("outer", [e for e in ("jax", "torch", "tensorflow", "autograd") if e in ENGINES])
def test_differentiate_with_checks_dtype(outer: str) -> None:
    f, _, _ = _sincube("finitediff")
    with pytest.raises(TypeError, match="dtype int"):
        f(ad.resolve_backend(outer).asarray(np.array([1, 2])))
