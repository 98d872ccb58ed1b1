"""The torch, TensorFlow and autograd primitives on tuples of engine arrays (a pytree's leaves).

The generic layer hands a backend with ``takes_pytrees`` the leaves of a pytree as a tuple, each
with its own shape and dtype. Here the primitives are called directly on such tuples (float32 and
float64 leaves, a 0-d leaf, a leaf f ignores), with f returning one array or a tuple, at the top
level and inside the engine's own transforms, and compared with analytic answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import abstractad as ad

A = np.array([0.5, -1.5], dtype=np.float32)  # float32 leaf
B = np.array(0.7)  # 0-d float64 leaf
C = np.arange(6.0).reshape(2, 3)  # float64 leaf that f ignores
X = (A, B, C)
V = (np.array([1.0, 2.0]), np.array(-0.5), np.ones((2, 3)))  # float64 seeds: cast to each leaf's dtype
W = (np.array([1.0, -2.0], dtype=np.float32), np.array([0.5, 3.0]), np.array(2.0), np.ones(3))
MODES = (None, "forward", "reverse")


@dataclasses.dataclass(frozen=True)
class Engine:
    """One engine: its backend class, its arrays, and the few operations the test functions use."""

    name: str
    backend: type[ad.Backend]
    array: Callable[[np.ndarray], Any]
    numpy: Callable[[Any], np.ndarray]
    sum: Callable[[Any], Any]
    sin: Callable[[Any], Any]
    f64: Callable[[Any], Any]  # a float32 array as float64, differentiably
    ones: Callable[[int], Any]  # a fresh float64 constant
    outer_jvp: Callable[[Callable, float], Any]  # the user's own forward derivative in s at s0 of fn(s)


def _torch() -> Engine:
    torch = pytest.importorskip("torch")

    def outer_jvp(fn: Callable, s0: float) -> Any:
        s = torch.tensor(s0, dtype=torch.float64)
        return torch.func.jvp(fn, (s,), (torch.ones_like(s),))[1]

    return Engine(
        "torch",
        ad.backends.Torch,
        lambda a: torch.from_numpy(np.array(a)),
        lambda t: t.detach().numpy(),
        torch.sum,
        torch.sin,
        lambda t: t.to(torch.float64),
        lambda n: torch.ones(n, dtype=torch.float64),
        outer_jvp,
    )


def _tensorflow() -> Engine:
    tf = pytest.importorskip("tensorflow")

    def outer_jvp(fn: Callable, s0: float) -> Any:
        s = tf.constant(s0, dtype=tf.float64)
        with tf.autodiff.ForwardAccumulator(s, tf.ones_like(s)) as acc:
            out = fn(s)
        return acc.jvp(out)

    return Engine(
        "tensorflow",
        ad.backends.TensorFlow,
        lambda a: tf.constant(a),
        lambda t: t.numpy(),
        tf.reduce_sum,
        tf.sin,
        lambda t: tf.cast(t, tf.float64),
        lambda n: tf.ones(n, dtype=tf.float64),
        outer_jvp,
    )


def _autograd() -> Engine:
    pytest.importorskip("autograd")
    import autograd.numpy as anp
    from autograd.core import make_jvp

    def outer_jvp(fn: Callable, s0: float) -> Any:
        return make_jvp(fn, np.array(s0))(np.array(1.0))[1]

    return Engine(
        "autograd",
        ad.backends.Autograd,
        lambda a: np.array(a),
        np.asarray,
        anp.sum,
        anp.sin,
        lambda a: a * np.ones((), np.float64),  # autograd's astype has no forward derivative
        lambda n: np.ones(n),
        outer_jvp,
    )


ENGINES = {"torch": _torch, "tensorflow": _tensorflow, "autograd": _autograd}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    return ENGINES[request.param]()


@pytest.fixture(params=MODES, ids=lambda m: f"mode={m}")
def mode(request: pytest.FixtureRequest) -> str | None:
    return request.param


# ---------------------------------------------------------------------------- functions and answers


def scalar(e: Engine) -> Callable:
    """f(a, b, c) = sum(a³) b + sin(b): c is ignored."""
    return lambda z: e.sum(e.f64(z[0]) ** 3) * z[1] + e.sin(z[1])


def value(x: tuple) -> float:
    a, b, _ = (np.asarray(t, np.float64) for t in x)
    return float(np.sum(a**3) * b + np.sin(b))


def grad(x: tuple) -> tuple:
    a, b, c = (np.asarray(t, np.float64) for t in x)
    return 3 * a**2 * b, np.sum(a**3) + np.cos(b), np.zeros_like(c)


def hvp(x: tuple, v: tuple) -> tuple:
    a, b, c = (np.asarray(t, np.float64) for t in x)
    va, vb, _ = (np.asarray(t, np.float64) for t in v)
    return 6 * a * b * va + 3 * a**2 * vb, np.sum(3 * a**2 * va) - np.sin(b) * vb, np.zeros_like(c)


def vector(e: Engine) -> Callable:
    """f(a, b, c) = (2a, a b, b², ones(3)): four outputs, float32 / float64 / 0-d / constant."""
    return lambda z: (z[0] * 2, e.f64(z[0]) * z[1], z[1] ** 2, e.ones(3))


def vector_value(x: tuple) -> tuple:
    a, b, _ = (np.asarray(t, np.float64) for t in x)
    return 2 * a, a * b, b**2, np.ones(3)


def vector_jvp(x: tuple, v: tuple) -> tuple:
    a, b, _ = (np.asarray(t, np.float64) for t in x)
    va, vb, _ = (np.asarray(t, np.float64) for t in v)
    return 2 * va, va * b + a * vb, 2 * b * vb, np.zeros(3)


def vector_vjp(x: tuple, w: tuple) -> tuple:
    a, b, c = (np.asarray(t, np.float64) for t in x)
    w0, w1, w2, _ = (np.asarray(t, np.float64) for t in w)
    return 2 * w0 + w1 * b, np.sum(w1 * a) + 2 * b * w2, np.zeros_like(c)


def leaves(e: Engine, arrays: tuple) -> tuple:
    return tuple(e.array(a) for a in arrays)


def check(e: Engine, got: Any, want: tuple, dtypes: tuple | None = None) -> None:
    """`got` is a tuple like `want` (leaf by leaf, to float32 accuracy), with `dtypes` where given."""
    assert isinstance(got, tuple), type(got)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        arr = e.numpy(g)
        assert arr.shape == np.shape(w), (i, arr.shape, np.shape(w))
        if dtypes is not None:
            assert arr.dtype == dtypes[i], (i, arr.dtype, dtypes[i])
        np.testing.assert_allclose(arr, w, rtol=1e-5, atol=1e-6, err_msg=f"leaf {i}")


X_DTYPES = (np.float32, np.float64, np.float64)


def gradient_of(b: ad.Backend, f: Callable, one: Any) -> Callable:
    """The gradient of scalar f as a function of the leaves, as the generic layer's inner_gradient
    derives it: the fast hook where it answers, else the pullback seeded with `one`."""

    def g(z: tuple) -> tuple:
        fast = b.value_and_gradient(f, z, lambda y: None)
        return fast[1] if fast is not None else b.pullback(f, z)[1](one)

    return g


@pytest.fixture(autouse=True)
def untouched():
    """Every test leaves the module's NumPy arrays as they were."""
    before = [a.copy() for a in (*X, *V, *W)]
    yield
    for a, was in zip((*X, *V, *W), before):
        np.testing.assert_array_equal(a, was)


