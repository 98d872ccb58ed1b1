"""The TensorFlow engine: NumPy and every library in and out, inside the user's tf.function,
compilation without retracing, TensorFlow's silent traps made errors, state, and the Array API
namespace for tensors. Every value is checked against an analytic or a NumPy reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support import assert_close, f, grad_f, hess_f

import abstractad as ad
from abstractad.testing import SCENARIOS, Scenario

tf = pytest.importorskip("tensorflow")
pytest.importorskip("abstractad.backends.tensorflow")
TensorFlow = ad.backends.TensorFlow

X = np.array([0.3, -1.2, 2.0, 0.7])
A = np.random.default_rng(0).standard_normal((3, 4))
BACKENDS = [TensorFlow(), TensorFlow(mode="forward"), TensorFlow(mode="reverse"), TensorFlow(compile=True)]


def curve(x, a):
    """tanh(a @ x): Jacobian (1 - tanh(a @ x)²)[:, None] * a."""
    xp = ad.array_namespace(x)
    return xp.tanh(xp.matmul(a, x))


def jac_curve(x: np.ndarray, a: np.ndarray = A) -> np.ndarray:
    return (1 - np.tanh(a @ x) ** 2)[:, None] * a


def tol(dtype) -> float:
    return 2e-4 if np.dtype(dtype) == np.float32 else 1e-10


def _tf_dtype(dtype):
    return tf.float32 if np.dtype(dtype) == np.float32 else tf.float64


# ------------------------------------------------------------------------ NumPy in, NumPy out


def _scenario_checks(s: Scenario, b) -> list[tuple[str, object, np.ndarray]]:
    """(operator, thunk, analytic reference) for every operator that applies to scenario `s`."""
    v, w = s.seeds()
    checks = [
        ("jvp", lambda: ad.jvp(s.f, s.x, v, *s.args, backend=b), s.jvp(v)),
        ("vjp", lambda: ad.vjp(s.f, s.x, w, *s.args, backend=b), s.vjp(w)),
        ("jacobian", lambda: ad.jacobian(s.f, s.x, *s.args, backend=b), s.jacobian),
        ("value_and_jacobian", lambda: ad.value_and_jacobian(s.f, s.x, *s.args, backend=b)[0], s.value),
    ]
    if s.scalar_out and not s.scalar_in:
        checks += [
            ("gradient", lambda: ad.gradient(s.f, s.x, *s.args, backend=b), s.gradient),
            ("hessian", lambda: ad.hessian(s.f, s.x, *s.args, backend=b), s.hessian),
            ("hvp", lambda: ad.hvp(s.f, s.x, v, *s.args, backend=b), s.hvp(v)),
        ]
    if s.scalar_in:
        checks += [
            ("derivative", lambda: ad.derivative(s.f, s.x, *s.args, backend=b), s.jacobian),
            ("second_derivative", lambda: ad.second_derivative(s.f, s.x, *s.args, backend=b), s.second),
        ]
    return checks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
def test_numpy_in_numpy_out_over_the_scenario_library(backend, dtype) -> None:
    for s in (s.astype(dtype) for s in SCENARIOS.values()):
        x_before = np.copy(s.x)
        for op, run, want in _scenario_checks(s, backend):
            got = run()
            where = f"{s.name} {op}"
            kind = np.ndarray if np.ndim(want) else (np.ndarray, np.generic)
            assert isinstance(got, kind), (where, type(got))
            assert np.asarray(got).dtype == dtype, (where, np.asarray(got).dtype)
            assert np.shape(got) == np.shape(want), (where, np.shape(got))
            assert_close(got, want, tol(dtype))
        np.testing.assert_array_equal(s.x, x_before)  # the user's input is left alone


# ------------------------------------------------------------ TensorFlow and other libraries in


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True)], ids=repr)
def test_tf_in_tf_out_dtype_kept(backend, dtype) -> None:
    t = _tf_dtype(dtype)
    x, a, v, w = (tf.constant(z, dtype=t) for z in (X, A, np.ones(4), np.ones(3)))
    results = {
        "gradient": (ad.gradient(f, x, backend=backend), grad_f(X)),
        "hessian": (ad.hessian(f, x, backend=backend), hess_f(X)),
        "hvp": (ad.hvp(f, x, v, backend=backend), hess_f(X) @ np.ones(4)),
        "jacobian": (ad.jacobian(curve, x, a, backend=backend), jac_curve(X)),
        "jvp": (ad.jvp(curve, x, v, a, backend=backend), jac_curve(X) @ np.ones(4)),
        "vjp": (ad.vjp(curve, x, w, a, backend=backend), np.ones(3) @ jac_curve(X)),
        "0-d x": (ad.gradient(lambda z: tf.exp(z) * z, tf.constant(0.3, dtype=t), backend=backend), 1.3 * np.exp(0.3)),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, tf.Tensor), (name, type(got))
        assert got.dtype == t, (name, got.dtype)
        assert_close(got.numpy(), want, tol(dtype))


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True)], ids=repr)
def test_torch_in_torch_out(backend) -> None:
    torch = pytest.importorskip("torch")
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor(X, dtype=dtype, requires_grad=True)
        got = ad.gradient(f, x, backend=backend)
        # x requires grad: torch records the call, whose derivatives TensorFlow gives (see test_foreign_values)
        assert isinstance(got, torch.Tensor) and got.dtype == dtype and got.grad_fn is not None
        assert_close(got.detach().numpy(), grad_f(X), tol(np.float32 if dtype == torch.float32 else np.float64))
        jac = ad.jacobian(curve, x.detach(), torch.tensor(A, dtype=dtype), backend=backend)
        assert isinstance(jac, torch.Tensor) and jac.dtype == dtype
        assert_close(jac.numpy(), jac_curve(X), 1e-5)
        assert x.requires_grad and x.grad is None  # the user's tensor is left alone
        np.testing.assert_array_equal(x.detach().numpy(), X.astype(x.detach().numpy().dtype))


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True)], ids=repr)
def test_jax_in_jax_out(backend) -> None:
    jax = pytest.importorskip("jax")
    x32 = jax.numpy.asarray(X, dtype=jax.numpy.float32)
    got = ad.hessian(f, x32, backend=backend)
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float32
    assert_close(got, hess_f(X), 1e-5)
    with jax.enable_x64(True):
        x64 = jax.numpy.asarray(X)
    got = ad.gradient(f, x64, backend=backend)  # a float64 JAX array comes back float64, x64 off
    assert isinstance(got, jax.Array) and got.dtype == jax.numpy.float64
    assert_close(got, grad_f(X), 1e-12)
    assert not jax.config.jax_enable_x64


# ---------------------------------------------------------------------- inside the user's tf.function


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True), TensorFlow(mode="forward")], ids=repr)
def test_inside_user_tf_function(backend) -> None:
    @tf.function
    def all_at_once(x, a):
        return (
            ad.gradient(f, x, backend=backend),
            ad.jacobian(curve, x, a, backend=backend),
            ad.hessian(f, x, backend=backend),
            ad.hvp(f, x, tf.ones_like(x), backend=backend),
        )

    for dtype, x0 in ((np.float64, X), (np.float64, 2 * X), (np.float32, X)):  # new values, then a new dtype
        t = _tf_dtype(dtype)
        g, j, h, hv = all_at_once(tf.constant(x0, dtype=t), tf.constant(A, dtype=t))
        for got in (g, j, h, hv):
            assert isinstance(got, tf.Tensor) and got.dtype == t
        assert_close(g.numpy(), grad_f(x0), tol(dtype))
        assert_close(j.numpy(), jac_curve(x0), tol(dtype))
        assert_close(h.numpy(), hess_f(x0), tol(dtype))
        assert_close(hv.numpy(), hess_f(x0) @ np.ones(4), tol(dtype))


def test_disconnected_output_inside_tf_function_is_zero() -> None:
    """Inside a graph nothing can be evaluated to tell a constant f from a foreign one: zeros (module docstring)."""

    @tf.function
    def grad_of_constant(x):
        return ad.gradient(lambda z: tf.constant(3.0, dtype=tf.float64), x, backend="tensorflow")

    assert_close(grad_of_constant(tf.constant(X)).numpy(), np.zeros(4), 0)


# -------------------------------------------------------------------------------- compile=True


def _tanh_sum(x, a):
    xp = ad.array_namespace(x)
    return xp.sum(xp.tanh(xp.matmul(a, x)))


def _tanh_sum_derivatives(x: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.tanh(a @ x)
    return a.T @ (1 - y**2), a.T @ np.diag(-2 * y * (1 - y**2)) @ a


@pytest.mark.parametrize("op", ["gradient", "hessian", "hvp", "jacobian", "jvp", "vjp"])
def test_compiled_operator_never_retraces_on_new_values(op) -> None:
    traced = []

    def vector(x, a):
        traced.append(tf.is_symbolic_tensor(a))  # a Python side effect: runs only while TensorFlow traces
        return curve(x, a)

    def scalar(x, a):
        traced.append(tf.is_symbolic_tensor(a))
        return _tanh_sum(x, a)

    b = TensorFlow(compile=True)
    rng = np.random.default_rng(1)
    for i in range(3):  # new x, new seed and new constant each time
        x, a, v, w = rng.standard_normal(4), rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
        got, want = {
            "gradient": lambda x, a, v, w: (ad.gradient(scalar, x, a, backend=b), _tanh_sum_derivatives(x, a)[0]),
            "hessian": lambda x, a, v, w: (ad.hessian(scalar, x, a, backend=b), _tanh_sum_derivatives(x, a)[1]),
            "hvp": lambda x, a, v, w: (ad.hvp(scalar, x, v, a, backend=b), _tanh_sum_derivatives(x, a)[1] @ v),
            "jacobian": lambda x, a, v, w: (ad.jacobian(vector, x, a, backend=b), jac_curve(x, a)),
            "jvp": lambda x, a, v, w: (ad.jvp(vector, x, v, a, backend=b), jac_curve(x, a) @ v),
            "vjp": lambda x, a, v, w: (ad.vjp(vector, x, w, a, backend=b), w @ jac_curve(x, a)),
        }[op](x, a, v, w)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        assert_close(got, want, 1e-10)  # the new constant is used, not the first one frozen
        if i == 0:
            first = len(traced)
            assert first >= 1
    assert len(traced) == first, f"{op} retraced on new values"
    assert all(traced)  # the constant `a` reached f as a traced tensor, never as baked-in data


def test_compiled_cache_per_dtype_and_shape_and_shared_by_equal_backends() -> None:
    traced = []

    def h(x, a):
        traced.append(1)
        return _tanh_sum(x, a)

    rng = np.random.default_rng(2)
    x, a = rng.standard_normal(4), rng.standard_normal((3, 4))
    ad.gradient(h, x, a, backend=TensorFlow(compile=True))
    once = len(traced)
    got = ad.gradient(h, x.astype(np.float32), a.astype(np.float32), backend=TensorFlow(compile=True))
    assert got.dtype == np.float32 and len(traced) == 2 * once  # a new dtype traces once more
    assert_close(got, _tanh_sum_derivatives(x, a)[0], 2e-4)
    ad.gradient(h, x.astype(np.float32), a.astype(np.float32), backend=TensorFlow(compile=True))
    assert len(traced) == 2 * once  # ... and only once: an equal backend object shares the cache
    x5, a5 = rng.standard_normal(5), rng.standard_normal((3, 5))
    assert_close(ad.gradient(h, x5, a5, backend=TensorFlow(compile=True)), _tanh_sum_derivatives(x5, a5)[0], 1e-10)
    assert len(traced) == 3 * once  # a new shape traces once more


def test_compiled_python_scalar_constants_are_never_stale() -> None:
    """Python numbers are not arrays: they are part of the cache key, so each new value is correct."""
    b = TensorFlow(compile=True)
    for c in (2.0, 3.0, 2.0):
        assert_close(ad.gradient(lambda x, c: tf.reduce_sum(c * x**2), X, c, backend=b), 2 * c * X, 1e-12)


def test_closures_eager_read_every_call_compiled_frozen_variables_live() -> None:
    """Eager operators read closed-over arrays at every call; compile=True freezes a closed-over
    NumPy array at the first call (as jax.jit does, documented in API.md), while a tf.Variable is
    captured by reference and read at every call even when compiled."""
    arr, var = np.array(2.0), tf.Variable(2.0, dtype=tf.float64)

    def with_array(x):
        return tf.reduce_sum(arr * x**2)

    def with_variable(x):
        return tf.reduce_sum(var * x**2)

    eager, compiled = TensorFlow(), TensorFlow(compile=True)
    for h in (with_array, with_variable):
        assert_close(ad.gradient(h, X, backend=eager), 4 * X, 1e-12)
        assert_close(ad.gradient(h, X, backend=compiled), 4 * X, 1e-12)
    arr[...] = 3.0
    var.assign(3.0)
    assert_close(ad.gradient(with_array, X, backend=eager), 6 * X, 1e-12)
    assert_close(ad.gradient(with_array, X, backend=compiled), 4 * X, 1e-12)  # frozen at the first call
    assert_close(ad.gradient(with_variable, X, backend=eager), 6 * X, 1e-12)
    assert_close(ad.gradient(with_variable, X, backend=compiled), 6 * X, 1e-12)


def test_untraceable_function_falls_back_to_eager_with_one_warning() -> None:
    runs = []

    def g(x):
        runs.append(1)
        if float(tf.reduce_sum(x)) > 0:  # Python control flow on a value: not traceable
            return tf.reduce_sum(x**2)
        return tf.reduce_sum(x**3)

    b = TensorFlow(compile=True)
    x = np.abs(X)
    with pytest.warns(RuntimeWarning, match=r"could not be traced.*eagerly") as record:
        assert_close(ad.gradient(g, x, backend=b), 2 * x, 1e-12)
    assert len(record) == 1
    assert record[0].filename == __file__  # the warning points at the user's call
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second warning, and eager semantics from now on
        assert_close(ad.gradient(g, -x, backend=b), 3 * x**2, 1e-12)  # the other branch
        before = len(runs)
        assert_close(ad.gradient(g, x, backend=b), 2 * x, 1e-12)
        assert len(runs) == before + 1  # eager: f runs on every call


def test_function_failing_eagerly_too_raises_without_warning() -> None:
    err = ZeroDivisionError("from f")

    def g(x):
        raise err

    b = TensorFlow(compile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):
            with pytest.raises(ZeroDivisionError) as info:
                ad.gradient(g, X, backend=b)
            assert info.value is err


# ------------------------------------------------------------------------- TensorFlow's traps


TRAP_BACKENDS = [TensorFlow(), TensorFlow(mode="forward"), TensorFlow(compile=True)]


@pytest.mark.parametrize("backend", TRAP_BACKENDS, ids=repr)
def test_integer_and_bool_x_are_type_errors_naming_the_dtype(backend) -> None:
    """TensorFlow would warn and return None; NumPy integers and Python ints are refused too."""
    for x, name in ((tf.constant([1, 2]), "int32"), (np.array([1, 2]), "int64"), (tf.constant([True]), "bool")):
        with pytest.raises(TypeError, match=rf"dtype {name}\b.*floating"):
            ad.gradient(lambda z: tf.reduce_sum(z), x, backend=backend)
    with pytest.raises(TypeError, match="dtype int32"):
        ad.jacobian(lambda z: z, tf.constant([1, 2]), backend=backend)


@pytest.mark.parametrize("backend", TRAP_BACKENDS, ids=repr)
def test_non_scalar_gradient_is_an_error_not_a_sum(backend) -> None:
    """TensorFlow silently sums a non-scalar output; even shape (1,) is refused (shape () is the rule)."""
    for g, shape in (
        (lambda x: x * 2.0, r"\(4,\)"),
        (lambda x: tf.reduce_sum(x, keepdims=True), r"\(1,\)"),
        (lambda x: tf.reshape(x, (2, 2)), r"\(2, 2\)"),
    ):
        with pytest.raises(ValueError, match=rf"scalar.*shape {shape}.*jacobian"):
            ad.gradient(g, tf.constant(X), backend=backend)


def _via_numpy(x):
    return tf.constant(np.sum(np.asarray(x) ** 2))  # TensorFlow sees a constant


def _via_dot_numpy(x):
    return tf.constant(x.numpy() ** 2)


@pytest.mark.parametrize("backend", TRAP_BACKENDS, ids=repr)
def test_output_computed_outside_tensorflow_is_an_error(backend) -> None:
    """TensorFlow would return None (or zeros by flag): a silently wrong derivative."""
    x = tf.constant(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # compile=True: the error, not a fallback warning
        for call in (
            lambda: ad.gradient(_via_numpy, x, backend=backend),
            lambda: ad.hessian(_via_numpy, x, backend=backend),
            lambda: ad.jacobian(_via_dot_numpy, x, backend=backend),
            lambda: ad.jvp(_via_dot_numpy, x, tf.ones_like(x), backend=backend),
            lambda: ad.vjp(_via_dot_numpy, x, tf.ones_like(x), backend=backend),
        ):
            with pytest.raises(ValueError, match="outside TensorFlow"):
                call()


def test_output_cut_by_stop_gradient_is_an_error() -> None:
    """Indistinguishable from the foreign case to TensorFlow, and documented so in the module."""
    with pytest.raises(ValueError, match="stop_gradient"):
        ad.gradient(lambda x: tf.reduce_sum(tf.stop_gradient(x) ** 2), X, backend="tensorflow")


@pytest.mark.parametrize("backend", [TensorFlow(), TensorFlow(compile=True)], ids=repr)
def test_output_not_a_tensorflow_tensor_is_a_type_error(backend) -> None:
    torch = pytest.importorskip("torch")
    for g, lib in (
        (lambda x: np.sum(np.asarray(x)), "numpy"),
        (lambda x: np.asarray(x) ** 2, "numpy"),
        (lambda x: torch.tensor(1.0, dtype=torch.float64), "torch"),
    ):
        with pytest.raises(TypeError, match=rf"returned a .*{lib}.*not a TensorFlow tensor"):
            ad.gradient(g, tf.constant(X), backend=backend)
    with pytest.raises(TypeError, match=r"Python float.*not an array"):  # on every engine: docs/edge-cases.md
        ad.gradient(lambda x: 3.0, tf.constant(X), backend=backend)
    with pytest.raises(TypeError, match="dtype int32"):
        ad.jacobian(lambda x: tf.cast(x, tf.int32), tf.constant(X), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
def test_unconnected_derivatives_are_zeros_never_none(backend) -> None:
    x = tf.constant(X)
    constant = tf.constant(3.0, dtype=tf.float64)
    zeros = np.zeros(4)
    results = {
        "gradient": (ad.gradient(lambda z: constant, x, backend=backend), np.zeros(4)),
        "hessian of a constant": (ad.hessian(lambda z: constant, x, backend=backend), np.zeros((4, 4))),
        "hessian of a linear f": (ad.hessian(lambda z: tf.reduce_sum(z), x, backend=backend), np.zeros((4, 4))),
        "hvp": (ad.hvp(lambda z: tf.reduce_sum(z), x, x, backend=backend), np.zeros(4)),
        "jacobian": (ad.jacobian(lambda z: tf.ones(2, dtype=tf.float64), x, backend=backend), np.zeros((2, 4))),
        "jvp": (ad.jvp(lambda z: tf.ones(2, dtype=tf.float64), x, x, backend=backend), np.zeros(2)),
        "vjp": (ad.vjp(lambda z: tf.ones(2, dtype=tf.float64), x, tf.ones(2, tf.float64), backend=backend), zeros),
        "partly connected": (ad.gradient(lambda z: tf.reduce_sum(z) + constant, x, backend=backend), np.ones(4)),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, tf.Tensor) and got.dtype == tf.float64, name
        assert_close(got.numpy(), want, 0)


# -------------------------------------------------------------------------------------- state


class Boom(Exception):
    pass


def test_user_exception_propagates_unchanged_and_no_tape_is_left_recording() -> None:
    record = pytest.importorskip("tensorflow.python.eager.record")  # private, only to look for leaked tapes
    err = Boom("from f")

    def g(x):
        raise err

    for backend in BACKENDS:
        for op in (ad.gradient, ad.jacobian, ad.hessian):
            with pytest.raises(Boom) as info:
                op(g, X, backend=backend)
            assert info.value is err, (backend, op.__name__)
            assert not record.could_possibly_record(), (backend, op.__name__)
        assert_close(ad.gradient(f, X, backend=backend), grad_f(X), 1e-10)  # still usable


def test_user_exception_inside_user_tf_function_keeps_its_type() -> None:
    """tf.function itself re-raises errors of traced code as a subclass with the trace added."""

    def g(x):
        raise Boom("from f")

    with pytest.raises(Boom, match="from f"):
        tf.function(lambda x: ad.gradient(g, x, backend="tensorflow"))(tf.constant(X))


@pytest.mark.parametrize("backend", BACKENDS, ids=repr)
def test_variable_x_is_differentiated_at_its_value_and_left_alone(backend) -> None:
    """Decided: a tf.Variable x is differentiated at its current value (trainable or not, no
    `watch` needed), the result is a plain tensor, and the variable keeps its value."""
    for v in (tf.Variable(X), tf.Variable(X, trainable=False)):
        g = ad.gradient(f, v, backend=backend)
        assert isinstance(g, tf.Tensor) and not isinstance(g, tf.Variable) and g.dtype == tf.float64
        assert_close(g.numpy(), grad_f(X), 1e-10)
        assert_close(ad.jacobian(curve, v, A, backend=backend).numpy(), jac_curve(X), 1e-10)
        np.testing.assert_array_equal(v.numpy(), X)
    v.assign(2 * X)  # the value at the call is what counts
    assert_close(ad.gradient(f, v, backend=backend).numpy(), grad_f(2 * X), 1e-10)


def test_variable_constant_is_not_differentiated() -> None:
    """A trainable tf.Variable passed as a constant is a constant: only x is differentiated."""
    a = tf.Variable(A)
    got = ad.jacobian(curve, X, a, backend="tensorflow")
    assert isinstance(got, np.ndarray)
    assert_close(got, jac_curve(X), 1e-12)
    assert_close(ad.gradient(lambda x, a: tf.reduce_sum(a * x), X, a[0], backend="tensorflow"), A[0], 1e-12)


# ----------------------------------------------------------------------------- array_namespace

M = np.arange(12.0).reshape(3, 4) / 10 - 0.5

# One Array API program per line (AutoGraph parses lambdas by line), each run on NumPy as the reference.
NAMESPACE_CASES = {
    "sin": lambda xp, x, m: xp.sin(x),
    "exp_tanh": lambda xp, x, m: xp.exp(xp.tanh(m)),
    "abs_sqrt_log": lambda xp, x, m: xp.log(xp.sqrt(xp.abs(x))),
    "log1p_log2_log10": lambda xp, x, m: xp.log1p(xp.abs(x)) + xp.log2(xp.abs(x)) + xp.log10(xp.abs(x)),
    "trunc": lambda xp, x, m: xp.trunc(3 * x),
    "sign_round": lambda xp, x, m: xp.sign(x) * xp.round(2 * x),
    "add": lambda xp, x, m: xp.add(m, x),
    "subtract_scalar": lambda xp, x, m: xp.subtract(1, x),
    "multiply": lambda xp, x, m: xp.multiply(2, x),
    "divide": lambda xp, x, m: xp.divide(x, 4.0),
    "pow": lambda xp, x, m: xp.pow(x, 2),
    "pow_base": lambda xp, x, m: xp.pow(2.0, x),
    "maximum": lambda xp, x, m: xp.maximum(x, 0.5),
    "minimum": lambda xp, x, m: xp.minimum(m, x),
    "atan2": lambda xp, x, m: xp.atan2(x, 1.5),
    "hypot": lambda xp, x, m: xp.hypot(x, 2.0),
    "logaddexp": lambda xp, x, m: xp.logaddexp(x, 0.5),
    "floor_divide": lambda xp, x, m: xp.floor_divide(x, 0.5),
    "remainder": lambda xp, x, m: xp.remainder(x, 0.5),
    "clip": lambda xp, x, m: xp.clip(x, min=-1.0, max=1.0),
    "clip_min": lambda xp, x, m: xp.clip(x, min=0.0),
    "greater": lambda xp, x, m: xp.greater(x, 0.5),
    "equal": lambda xp, x, m: xp.equal(x, 0.3),
    "logical_and": lambda xp, x, m: xp.logical_and(x > 0, x < 1),
    "isnan": lambda xp, x, m: xp.isnan(xp.where(x > 0, x, xp.nan)),
    "sum": lambda xp, x, m: xp.sum(m),
    "sum_axis": lambda xp, x, m: xp.sum(m, axis=0),
    "sum_axes": lambda xp, x, m: xp.sum(m, axis=(0, 1)),
    "sum_keepdims": lambda xp, x, m: xp.sum(m, axis=1, keepdims=True),
    "prod": lambda xp, x, m: xp.prod(x),
    "mean": lambda xp, x, m: xp.mean(m, axis=-1),
    "max": lambda xp, x, m: xp.max(m, axis=0),
    "min_keepdims": lambda xp, x, m: xp.min(m, keepdims=True),
    "var": lambda xp, x, m: xp.var(m, axis=1),
    "std": lambda xp, x, m: xp.std(m, correction=1),
    "all": lambda xp, x, m: xp.all(x > -2),
    "any": lambda xp, x, m: xp.any(m > 0.4, axis=1),
    "argmax": lambda xp, x, m: xp.argmax(m),
    "argmax_axis": lambda xp, x, m: xp.argmax(m, axis=0),
    "argmax_keepdims": lambda xp, x, m: xp.argmax(m, keepdims=True),
    "argmin_keepdims": lambda xp, x, m: xp.argmin(m, axis=1, keepdims=True),
    "argsort": lambda xp, x, m: xp.argsort(x),
    "sort": lambda xp, x, m: xp.sort(m, axis=0, descending=True),
    "cumulative_sum": lambda xp, x, m: xp.cumulative_sum(m, axis=1, include_initial=True),
    "matrix @ vector": lambda xp, x, m: xp.matmul(m, x),
    "vector @ matrix": lambda xp, x, m: xp.matmul(m[:, 0], m),
    "vector @ vector": lambda xp, x, m: xp.matmul(x, x),
    "matrix @ matrix": lambda xp, x, m: xp.matmul(m, xp.matrix_transpose(m)),
    "batch @ vector": lambda xp, x, m: xp.matmul(xp.stack([m, 2 * m]), x),
    "vector @ batch": lambda xp, x, m: xp.matmul(m[:, 0], xp.stack([m, 2 * m])),
    "tensordot": lambda xp, x, m: xp.tensordot(m, x, axes=1),
    "vecdot": lambda xp, x, m: xp.vecdot(m, x),
    "einsum": lambda xp, x, m: xp.einsum("ij,j->i", m, x),
    "reshape": lambda xp, x, m: xp.reshape(m, (4, 3)),
    "reshape_infer": lambda xp, x, m: xp.reshape(m, (2, -1)),
    "permute_dims": lambda xp, x, m: xp.permute_dims(m, (1, 0)),
    "expand_squeeze": lambda xp, x, m: xp.squeeze(xp.expand_dims(x, axis=1), axis=1),
    "flip": lambda xp, x, m: xp.flip(m, axis=1),
    "roll": lambda xp, x, m: xp.roll(m, 2),
    "stack": lambda xp, x, m: xp.stack([x, 2 * x], axis=1),
    "concat": lambda xp, x, m: xp.concat([m, m], axis=1),
    "concat_flat": lambda xp, x, m: xp.concat([m, x], axis=None),
    "unstack": lambda xp, x, m: xp.unstack(m)[1],
    "broadcast_to": lambda xp, x, m: xp.broadcast_to(x, (2, 4)),
    "moveaxis": lambda xp, x, m: xp.moveaxis(xp.reshape(m, (3, 2, 2)), 0, -1),
    "tile": lambda xp, x, m: xp.tile(x, (2,)),
    "tril_triu": lambda xp, x, m: xp.tril(m) + xp.triu(m, k=2),
    "where": lambda xp, x, m: xp.where(x > 0, x, -x),
    "where_scalar": lambda xp, x, m: xp.where(x > 0, x, 0.0),
    "index": lambda xp, x, m: m[1],
    "index_column": lambda xp, x, m: m[:, 2],
    "slices": lambda xp, x, m: m[::2, 1:3],
    "negative_index": lambda xp, x, m: x[-1],
    "ellipsis": lambda xp, x, m: m[..., 0],
    "newaxis": lambda xp, x, m: x[None, :, None],
    "reversed": lambda xp, x, m: x[::-1],
    "asarray": lambda xp, x, m: xp.asarray([1.0, 2.0]),
    "asarray_float32": lambda xp, x, m: xp.asarray([1.0, 2.0], dtype=xp.float32),
    "zeros": lambda xp, x, m: xp.zeros((2, 3)),
    "ones_float32": lambda xp, x, m: xp.ones(3, dtype=xp.float32),
    "full": lambda xp, x, m: xp.full((2,), 2.5),
    "full_int": lambda xp, x, m: xp.full((2,), 2),
    "zeros_like": lambda xp, x, m: xp.zeros_like(m),
    "ones_like": lambda xp, x, m: xp.ones_like(x),
    "full_like": lambda xp, x, m: xp.full_like(x, 3.0),
    "eye": lambda xp, x, m: xp.eye(3),
    "eye_offset": lambda xp, x, m: xp.eye(3, 4, k=1),
    "arange": lambda xp, x, m: xp.arange(5),
    "arange_float": lambda xp, x, m: xp.arange(0.0, 1.0, 0.25),
    "arange_dtype": lambda xp, x, m: xp.arange(3, dtype=x.dtype),
    "linspace": lambda xp, x, m: xp.linspace(0, 1, 5),
    "linspace_open": lambda xp, x, m: xp.linspace(0.0, 1.0, 4, endpoint=False),
    "meshgrid": lambda xp, x, m: xp.meshgrid(x, m[:, 0], indexing="ij")[1],
    "astype": lambda xp, x, m: xp.astype(x, xp.float32),
    "result_type": lambda xp, x, m: xp.zeros(1, dtype=xp.result_type(x, xp.float32)),
}


def _namespace_program(x, m):
    xp = ad.array_namespace(x)
    return {name: case(xp, x, m) for name, case in NAMESPACE_CASES.items()}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_array_namespace_matches_numpy_eagerly_and_in_tf_function(dtype) -> None:
    x, m = X.astype(dtype), M.astype(dtype)
    want = _namespace_program(x, m)  # array-api-compat's NumPy namespace: the reference
    t = _tf_dtype(dtype)
    eager = _namespace_program(tf.constant(x), tf.constant(m))
    traced = tf.function(_namespace_program)(tf.constant(x), tf.constant(m))
    for how, results in (("eager", eager), ("tf.function", traced)):
        for name, got in results.items():
            where = f"{how} {name}"
            assert isinstance(got, tf.Tensor), where
            w = np.asarray(want[name])
            assert tuple(got.shape) == w.shape, (where, tuple(got.shape), w.shape)
            assert got.dtype.as_numpy_dtype == w.dtype, (where, got.dtype, w.dtype)
            if w.dtype.kind == "f":
                assert_close(got.numpy(), w, tol(w.dtype) / 10)
            else:
                np.testing.assert_array_equal(got.numpy(), w, err_msg=where)
    assert eager["sin"].dtype == t


def test_array_namespace_is_one_object_for_tensors_and_variables() -> None:
    from abstractad.backends.tensorflow import namespace

    xp = ad.array_namespace(tf.constant(X))
    assert xp is namespace() is ad.array_namespace(tf.Variable(X)) is ad.array_namespace(tf.constant(X), 2.0)
    assert_close(xp.sum(tf.Variable(X) * 2.0).numpy(), 2 * X.sum(), 1e-12)
    with pytest.raises(TypeError, match="mixed"):
        ad.array_namespace(tf.constant(X), X)


def test_array_namespace_names_a_missing_function() -> None:
    xp = ad.array_namespace(tf.constant(X))
    with pytest.raises(AttributeError, match=r"(?i)tensorflow.*'not_a_function'"):
        xp.not_a_function  # noqa: B018
