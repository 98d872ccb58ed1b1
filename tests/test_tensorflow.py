"""The TensorFlow engine: tf.function, compilation without retracing, TensorFlow's silent traps made
errors, and the Array API namespace for tensors. (The scenario library runs on TensorFlow(),
mode="forward", mode="reverse" and compile=True in test_operators.py; every library in and out in
test_arrays.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support import assert_close

import abstractad as ad

tf = pytest.importorskip("tensorflow")
TensorFlow = ad.backends.TensorFlow

X = np.array([0.3, -1.2, 2.0, 0.7])


def f(x):
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def grad_f(x: np.ndarray) -> np.ndarray:
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def hess_f(x: np.ndarray) -> np.ndarray:
    return np.diag(-np.sin(x) * x**2 + 4 * x * np.cos(x) + 2 * np.sin(x))


def curve(x, a):
    xp = ad.array_namespace(x)
    return xp.tanh(xp.matmul(a, x))


A = np.random.default_rng(0).standard_normal((3, 4))


def jac_curve(x: np.ndarray) -> np.ndarray:
    return (1 - np.tanh(A @ x) ** 2)[:, None] * A


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True), TensorFlow(mode="forward")], ids=repr)
def test_inside_user_tf_function(backend) -> None:
    @tf.function
    def all_at_once(x):
        return (
            ad.gradient(f, x, backend=backend),
            ad.jacobian(curve, x, tf.constant(A), backend=backend),
            ad.hessian(f, x, backend=backend),
        )

    g, j, h = all_at_once(tf.constant(X))
    assert all(isinstance(t, tf.Tensor) for t in (g, j, h))
    assert_close(g.numpy(), grad_f(X), 1e-10)
    assert_close(j.numpy(), jac_curve(X), 1e-10)
    assert_close(h.numpy(), hess_f(X), 1e-10)


def test_compiled_operators_do_not_retrace_on_new_values() -> None:
    traces = []

    def g(x, a):
        traces.append(1)  # runs only while TensorFlow traces
        xp = ad.array_namespace(x)
        return xp.sum(xp.tanh(xp.matmul(a, x)))

    b = TensorFlow(compile=True)
    rng = np.random.default_rng(1)
    for i in range(4):
        x, a = rng.standard_normal(4), rng.standard_normal((3, 4))
        want = a.T @ (1 - np.tanh(a @ x) ** 2)
        assert_close(ad.gradient(g, x, a, backend=b), want, 1e-10)
        if i == 0:
            first = len(traces)
    assert len(traces) == first  # new x and new constants: no retrace


def test_untraceable_function_falls_back_with_one_warning() -> None:
    def g(x):
        if float(tf.reduce_sum(x)) > 0:  # Python control flow on a value: not traceable
            return tf.reduce_sum(x**2)
        return tf.reduce_sum(x**3)

    b = TensorFlow(compile=True)
    with pytest.warns(RuntimeWarning) as record:
        got = ad.gradient(g, X, backend=b)
    assert_close(got, 2 * X, 1e-12)
    assert len([w for w in record if "eager" in str(w.message).lower()]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning only: the next call runs eagerly without one
        assert_close(ad.gradient(g, X, backend=b), 2 * X, 1e-12)


# ----------------------------------------------------------------------------- TensorFlow's traps


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(mode="forward")], ids=repr)
def test_integer_x_is_a_type_error(backend) -> None:
    with pytest.raises(TypeError, match="dtype int32"):
        ad.gradient(lambda x: tf.reduce_sum(x), tf.constant([1, 2]), backend=backend)


def test_non_scalar_gradient_is_an_error_not_a_sum() -> None:
    with pytest.raises(ValueError, match=r"\(4,\).*jacobian"):
        ad.gradient(lambda x: x * 2.0, tf.constant(X), backend="tensorflow")


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(mode="forward")], ids=repr)
def test_output_computed_outside_tensorflow_is_an_error(backend) -> None:
    def through_numpy(x):
        return tf.constant(np.sum(np.asarray(x) ** 2))  # TensorFlow sees a constant

    with pytest.raises(ValueError):
        ad.gradient(through_numpy, tf.constant(X), backend=backend)


def test_output_of_another_library_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"numpy|NumPy"):
        ad.gradient(lambda x: np.sum(np.asarray(x)), tf.constant(X), backend="tensorflow")


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(mode="forward")], ids=repr)
def test_constant_function_has_zero_derivative(backend) -> None:
    g = ad.gradient(lambda x: tf.constant(3.0, dtype=tf.float64), tf.constant(X), backend=backend)
    assert_close(g.numpy(), np.zeros(4), 0)
    j = ad.jacobian(lambda x: tf.ones(2, dtype=tf.float64), tf.constant(X), backend=backend)
    assert_close(j.numpy(), np.zeros((2, 4)), 0)


def test_user_exception_propagates_unchanged() -> None:
    err = KeyError("mine")

    def g(x):
        raise err

    for backend in (TensorFlow(), TensorFlow(compile=True)):
        with pytest.raises(KeyError) as info:
            ad.gradient(g, X, backend=backend)
        assert info.value is err


def test_variable_x_is_differentiated_and_left_alone() -> None:
    v = tf.Variable(X)
    g = ad.gradient(f, v, backend="tensorflow")
    assert_close(np.asarray(g), grad_f(X), 1e-12)
    assert_close(v.numpy(), X, 0)


# ----------------------------------------------------------------------------- array_namespace


def _namespace_program(x, m):
    xp = ad.array_namespace(x)
    out = [
        xp.matmul(m, x),  # matrix @ vector
        xp.matmul(x, xp.matrix_transpose(m)),  # vector @ matrix
        xp.reshape(xp.matmul(x, x), (1,)),  # vector @ vector
        xp.sum(m, axis=0),
        xp.mean(m, axis=1, keepdims=True)[:, 0],
        xp.max(x, keepdims=True),
        xp.where(x > 0, x, -x),
        xp.concat([x[1:], x[:1]]),
        xp.stack([x, x * 2.0])[1],
        xp.exp(xp.clip(x, min=-1.0, max=1.0)),
        xp.reshape(xp.ones((2, 2), dtype=x.dtype) + xp.zeros_like(xp.reshape(x, (2, 2))), (-1,)),
        xp.arange(3, dtype=x.dtype),
        xp.reshape(m, (-1,))[::3],
    ]
    return xp.concat(out, axis=0)


def test_array_namespace_matches_numpy_eagerly_and_in_tf_function() -> None:
    m = np.arange(12.0).reshape(3, 4) / 10
    want = _namespace_program(X, m)
    got = _namespace_program(tf.constant(X), tf.constant(m))
    assert_close(got.numpy(), want, 1e-12)
    traced = tf.function(_namespace_program)(tf.constant(X), tf.constant(m))
    assert_close(traced.numpy(), want, 1e-12)


def test_array_namespace_names_a_missing_function() -> None:
    xp = ad.array_namespace(tf.constant(X))
    with pytest.raises(AttributeError, match=r"(?i)tensorflow.*'not_a_function'"):
        xp.not_a_function  # noqa: B018
