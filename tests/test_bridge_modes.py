"""Both modes through differentiate_with: forward, reverse and their second-order nestings, from
JAX, TensorFlow and PyTorch as the outer engine, against hand-written derivatives and each engine's
own checker (``jax.test_util.check_grads``, ``torch.autograd.gradcheck`` / ``gradgradcheck``)."""

from __future__ import annotations

import numpy as np
import pytest
from _support import assert_close, tolerance

import abstractad as ad

# ----------------------------------------------------------------------------- scenarios


def sincube(x):
    """Elementwise ``sin(x) x²``: a diagonal Jacobian."""
    xp = ad.array_namespace(x)
    return xp.sin(x) * x**2


def sincube_d1(x: np.ndarray) -> np.ndarray:
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def sincube_d2(x: np.ndarray) -> np.ndarray:
    return -np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def chain(x):
    """Vector to scalar, ``Σ exp(x_i) x_{i+1}²``: a tridiagonal Hessian."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.exp(x[:-1]) * x[1:] ** 2)


def chain_gradient(x: np.ndarray) -> np.ndarray:
    e, g = np.exp(x), np.zeros_like(x)
    g[:-1] += e[:-1] * x[1:] ** 2
    g[1:] += 2 * e[:-1] * x[1:]
    return g


def chain_hessian(x: np.ndarray) -> np.ndarray:
    e, n = np.exp(x), x.shape[0]
    h = np.zeros((n, n))
    for i in range(n - 1):
        h[i, i] += e[i] * x[i + 1] ** 2
        h[i + 1, i + 1] += 2 * e[i]
        h[i, i + 1] = h[i + 1, i] = 2 * e[i] * x[i + 1]
    return h


def bend(x):
    """R³ -> R², ``(x0 x1², sin(x1) x2)``: a Jacobian that is not square (so J and Jᵀ differ)."""
    xp = ad.array_namespace(x)
    return xp.stack([x[0] * x[1] ** 2, xp.sin(x[1]) * x[2]])


def bend_jacobian(x: np.ndarray) -> np.ndarray:
    x0, x1, x2 = x
    return np.array([[x1**2, 2 * x0 * x1, 0.0], [0.0, np.cos(x1) * x2, np.sin(x1)]])


def bend_hessians(x: np.ndarray) -> np.ndarray:
    """The Hessian of each output, shape (2, 3, 3)."""
    x0, x1, x2 = x
    h0 = np.array([[0.0, 2 * x1, 0.0], [2 * x1, 2 * x0, 0.0], [0.0, 0.0, 0.0]])
    h1 = np.array([[0.0, 0.0, 0.0], [0.0, -np.sin(x1) * x2, np.cos(x1)], [0.0, np.cos(x1), 0.0]])
    return np.stack([h0, h1])


X = np.array([0.3, -1.2, 2.0])
V = np.array([0.7, -0.4, 1.1])  # a tangent
W2 = np.array([0.5, -1.5])  # a cotangent for bend

INNERS_FOR_JAX = ["torch", "tensorflow", "autograd", "finitediff"]
INNERS_FOR_TF = ["jax", "torch", "autograd", "finitediff"]
INNERS_FOR_TORCH = ["jax", "tensorflow", "autograd", "finitediff"]


def _needs(*engines: str) -> None:
    for engine in engines:
        if engine != "finitediff":
            pytest.importorskip(engine)


def _tol(inner: str, dtype: str, order: int) -> float:
    return tolerance("finitediff" if inner == "finitediff" else inner, dtype, order)


def _bridges(inner: str) -> tuple:
    return tuple(ad.differentiate_with(f, inner) for f in (sincube, chain, bend))


# ----------------------------------------------------------------------------- JAX outer


@pytest.fixture
def jax_x64(request):
    """JAX with 64-bit types for float64 (thread-local, restored after the test)."""
    jax = pytest.importorskip("jax")
    if request.param == "float64":
        with jax.enable_x64(True):
            yield request.param
    else:
        yield request.param


@pytest.mark.parametrize("jax_x64", ["float32", "float64"], indirect=True)
@pytest.mark.parametrize("inner", INNERS_FOR_JAX)
def test_jax_forward_and_reverse(inner: str, jax_x64: str) -> None:
    """jvp, linearize (and its transpose), jacfwd, vjp, grad, jacrev, eager and under jit."""
    _needs(inner)
    import jax
    import jax.numpy as jnp

    dtype, tol = jax_x64, _tol(inner, jax_x64, 1)
    f, g, h = _bridges(inner)
    x, v, w = (jnp.asarray(a, dtype=dtype) for a in (X, V, W2))
    for wrap in (lambda fn: fn, jax.jit):
        y, jv = wrap(lambda x, v: jax.jvp(f, (x,), (v,)))(x, v)
        assert y.dtype == jv.dtype == jnp.dtype(dtype)
        assert_close(y, sincube(X), tol)
        assert_close(jv, sincube_d1(X) * V, tol)
        assert_close(wrap(jax.jacfwd(f))(x), np.diag(sincube_d1(X)), tol)
        assert_close(wrap(jax.jacfwd(h))(x), bend_jacobian(X), tol)
        assert_close(wrap(jax.jacrev(h))(x), bend_jacobian(X), tol)
        assert_close(wrap(jax.grad(g))(x), chain_gradient(X), tol)
        assert_close(wrap(lambda x, v: jax.jvp(h, (x,), (v,))[1])(x, v), bend_jacobian(X) @ V, tol)
        assert_close(wrap(lambda x, w: jax.vjp(h, x)[1](w)[0])(x, w), W2 @ bend_jacobian(X), tol)
    y, linear = jax.linearize(h, x)
    assert_close(linear(v), bend_jacobian(X) @ V, tol)
    (back,) = jax.linear_transpose(linear, x)(w)  # the JVP primitive's transpose rule: J -> Jᵀ
    assert_close(back, W2 @ bend_jacobian(X), tol)


@pytest.mark.parametrize("inner", INNERS_FOR_JAX)
def test_jax_second_order(inner: str) -> None:
    """Every nesting of the two modes: jax.hessian (forward over reverse), forward over forward,
    reverse over forward, reverse over reverse, eager and under jit."""
    _needs(inner)
    import jax
    import jax.numpy as jnp

    tol = _tol(inner, "float64", 2)
    f, g, h = _bridges(inner)
    with jax.enable_x64(True):
        x, v = jnp.asarray(X), jnp.asarray(V)
        nestings = {
            "forward over reverse": jax.hessian,
            "forward over forward": lambda fn: jax.jacfwd(jax.jacfwd(fn)),
            "reverse over forward": lambda fn: jax.jacrev(jax.jacfwd(fn)),
            "reverse over reverse": lambda fn: jax.jacrev(jax.jacrev(fn)),
        }
        for nest in nestings.values():
            for wrap in (lambda fn: fn, jax.jit):
                assert_close(wrap(nest(g))(x), chain_hessian(X), tol)
                assert_close(wrap(nest(h))(x), bend_hessians(X), tol)
                assert_close(wrap(nest(lambda z: jnp.sum(f(z))))(x), np.diag(sincube_d2(X)), tol)
        # One Hessian-vector product, forward over reverse, and the second directional derivative.
        hv = jax.jvp(jax.grad(g), (x,), (v,))[1]
        assert_close(hv, chain_hessian(X) @ V, tol)
        second = jax.jvp(lambda z: jax.jvp(f, (z,), (v,))[1], (x,), (v,))[1]
        assert_close(second, sincube_d2(X) * V**2, tol)


@pytest.mark.parametrize("inner", INNERS_FOR_JAX)
def test_jax_vmap(inner: str) -> None:
    """vmap over the bridge in both modes, grad of a vmapped bridge, and vmapped Hessians under jit."""
    _needs(inner)
    import jax
    import jax.numpy as jnp

    tol1, tol2 = _tol(inner, "float64", 1), _tol(inner, "float64", 2)
    f, g, h = _bridges(inner)
    rows = np.stack([X, 0.5 * X + 0.1, -X])
    with jax.enable_x64(True):
        xs, v = jnp.asarray(rows), jnp.asarray(V)
        assert_close(jax.vmap(f)(xs), sincube(rows), tol1)
        assert_close(jax.vmap(lambda x: jax.jvp(f, (x,), (v,))[1])(xs), sincube_d1(rows) * V, tol1)
        assert_close(jax.vmap(jax.grad(g))(xs), np.stack([chain_gradient(r) for r in rows]), tol1)
        assert_close(jax.jit(jax.vmap(jax.jacfwd(h)))(xs), np.stack([bend_jacobian(r) for r in rows]), tol1)
        # A tangent batched, the point not (jacfwd's own vmap): one callback per tangent.
        assert_close(jax.vmap(lambda t: jax.jvp(h, (xs[0],), (t,))[1])(xs), rows @ bend_jacobian(X).T, tol1)
        assert_close(jax.grad(lambda z: jnp.sum(jax.vmap(f)(z)))(xs), sincube_d1(rows), tol1)
        hessians = jax.jit(jax.vmap(jax.hessian(g)))(xs)
        assert_close(hessians, np.stack([chain_hessian(r) for r in rows]), tol2)


@pytest.mark.parametrize("inner", INNERS_FOR_JAX)
def test_jax_check_grads(inner: str) -> None:
    """JAX's own numerical checker, both modes, to second order (eager and jitted)."""
    _needs(inner)
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    f, g, h = _bridges(inner)
    with jax.enable_x64(True):
        x = jnp.asarray(X)
        for fn in (f, g, h, jax.jit(h)):
            if inner == "finitediff":
                # Finite differences checked by finite differences: loose, and first order only.
                check_grads(fn, (x,), order=1, modes=["fwd", "rev"], atol=1e-4, rtol=1e-4)
            else:
                check_grads(fn, (x,), order=2, modes=["fwd", "rev"])