# ---------------------------------------------------------------------------- first order, top level


def test_pushforward(engine: Engine, mode: str | None) -> None:
    b, x, v = engine.backend(mode=mode), leaves(engine, X), leaves(engine, V)
    y, t = b.pushforward(scalar(engine), x, v)
    assert np.ndim(engine.numpy(y)) == 0 and not isinstance(t, tuple)
    np.testing.assert_allclose(float(engine.numpy(y)), value(X), rtol=1e-6)
    want = sum(np.sum(g * s) for g, s in zip(grad(X), V))
    np.testing.assert_allclose(float(engine.numpy(t)), want, rtol=1e-5)

    y, t = b.pushforward(vector(engine), x, v)
    check(engine, y, vector_value(X))
    check(engine, t, vector_jvp(X, V), dtypes=(np.float32, np.float64, np.float64, np.float64))


def test_pullback(engine: Engine, mode: str | None) -> None:
    b, x = engine.backend(mode=mode), leaves(engine, X)
    y, pb = b.pullback(scalar(engine), x)
    np.testing.assert_allclose(float(engine.numpy(y)), value(X), rtol=1e-6)
    check(engine, pb(engine.array(np.array(1.0))), grad(X), X_DTYPES)
    check(engine, pb(engine.array(np.array(2.0))), tuple(2 * g for g in grad(X)), X_DTYPES)  # a second seed

    y, pb = b.pullback(vector(engine), x)
    check(engine, y, vector_value(X))
    check(engine, pb(leaves(engine, W)), vector_vjp(X, W), X_DTYPES)


