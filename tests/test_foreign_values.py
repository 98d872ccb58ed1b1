"""Operators called with backend=B on arrays that another engine traces or records: the result is a
primitive of the caller's engine whose derivatives B computes (through B's own operators), so the
caller differentiates through it, to one order more than the operator, against analytic references."""

from __future__ import annotations

import numpy as np
import pytest

import abstractad as ad

from ._support import assert_close

X = np.array([0.3, 1.2, -0.7])
V = np.array([0.5, -1.0, 2.0])


def f(x):
    """Scalar: sum(sin(x) x²)."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def F(x):
    """Elementwise: sin(x) x², whose Jacobian is diagonal."""
    xp = ad.array_namespace(x)
    return xp.sin(x) * x**2


def d1(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def d2(x):
    return -np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def d3(x):
    return -(x**2) * np.cos(x) - 6 * x * np.sin(x) + 6 * np.cos(x)


# operator -> (call on x, its value, d/dx of the sum of its value)
OPERATORS = {
    "gradient": (lambda x, v, b: ad.gradient(f, x, backend=b), lambda: d1(X), lambda: d2(X)),
    "value_and_gradient": (
        lambda x, v, b: ad.value_and_gradient(f, x, backend=b)[1],
        lambda: d1(X),
        lambda: d2(X),
    ),
    "jvp": (lambda x, v, b: ad.jvp(F, x, v, backend=b), lambda: d1(X) * V, lambda: d2(X) * V),
    "vjp": (lambda x, v, b: ad.vjp(F, x, v, backend=b), lambda: d1(X) * V, lambda: d2(X) * V),
    "hvp": (lambda x, v, b: ad.hvp(f, x, v, backend=b), lambda: d2(X) * V, lambda: d3(X) * V),
    "jacobian": (lambda x, v, b: ad.jacobian(F, x, backend=b), lambda: np.diag(d1(X)), lambda: d2(X)),
}

ENGINES = [b for b in ("jax", "torch", "tensorflow", "autograd") if b in ad.installed_backends()]
PAIRS = [(caller, b) for caller in ENGINES for b in ENGINES if b != caller]


def _jax(op, b):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x, v = jnp.asarray(X), jnp.asarray(V)
        value = jax.jit(lambda x: op(x, v, b))(x)
        derivative = jax.grad(lambda x: jnp.sum(op(x, v, b)))(x)
        return np.asarray(value), np.asarray(derivative)


def _torch(op, b):
    import torch

    x, v = torch.tensor(X, requires_grad=True), torch.tensor(V)
    out = op(x, v, b)
    assert out.grad_fn is not None  # a node of the caller's graph
    out.sum().backward()
    via_func = torch.func.grad(lambda x: op(x, v, b).sum())(torch.tensor(X))
    assert_close(via_func.numpy(), x.grad.numpy(), 1e-12)
    return out.detach().numpy(), x.grad.numpy()


def _tensorflow(op, b):
    import tensorflow as tf

    def both(x, v):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = op(x, v, b)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, x)

    x, v = tf.constant(X), tf.constant(V)
    out, g = both(x, v)
    traced_out, traced_g = tf.function(both)(x, v)
    assert_close(traced_out.numpy(), out.numpy(), 1e-12)
    assert_close(traced_g.numpy(), g.numpy(), 1e-12)
    return out.numpy(), g.numpy()


def _autograd(op, b):
    import autograd
    import autograd.numpy as anp

    value = op(X, V, b)  # NumPy in: no trace, nothing bridged
    derivative = autograd.grad(lambda x: anp.sum(op(x, V, b)))(X)
    return np.asarray(value), derivative


CALLERS = {"jax": _jax, "torch": _torch, "tensorflow": _tensorflow, "autograd": _autograd}


@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize(("caller", "backend"), PAIRS)
def test_caller_differentiates_another_backends_operator(caller, backend, operator) -> None:
    op, value, derivative = OPERATORS[operator]
    got_value, got_derivative = CALLERS[caller](op, backend)
    assert_close(got_value, value(), 1e-10)
    assert_close(got_derivative, derivative(), 1e-9)


@pytest.mark.parametrize("backend", [b for b in ENGINES if b != "torch"])
def test_untraced_tensors_of_another_engine_are_converted_not_bridged(backend) -> None:
    torch = pytest.importorskip("torch")
    x = torch.tensor(X)  # no requires_grad: a plain conversion, a plain tensor back
    g = ad.gradient(f, x, backend=backend)
    assert isinstance(g, torch.Tensor) and g.grad_fn is None
    assert_close(g.numpy(), d1(X), 1e-10)
    with torch.no_grad():  # recorded by nothing under no_grad, even with requires_grad
        g = ad.gradient(f, torch.tensor(X, requires_grad=True), backend=backend)
    assert g.grad_fn is None
    assert_close(g.numpy(), d1(X), 1e-10)


def test_constants_that_a_caller_records_are_differentiated_too() -> None:
    jax = pytest.importorskip("jax")
    pytest.importorskip("torch")
    jnp = jax.numpy

    def g(x, a, scale):
        xp = ad.array_namespace(x)
        return scale * xp.sum(a * xp.sin(x))

    with jax.enable_x64(True):
        x, a = jnp.asarray(X), jnp.asarray(V)
        # d/da of the gradient's sum: d/da_i sum_j scale a_j cos(x_j) = scale cos(x_i)
        got = jax.grad(lambda a: jnp.sum(ad.gradient(g, x, a, 3.0, backend="torch")))(a)
    assert_close(np.asarray(got), 3.0 * np.cos(X), 1e-10)