def test_jax_third_order_is_an_error() -> None:
    _needs("jax", "autograd")
    import jax
    import jax.numpy as jnp

    g = ad.differentiate_with(chain, "autograd")
    with jax.enable_x64(True), pytest.raises(NotImplementedError, match="third derivatives"):
        jax.jacfwd(jax.hessian(g))(jnp.asarray(X))


@pytest.mark.parametrize("inner", INNERS_FOR_JAX)
def test_second_order_jax_outer_runs_forward_over_reverse(inner: str) -> None:
    """SecondOrder("jax", inner) keeps JAX's own mode (forward over reverse) across the bridge; an
    explicit mode="reverse" is honoured, and mode="forward" is allowed."""
    _needs("jax", inner)
    B = ad.backends
    tol = _tol(inner, "float64", 2)
    for outer, want in ((B.Jax(), None), (B.Jax(mode="reverse"), "reverse"), (B.Jax(mode="forward"), "forward")):
        b = B.SecondOrder(outer, inner)
        used = b.second_order(chain, X)[0]
        assert isinstance(used, B.Jax) and used.mode == want
        assert_close(ad.hvp(chain, X, V, backend=b), chain_hessian(X) @ V, tol)
        assert_close(ad.hessian(chain, X, backend=b), chain_hessian(X), tol)