def test_value_and_gradient(engine: Engine) -> None:
    b, x = engine.backend(), leaves(engine, X)
    out = b.value_and_gradient(scalar(engine), x, lambda y: None)
    if out is None:  # the optional hook: the generic layer then derives it from the pullback
        pytest.skip(f"{engine.name} has no value_and_gradient hook")
    y, g = out
    np.testing.assert_allclose(float(engine.numpy(y)), value(X), rtol=1e-6)
    check(engine, g, grad(X), X_DTYPES)


def test_value_and_gradient_checks_before_backward(engine: Engine) -> None:
    b = engine.backend()

    def refuse(y: Any) -> None:
        raise ValueError("not a scalar")

    if b.value_and_gradient(scalar(engine), leaves(engine, X), lambda y: None) is None:
        pytest.skip(f"{engine.name} has no value_and_gradient hook")
    with pytest.raises(ValueError, match="not a scalar"):
        b.value_and_gradient(scalar(engine), leaves(engine, X), refuse)


def test_one_leaf_tuple_is_not_an_array(engine: Engine) -> None:
    """A tuple of one leaf is a pytree: results come back as a tuple of one."""
    b, x = engine.backend(), (engine.array(np.array([1.0, 2.0])),)

    def f(z: tuple) -> Any:
        return engine.sum(z[0] ** 2)

    y, pb = b.pullback(f, x)
    check(engine, pb(engine.array(np.array(1.0))), (np.array([2.0, 4.0]),))
    y, t = b.pushforward(lambda z: (z[0] * 3,), x, (engine.array(np.array([1.0, -1.0])),))
    check(engine, y, (np.array([3.0, 6.0]),))
    check(engine, t, (np.array([3.0, -3.0]),))


def test_one_array_x_tuple_output(engine: Engine) -> None:
    """x one array, f(x) a tuple: tangents a tuple, the pullback takes a tuple and returns one array."""
    b, x = engine.backend(), engine.array(np.array([1.0, 2.0]))

    def f(z: Any) -> tuple:
        return z * 2, engine.sum(z**2)

    y, t = b.pushforward(f, x, engine.array(np.array([1.0, 1.0])))
    check(engine, y, (np.array([2.0, 4.0]), np.array(5.0)))
    check(engine, t, (np.array([2.0, 2.0]), np.array(6.0)))
    _, pb = b.pullback(f, x)
    g = pb((engine.array(np.array([1.0, 0.0])), engine.array(np.array(1.0))))
    np.testing.assert_allclose(engine.numpy(g), [4.0, 4.0])


def test_f_ignores_everything(engine: Engine) -> None:
    """A constant f: zeros of each leaf's shape and dtype, never None."""
    b, x = engine.backend(), leaves(engine, X)
    y, pb = b.pullback(lambda z: engine.ones(2), x)
    np.testing.assert_array_equal(engine.numpy(y), np.ones(2))
    check(engine, pb(engine.ones(2)), tuple(np.zeros_like(a) for a in X), X_DTYPES)
    _, t = b.pushforward(lambda z: (engine.ones(2),), x, leaves(engine, V))
    check(engine, t, (np.zeros(2),))


def test_non_tensor_output_is_a_type_error(engine: Engine) -> None:
    if engine.name == "autograd":
        pytest.skip("autograd's f may return NumPy values and Python numbers")
    b, x = engine.backend(), leaves(engine, X)
    with pytest.raises(TypeError, match="float"):
        b.pullback(lambda z: (z[0] * 2, 1.5), x)
    with pytest.raises(TypeError, match="float"):
        b.pushforward(lambda z: (z[0] * 2, 1.5), x, leaves(engine, V))


