"""differentiate_with(f, backend)(*args, **kwargs): pytree arguments, keyword constants, pytree results,
differentiated by every outer engine to first and second order, against analytic derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import abstractad as ad

from ._support import assert_close

K, W, S, DT = 2.0, np.array([0.5, -1.0]), np.array([0.3, 1.2]), 0.5


def sim(p, s, dt=1.0):
    """A toy simulator step: parameters as a dict, a state, a keyword time step; a dict out."""
    xp = ad.array_namespace(s)
    return {"s": s + dt * p["k"] * xp.sin(s), "e": xp.sum(p["w"] * s**2)}


def grads(k, w, s, dt):
    """d/d(k, w, s) of L = sum(sim(...)["s"]) + sim(...)["e"]."""
    return dt * np.sum(np.sin(s)), s**2, 1 + dt * k * np.cos(s) + 2 * w * s


def hess_s(k, w, s, dt):
    """d²L/ds²: diagonal."""
    return np.diag(-dt * k * np.sin(s) + 2 * w)


INNERS = ["jax", "torch", "tensorflow", "autograd", "finitediff"]
INSTALLED = [b for b in ad.installed_backends() if b in INNERS]
TOL = {"finitediff": 1e-5}


def _loss(bridged, xp_sum):
    def L(k, w, s):
        out = bridged({"k": k, "w": w}, s, dt=DT)
        return xp_sum(out["s"]) + out["e"]

    return L


def _jax(bridged):
    import jax
    import jax.numpy as jnp

    L = _loss(bridged, jnp.sum)
    with jax.enable_x64(True):
        k, w, s = jnp.asarray(K), jnp.asarray(W), jnp.asarray(S)
        first = jax.grad(L, argnums=(0, 1, 2))(k, w, s)
        jitted = jax.jit(jax.grad(L, argnums=(0, 1, 2)))(k, w, s)
        second = jax.jacrev(jax.grad(L, argnums=2), argnums=2)(k, w, s)
        return [np.asarray(a) for a in first], [np.asarray(a) for a in jitted], np.asarray(second)


def _torch(bridged):
    import torch

    L = _loss(bridged, torch.sum)
    k, w, s = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (K, W, S))
    first = torch.autograd.grad(L(k, w, s), (k, w, s), create_graph=True)
    second = torch.stack([torch.autograd.grad(first[2][i], s, retain_graph=True)[0] for i in range(len(S))])
    plain = [a.detach().numpy() for a in first]
    return plain, plain, second.detach().numpy()


def _tensorflow(bridged):
    import tensorflow as tf

    L = _loss(bridged, tf.reduce_sum)
    k, w, s = (tf.constant(a, dtype=tf.float64) for a in (K, W, S))

    def both(k, w, s):
        with tf.GradientTape() as outer:
            outer.watch(s)
            with tf.GradientTape() as tape:
                tape.watch([k, w, s])
                y = L(k, w, s)
            first = tape.gradient(y, [k, w, s])
        return first, outer.jacobian(first[2], s)

    first, second = both(k, w, s)
    traced, _ = tf.function(both)(k, w, s)
    return [a.numpy() for a in first], [a.numpy() for a in traced], second.numpy()


def _autograd(bridged):
    import autograd
    import autograd.numpy as anp

    L = _loss(bridged, anp.sum)
    first = [autograd.grad(L, i)(np.float64(K), W, S) for i in range(3)]
    second = autograd.jacobian(autograd.grad(L, 2), 2)(np.float64(K), W, S)
    return first, first, second


OUTERS = {"jax": _jax, "torch": _torch, "tensorflow": _tensorflow, "autograd": _autograd}
PAIRS = [(o, i) for o in OUTERS if o in INSTALLED for i in INSTALLED if i != o]


@pytest.mark.parametrize(("outer", "inner"), PAIRS)
def test_pytree_arguments_keyword_constants_and_pytree_results(outer, inner) -> None:
    bridged = ad.differentiate_with(sim, inner)
    first, traced, second = OUTERS[outer](bridged)
    tol = TOL.get(inner, 1e-10)
    for got in (first, traced):
        for g, want in zip(got, grads(K, W, S, DT)):
            assert_close(g, want, tol)
    assert_close(second, hess_s(K, W, S, DT), 1e-3 if inner == "finitediff" else 1e-10)


@pytest.mark.parametrize("inner", INSTALLED)
def test_numpy_in_gives_numpy_pytree_out(inner) -> None:
    out = ad.differentiate_with(sim, inner)({"k": np.array(K), "w": W}, S, dt=DT)
    assert set(out) == {"s", "e"}
    assert all(isinstance(a, np.ndarray) for a in out.values())
    assert_close(out["s"], S + DT * K * np.sin(S), 1e-6)
    assert_close(out["e"], np.sum(W * S**2), 1e-6)


@pytest.mark.parametrize("inner", [b for b in INSTALLED if b != "jax"])
def test_tuple_result_and_several_calls_with_new_constants(inner) -> None:
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def f(x, scale=1.0):
        xp = ad.array_namespace(x)
        return scale * xp.sin(x), xp.sum(x**3)

    bridged = ad.differentiate_with(f, inner)
    x = np.array([0.2, 0.7], dtype=np.float32)
    for scale in (1.0, 3.0):
        g = jax.grad(lambda z, scale=scale: jnp.sum(bridged(z, scale=scale)[0]) + bridged(z, scale=scale)[1])(x)
        assert_close(np.asarray(g), scale * np.cos(x) + 3 * x**2, TOL.get(inner, 1e-6) * 100)


def test_arrays_of_two_engines_are_refused() -> None:
    jnp = pytest.importorskip("jax.numpy")
    torch = pytest.importorskip("torch")
    bridged = ad.differentiate_with(sim, "autograd")
    with pytest.raises(TypeError, match="several engines"):
        bridged({"k": jnp.asarray(K), "w": torch.tensor(W)}, S)


def test_non_float_result_is_a_type_error() -> None:
    jnp = pytest.importorskip("jax.numpy")
    bridged = ad.differentiate_with(lambda x, y: {"n": (x > 0).astype(int), "y": y}, "autograd")
    with pytest.raises(TypeError, match="floating-point"):
        bridged(jnp.asarray(W), jnp.asarray(S))