# ----------------------------------------------------------------------------- TensorFlow outer


def _tf_jvp(tf, fn, x, v):
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = fn(x)
    return y, acc.jvp(y, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _tf_forward_over_reverse(tf, fn, x, v):
    """The HVP of scalar `fn`: a ForwardAccumulator over a GradientTape."""
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        grad = tape.gradient(y, x)
    return acc.jvp(grad, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _tf_forward_over_forward(tf, fn, x, v):
    """``fn''(x)[v, v]``: two nested ForwardAccumulators."""
    with tf.autodiff.ForwardAccumulator(x, v) as outer:
        _, jv = _tf_jvp(tf, fn, x, v)
    return outer.jvp(jv, unconnected_gradients=tf.UnconnectedGradients.ZERO)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("inner", INNERS_FOR_TF)
def test_tensorflow_forward_accumulator(inner: str, dtype: str) -> None:
    """ForwardAccumulator through the bridge, first and second order, eager and inside tf.function."""
    tf = pytest.importorskip("tensorflow")
    _needs(inner)
    tol1, tol2 = _tol(inner, dtype, 1), _tol(inner, dtype, 2)
    f, g, h = _bridges(inner)
    x, v = tf.constant(X, dtype=dtype), tf.constant(V, dtype=dtype)
    for wrap in (lambda fn: fn, tf.function):
        y, jv = wrap(lambda x, v: _tf_jvp(tf, f, x, v))(x, v)
        assert jv.dtype == tf.as_dtype(dtype)
        assert_close(y, sincube(X), tol1)
        assert_close(jv, sincube_d1(X) * V, tol1)
        assert_close(wrap(lambda x, v: _tf_jvp(tf, h, x, v)[1])(x, v), bend_jacobian(X) @ V, tol1)
        assert_close(wrap(lambda x, v: _tf_forward_over_reverse(tf, g, x, v))(x, v), chain_hessian(X) @ V, tol2)
        assert_close(wrap(lambda x, v: _tf_forward_over_forward(tf, f, x, v))(x, v), sincube_d2(X) * V**2, tol2)
        hv = wrap(lambda x, v: _tf_forward_over_forward(tf, h, x, v))(x, v)
        assert_close(hv, np.einsum("kij,i,j->k", bend_hessians(X), V, V), tol2)


@pytest.mark.parametrize("inner", INNERS_FOR_TF)
def test_tensorflow_reverse_still_works(inner: str) -> None:
    """GradientTape through the bridge (the same ops now carry forward mode), first and second
    order, eager and inside tf.function, and a tape around a tf.function (TensorFlow's symbolic
    gradients, from tf.custom_gradient)."""
    tf = pytest.importorskip("tensorflow")
    _needs(inner)
    tol1, tol2 = _tol(inner, "float64", 1), _tol(inner, "float64", 2)
    _, g, h = _bridges(inner)
    x, w = tf.constant(X), tf.constant(W2)

    def vjp(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = h(x)
        return tape.gradient(y, x, output_gradients=w)

    def hessian(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = g(x)
            grad = tape.gradient(y, x)
        return outer.jacobian(grad, x)

    for wrap in (lambda fn: fn, tf.function):
        assert_close(wrap(vjp)(x, w), W2 @ bend_jacobian(X), tol1)
        assert_close(wrap(hessian)(x), chain_hessian(X), tol2)
    traced = tf.function(h)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = traced(x)
    assert_close(tape.gradient(y, x, output_gradients=w), W2 @ bend_jacobian(X), tol1)


# ----------------------------------------------------------------------------- PyTorch outer


@pytest.mark.parametrize("inner", INNERS_FOR_TORCH)
def test_torch_gradcheck(inner: str) -> None:
    """torch.autograd.gradcheck with forward AD, and gradgradcheck forward over reverse and reverse over
    reverse. (Not check_batched_grad: it vmaps with torch's legacy prototype vmap,
    ``torch._vmap_internals``, which the bridge does not see through; ``torch.func.vmap`` it does.)"""
    torch = pytest.importorskip("torch")
    _needs(inner)
    # Finite differences are checked by finite differences: looser than torch's defaults.
    loose = {"atol": 1e-5, "rtol": 1e-3} if inner != "finitediff" else {"atol": 1e-4, "rtol": 1e-2}
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    for fn in _bridges(inner):
        assert torch.autograd.gradcheck(fn, (x,), check_forward_ad=True, **loose)
        assert torch.autograd.gradgradcheck(fn, (x,), check_fwd_over_rev=True, check_rev_over_rev=True, **loose)


@pytest.mark.parametrize("inner", INNERS_FOR_TORCH)
def test_torch_forward_mode_values(inner: str) -> None:
    """torch.func.jvp, jacfwd and hessian through the bridge, against the hand-written derivatives."""
    torch = pytest.importorskip("torch")
    _needs(inner)
    tol1, tol2 = _tol(inner, "float64", 1), _tol(inner, "float64", 2)
    f, g, h = _bridges(inner)
    x, v = torch.tensor(X), torch.tensor(V)
    assert_close(torch.func.jvp(f, (x,), (v,))[1], sincube_d1(X) * V, tol1)
    assert_close(torch.func.jacfwd(h)(x), bend_jacobian(X), tol1)
    assert_close(torch.func.hessian(g)(x), chain_hessian(X), tol2)
    assert_close(torch.func.jacfwd(torch.func.jacrev(h))(x), bend_hessians(X), tol2)