def test_errors_in_f_propagate(engine: Engine, mode: str | None) -> None:
    b, x = engine.backend(mode=mode), leaves(engine, X)

    def f(z: tuple) -> Any:
        raise KeyError("from f")

    with pytest.raises(KeyError, match="from f"):
        b.pullback(f, x)
    with pytest.raises(KeyError, match="from f"):
        b.pushforward(f, x, leaves(engine, V))
    _, pb = b.pullback(scalar(engine), x)  # the engine is still usable afterwards
    check(engine, pb(engine.array(np.array(1.0))), grad(X))


# ---------------------------------------------------------------------------- second order


def test_forward_over_reverse(engine: Engine, mode: str | None) -> None:
    """What _derive.hvp does: inside nest(), the pushforward of the gradient (a tuple)."""
    b, x, v = engine.backend(mode=mode), leaves(engine, X), leaves(engine, V)
    g = gradient_of(b, scalar(engine), engine.array(np.array(1.0)))
    with b.nest():
        y, t = b.pushforward(g, x, v)
    check(engine, y, grad(X), X_DTYPES)
    check(engine, t, hvp(X, V), X_DTYPES)


def test_forward_over_reverse_without_nest(engine: Engine) -> None:
    """Called by hand, without nest(): torch's dual numbers around a nested pullback."""
    b, x, v = engine.backend(), leaves(engine, X), leaves(engine, V)
    _, t = b.pushforward(gradient_of(b, scalar(engine), engine.array(np.array(1.0))), x, v)
    check(engine, t, hvp(X, V), X_DTYPES)


def test_reverse_over_reverse(engine: Engine, mode: str | None) -> None:
    """mode="reverse": the pullback of the gradient (a tuple) along a tuple of seeds is H v."""
    b, x = engine.backend(mode=mode), leaves(engine, X)
    with b.nest():
        y, pb = b.pullback(gradient_of(b, scalar(engine), engine.array(np.array(1.0))), x)
        hv = pb(tuple(engine.array(np.asarray(s, a.dtype)) for s, a in zip(V, X)))
    check(engine, y, grad(X), X_DTYPES)
    check(engine, hv, hvp(X, V), X_DTYPES)


def test_reverse_over_forward(engine: Engine) -> None:
    """The pullback of a pushforward's tangent (a tuple output) in x: (∂/∂x) of ⟨∇f, v⟩ is H v."""
    b, x, v = engine.backend(), leaves(engine, X), leaves(engine, V)

    def directional(z: tuple) -> Any:
        return b.pushforward(scalar(engine), z, v)[1]

    with b.nest():
        _, pb = b.pullback(directional, x)
        hv = pb(engine.array(np.array(1.0)))
    check(engine, hv, hvp(X, V), X_DTYPES)


# ---------------------------------------------------------------------------- inside the user's transforms


def test_inside_the_users_forward_derivative(engine: Engine) -> None:
    """The user's own forward derivative (torch.func.jvp, a ForwardAccumulator, autograd's make_jvp)
    in s of our gradient at x(s) = (a s, b, c): H (a, 0, 0) at s = 1."""
    b, x = engine.backend(), leaves(engine, X)
    one = engine.array(np.array(1.0))
    g = gradient_of(b, scalar(engine), one)

    def fn(s: Any) -> Any:
        gz = g((x[0] * _as(s, x[0]), x[1], x[2]))
        return engine.sum(engine.f64(gz[0])) + gz[1]

    want = hvp(X, (A.astype(np.float64), np.array(0.0), np.zeros_like(C)))
    got = engine.outer_jvp(fn, 1.0)
    np.testing.assert_allclose(float(engine.numpy(got)), np.sum(want[0]) + want[1], rtol=1e-5)


def _as(s: Any, like: Any) -> Any:
    """The scalar s in like's dtype where the engine needs one dtype (torch and TensorFlow do not
    multiply float64 by float32 as NumPy does; autograd's astype has no forward derivative)."""
    if hasattr(s, "to"):
        return s.to(like.dtype)
    if type(s).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.cast(s, like.dtype)
    return s


def test_torch_inside_func_transforms() -> None:
    torch = pytest.importorskip("torch")
    e, b = _torch(), ad.backends.Torch()
    x, v = leaves(e, X), leaves(e, V)

    def through_pushforward(s: Any) -> Any:
        """sum of the second tangent of the vector f at (a s, b, c): sum(va b + a s vb)."""
        z = (x[0] * s.to(torch.float32), x[1], x[2])
        return b.pushforward(vector(e), z, v)[1][1].sum()

    got = torch.func.grad(through_pushforward)(torch.tensor(1.0, dtype=torch.float64))
    np.testing.assert_allclose(got.item(), float(np.sum(A.astype(np.float64)) * V[1]), rtol=1e-6)

    def through_pullback(s: Any) -> Any:
        """⟨w, J⟩ in b at (a, b s, c): (sum(w1 a) + 2 b s w2) b."""
        z = (x[0], x[1] * s, x[2])
        return b.pullback(vector(e), z)[1](leaves(e, W))[1] * x[1]

    got = torch.func.grad(through_pullback)(torch.tensor(1.0, dtype=torch.float64))
    np.testing.assert_allclose(got.item(), 2 * B * W[2] * B, rtol=1e-6)

    # Forward over reverse with the user's vmap around it: H v for two seeds at once.
    g = gradient_of(b, scalar(e), torch.tensor(1.0, dtype=torch.float64))
    seeds = tuple(torch.stack([t, 2 * t]) for t in v)
    with b.nest():
        hv = torch.func.vmap(lambda *s: b.pushforward(g, x, s)[1])(*seeds)
    check(e, tuple(h[1] for h in hv), tuple(2 * h for h in hvp(X, V)), X_DTYPES)


def test_torch_tensors_untouched() -> None:
    """No requires_grad flag set, no .grad written, a user's parameter left as it was; forward mode
    differentiates a copy, so an f that writes into its input does not write into the user's tensor."""
    torch = pytest.importorskip("torch")
    e, b = _torch(), ad.backends.Torch()
    x = leaves(e, X)
    param = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    z = (*x, param)

    def f(t: tuple) -> Any:
        return scalar(e)(t[:3]) + (t[3] ** 2).sum()

    b.pullback(f, z)[1](torch.tensor(1.0, dtype=torch.float64))
    b.value_and_gradient(f, z, lambda y: None)
    b.pushforward(f, z, (*leaves(e, V), torch.ones(2)))
    with b.nest():
        b.pushforward(gradient_of(b, f, torch.tensor(1.0, dtype=torch.float64)), z, (*leaves(e, V), torch.ones(2)))
    assert [t.requires_grad for t in x] == [False, False, False]
    assert param.requires_grad and param.grad is None and param.is_leaf

    def writes(t: tuple) -> Any:
        t[0].mul_(2.0)
        return t[0].sum()

    b.pushforward(writes, x, leaves(e, V))
    np.testing.assert_array_equal(x[0].numpy(), A)


def test_torch_grad_modes() -> None:
    """no_grad and inference_mode around the call: derivatives still come out (and the modes stay)."""
    torch = pytest.importorskip("torch")
    e, b = _torch(), ad.backends.Torch()
    x = leaves(e, X)
    with torch.no_grad():
        check(e, b.pullback(scalar(e), x)[1](torch.tensor(1.0, dtype=torch.float64)), grad(X))
        check(e, b.value_and_gradient(scalar(e), x, lambda y: None)[1], grad(X))
        assert not torch.is_grad_enabled()
    with torch.inference_mode():
        with b.scope("float64"):
            x = leaves(e, X)
            check(e, b.pullback(scalar(e), x)[1](torch.tensor(1.0, dtype=torch.float64)), grad(X))
            check(e, b.pushforward(vector(e), x, leaves(e, V))[1], vector_jvp(X, V))
        assert torch.is_inference_mode_enabled()


def test_torch_compile_region() -> None:
    """Inside torch.compile the primitives take the torch.func path, tuples included."""
    torch = pytest.importorskip("torch")
    e, b = _torch(), ad.backends.Torch()
    x, v = leaves(e, X), leaves(e, V)

    @torch.compile(backend="eager", fullgraph=False)
    def run(*z: Any) -> Any:
        g = b.pullback(scalar(e), z[:3])[1](torch.tensor(1.0, dtype=torch.float64))
        return g, b.pushforward(vector(e), z[:3], z[3:])[1]

    g, t = run(*x, *v)
    check(e, g, grad(X), X_DTYPES)
    check(e, t, vector_jvp(X, V))


def test_tensorflow_inside_tf_function() -> None:
    tf = pytest.importorskip("tensorflow")
    e = _tensorflow()

    @tf.function
    def run(x: tuple, v: tuple, w: tuple) -> Any:
        b = ad.backends.TensorFlow()
        one = tf.constant(1.0, tf.float64)
        g = b.pullback(scalar(e), x)[1](one)
        with b.nest():
            hv = b.pushforward(gradient_of(b, scalar(e), one), x, v)[1]
            ror = b.pullback(gradient_of(b, scalar(e), one), x)[1](tuple(tf.cast(s, a.dtype) for s, a in zip(v, x)))
        return g, hv, ror, b.pushforward(vector(e), x, v), b.pullback(vector(e), x)[1](w)

    g, hv, ror, (y, t), vjp = run(leaves(e, X), leaves(e, V), leaves(e, W))
    check(e, g, grad(X), X_DTYPES)
    check(e, hv, hvp(X, V), X_DTYPES)
    check(e, ror, hvp(X, V), X_DTYPES)
    check(e, y, vector_value(X))
    check(e, t, vector_jvp(X, V))
    check(e, vjp, vector_vjp(X, W), X_DTYPES)


def test_tensorflow_disconnected_leaves() -> None:
    """Per leaf: a leaf f ignores gives zeros; a leaf f reads through NumPy is the ValueError."""
    tf = pytest.importorskip("tensorflow")
    e, b = _tensorflow(), ad.backends.TensorFlow()
    x, v = leaves(e, X), leaves(e, V)

    def foreign(z: tuple) -> tuple:
        return z[0] * 2, tf.constant(np.sum(z[2].numpy() ** 2))

    with pytest.raises(ValueError, match="recorded no path"):
        b.pullback(foreign, x)[1]((tf.ones(2), tf.constant(1.0, tf.float64)))
    with pytest.raises(ValueError, match="recorded no path"):
        b.pushforward(foreign, x, v)

    def foreign_scalar(z: tuple) -> Any:
        return tf.reduce_sum(z[0]) + tf.constant(np.sum(z[2].numpy()), tf.float32)

    with pytest.raises(ValueError, match="recorded no path"):
        b.pullback(foreign_scalar, x)[1](tf.constant(1.0))

    def cut(z: tuple) -> tuple:  # the output that TensorFlow cannot see is a constant: zeros
        return z[0] * 2, tf.constant(np.ones(2))

    check(e, b.pushforward(cut, x, v)[1], (2 * V[0], np.zeros(2)), (np.float32, np.float64))
    check(e, b.pullback(cut, x)[1]((tf.ones(2), tf.ones(2, tf.float64))), (2 * np.ones(2), 0.0 * B, 0 * C), X_DTYPES)


def test_tensorflow_gather_gradient_is_dense() -> None:
    """The tape answers tf.gather's gradient (an embedding lookup) as IndexedSlices: a dense tensor here."""
    tf = pytest.importorskip("tensorflow")
    b = ad.backends.TensorFlow()
    table = tf.constant(np.arange(6.0).reshape(3, 2))

    def f(z: Any) -> Any:
        return tf.reduce_sum(tf.gather(z[0], [0, 0, 2])) * z[1]

    g = b.pullback(f, (table, tf.constant(2.0, tf.float64)))[1](tf.constant(1.0, tf.float64))
    assert all(isinstance(t, tf.Tensor) for t in g)
    np.testing.assert_array_equal(g[0].numpy(), [[4.0, 4.0], [0.0, 0.0], [2.0, 2.0]])
    g = b.pullback(lambda z: tf.gather(z, [1]), table)[1](tf.ones((1, 2), tf.float64))
    np.testing.assert_array_equal(g.numpy(), [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
