"""The edge-case catalogue of docs/edge-cases.md: one test (or a parametrized family) per line, on
every installed engine. ``test_every_catalogue_line_has_its_test`` keeps the page and this file in step."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _support import BACKENDS, assert_close, installed, total

import abstractad as ad

ENGINES = [e for e in ("jax", "torch", "tensorflow", "autograd", "finitediff") if e == "finitediff" or installed(e)]
AD_ENGINES = [e for e in ENGINES if e != "finitediff"]
RTOL = {"finitediff": 1e-6}


def xp_of(a: Any) -> Any:
    return ad.array_namespace(a)


def rtol(engine: str) -> float:
    return RTOL.get(engine, 1e-12)


# --------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("shape", [(3,), (1,), (1, 1)])
def test_non_scalar_output_to_gradient(backend_id: str, shape: tuple[int, ...]) -> None:
    """gradient and hessian need shape (); (1,) is refused too, on every backend (TF would sum)."""
    b = BACKENDS[backend_id]()
    x = np.ones(int(np.prod(shape)))
    for op in (ad.gradient, ad.value_and_gradient, ad.hessian):
        with pytest.raises(ValueError, match=r"scalar.*use jacobian"):
            op(lambda z: xp_of(z).reshape(z**2, shape), x, backend=b)


@pytest.mark.parametrize("engine", ENGINES)
def test_output_independent_of_x_gives_zeros(engine: str) -> None:
    """Zeros, not None (TensorFlow's) and not an error (PyTorch's)."""
    x = np.array([1.0, 2.0, 3.0])

    def f(z: Any) -> Any:
        xp = xp_of(z)
        return xp.sum(xp.ones_like(z))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # autograd's own "Output seems independent of input"
        assert_close(ad.gradient(f, x, backend=engine), np.zeros(3), 0.0)
        assert_close(ad.jacobian(lambda z: 0 * z + 1, x, backend=engine), np.zeros((3, 3)), 0.0)
        assert_close(ad.hessian(lambda z: xp_of(z).sum(z), x, backend=engine), np.zeros((3, 3)), 1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_tangents_give_exact_zeros(engine: str) -> None:
    """J 0, 0 J and H 0 are exactly zero; so are the zero columns among nonzero ones of a product."""
    x = np.array([0.3, -1.2, 2.0, 0.01, 5.0])
    w = np.array([0.28403001, -0.48048417, -0.27834476, 1e3, 1e-3])

    def f(z: Any) -> Any:  # a weighted sum: rounding would show in a difference of equal points
        xp = xp_of(z)
        return xp.sum(xp.sin(z) * z**2 * xp.asarray(w))

    def g(z: Any) -> Any:
        return xp_of(z).sin(z) * z[0]

    zero = np.zeros(5)
    assert np.all(np.asarray(ad.jvp(g, x, zero, backend=engine)) == 0)
    assert np.all(np.asarray(ad.vjp(g, x, zero, backend=engine)) == 0)
    assert np.all(np.asarray(ad.hvp(f, x, zero, backend=engine)) == 0)
    columns = np.stack([zero, np.eye(5)[1], zero]).T
    jv = np.asarray(ad.lazy_jacobian(g, x, backend=engine) @ columns)
    assert np.all(jv[:, [0, 2]] == 0)
    assert_close(jv[:, 1], np.cos(x[1]) * x[0] * np.eye(5)[1], rtol(engine))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("out", [lambda z: 1.0, lambda z: 2, lambda z: [1.0, z[0]], lambda z: {"a": 0.5}])
def test_python_number_output_is_a_type_error(engine: str, out: Any) -> None:
    """A Python number cannot carry a derivative (float(x) on torch or TF would give zeros)."""
    with pytest.raises(TypeError, match=r"Python (float|int).*not an array"):
        ad.jacobian(out, np.array([1.0, 2.0]), backend=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_list_tuple_and_dict_outputs_are_pytrees(engine: str) -> None:
    x = np.array([1.0, 2.0, 3.0])
    J = ad.jacobian(lambda z: [z[0] * z[1], (z[2] ** 2, z)], x, backend=engine)
    assert_close(J[0], np.array([2.0, 1.0, 0.0]), rtol(engine))
    assert_close(J[1][0], np.array([0.0, 0.0, 6.0]), rtol(engine))
    assert_close(J[1][1], np.eye(3), rtol(engine))
    y, g = ad.value_and_jacobian(lambda z: {"s": xp_of(z).sum(z**2)}, x, backend=engine)
    assert_close(y["s"], 14.0, 0.0)
    assert_close(g["s"], 2 * x, rtol(engine))


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("x", [np.arange(3), np.ones(2, dtype=bool), 3, True, np.int32(2)])
def test_integer_and_bool_x_are_type_errors(backend_id: str, x: Any) -> None:
    with pytest.raises(TypeError, match="cannot be differentiated: pass a floating-point"):
        ad.gradient(lambda z: total(z * 1.0), x, backend=BACKENDS[backend_id]())


def _energy(z: Any) -> Any:
    """A real function of complex z, not holomorphic: sum |z|² + Re(z) Im(z)."""
    xp = xp_of(z)
    return xp.sum(xp.real(z * xp.conj(z)) + xp.real(z) * xp.imag(z))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_complex_x_follows_one_convention(engine: str, dtype: Any) -> None:
    """gradient = df/da + i df/db (steepest ascent; JAX and autograd natively return its conjugate)."""
    z = np.array([1.0 + 1.0j, -0.5 + 2.0j], dtype=dtype)
    a, b = z.real, z.imag
    want = (2 * a + b) + 1j * (2 * b + a)
    tol = 1e-4 if dtype == np.complex64 or engine == "finitediff" else 1e-12
    g = ad.gradient(_energy, z, backend=engine)
    assert g.dtype == dtype
    assert_close(g, want, tol)
    assert_close(
        ad.gradient(lambda u: xp_of(u).sum(xp_of(u).abs(u) ** 2), np.array([1 + 1j]), backend=engine),
        np.array([2 + 2j]),
        tol,
    )
    # jvp is the real-linear pushforward, vjp its adjoint for <a, b> = Re(sum(conj(a) b)).
    v = np.array([0.3 - 0.2j, 1.0 + 0.5j], dtype=dtype)
    assert_close(ad.jvp(_energy, z, v, backend=engine), np.real(np.sum(np.conj(want) * v)), tol)
    assert_close(ad.vjp(_energy, z, np.asarray(2.0, dtype=z.real.dtype), backend=engine), 2 * want, tol)
    # the Jacobian of a real f of complex x has the outputs' gradients as rows
    J = ad.jacobian(lambda u: xp_of(u).stack([_energy(u), xp_of(u).real(u[0])]), z, backend=engine)
    assert_close(J, np.stack([want, np.array([1.0, 0.0])]), tol)
    # a holomorphic f: jvp is f'(z) v
    assert_close(ad.jvp(lambda u: u**2, z, v, backend=engine), 2 * z * v, tol)
    for op in (ad.hessian, ad.derivative, ad.second_derivative):
        with pytest.raises(TypeError, match=r"complex|real scalar x"):
            op(_energy, z if op is ad.hessian else z[0], backend=engine)
    with pytest.raises(TypeError, match=r"complex to complex|real-linear map"):
        ad.jacobian(lambda u: u**2, z, backend=engine)
    assert_close(
        ad.hvp(_energy, z, v, backend=engine), 2 * v + np.conj(v) * 1j, 1e-3 if engine == "finitediff" else tol
    )


def _as_complex(a: Any) -> Any:
    """A real array as complex, differentiably on every engine (TensorFlow does not promote)."""
    if type(a).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.complex(a, tf.zeros_like(a))
    return a + 0j


@pytest.mark.parametrize("engine", ENGINES)
def test_complex_output_of_real_x(engine: str) -> None:
    x = np.array([0.5, 1.5])
    tol = 1e-6 if engine == "finitediff" else 1e-12

    def f(z: Any) -> Any:
        return _as_complex(xp_of(z).exp(z)) * 1j + _as_complex(z)

    want = 1j * np.exp(x) + 1
    assert_close(ad.jvp(f, x, np.ones(2), backend=engine), want, tol)
    assert_close(ad.jacobian(f, x, backend=engine), np.diag(want), tol)
    w = np.array([1.0 - 2.0j, 0.5j])
    assert_close(ad.vjp(f, x, w, backend=engine), np.real(np.conj(w) * want), tol)
    with pytest.raises(TypeError, match="cotangent w must be complex"):
        ad.vjp(f, x, np.ones(2), backend=engine)
    with pytest.raises(TypeError, match="real-valued f"):
        ad.gradient(lambda z: xp_of(z).sum(f(z)), x, backend=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_lazy_operators_over_complex_numbers(engine: str) -> None:
    """SciPy's LinearOperator is complex-linear, a complex derivative only real-linear: a TypeError."""
    for x, f in ((np.array([1 + 1j]), _energy), (np.array([1.0]), lambda z: _as_complex(z) * 1j)):
        with pytest.raises(TypeError, match="lazy operators need real x and f"):
            J = ad.lazy_jacobian(f, x, backend=engine)
            J @ np.ones(1)
    with pytest.raises(TypeError, match="lazy operators need real x and f"):
        ad.lazy_hessian(_energy, np.array([1 + 1j]), backend=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_float16(engine: str) -> None:
    """float16 in, float16 out; finite differences evaluate f in float32 (half steps have no digits)."""
    x = np.array([0.5, 1.0, 2.0], dtype=np.float16)
    g = ad.gradient(lambda z: xp_of(z).sum(xp_of(z).sin(z)), x, backend=engine)
    assert g.dtype == np.float16
    assert_close(g.astype(np.float64), np.cos(x.astype(np.float64)), 5e-3)
    J = ad.jacobian(lambda z: z**2, x, backend=engine)
    assert J.dtype == np.float16
    assert_close(J.astype(np.float64), np.diag(2 * x.astype(np.float64)), 5e-3)


@pytest.mark.parametrize("engine", ENGINES)
def test_bfloat16(engine: str) -> None:
    """JAX, PyTorch and TensorFlow differentiate bfloat16 (from NumPy/ml_dtypes, JAX or torch arrays);
    autograd and finite differences raise a TypeError that names the dtype."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.array([0.5, 1.0, 2.0], dtype=ml_dtypes.bfloat16)

    def f(z: Any) -> Any:
        return xp_of(z).sum(z**2)

    if engine in ("autograd", "finitediff"):
        with pytest.raises(TypeError, match="cannot differentiate bfloat16"):
            ad.gradient(f, x, backend=engine)
        return
    g = ad.gradient(f, x, backend=engine)
    assert g.dtype == x.dtype
    assert_close(g.astype(np.float64), 2 * x.astype(np.float64), 1e-2)
    if installed("torch"):
        import torch

        t = torch.tensor([0.5, 1.0, 2.0], dtype=torch.bfloat16)
        gt = ad.gradient(f, t, backend=engine)
        assert gt.dtype == torch.bfloat16
        assert_close(gt.float().numpy(), 2 * t.float().numpy(), 1e-2)


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_d_and_python_float(engine: str) -> None:
    for x in (np.array(0.7), 0.7, np.float64(0.7)):
        tol = 1e-6 if engine == "finitediff" else 1e-12
        g = ad.gradient(lambda z: xp_of(z).sin(z) * z, x, backend=engine)
        assert_close(g, math.sin(0.7) + 0.7 * math.cos(0.7), tol)
        assert isinstance(g, float) if type(x) is float else np.ndim(g) == 0
        assert_close(ad.derivative(lambda z: z**3, x, backend=engine), 3 * 0.49, tol)
        assert_close(ad.second_derivative(lambda z: z**3, x, backend=engine), 6 * 0.7, 1e-4 if tol > 1e-9 else tol)
        assert np.shape(ad.hessian(lambda z: z**3, x, backend=engine)) == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_arrays(engine: str) -> None:
    x = np.zeros(0)
    assert ad.gradient(lambda z: xp_of(z).sum(z**2), x, backend=engine).shape == (0,)
    assert ad.jacobian(lambda z: 2 * z, x, backend=engine).shape == (0, 0)
    assert ad.jacobian(lambda z: xp_of(z).stack([xp_of(z).sum(z)] * 2), x, backend=engine).shape == (2, 0)
    assert ad.hessian(lambda z: xp_of(z).sum(z**2), x, backend=engine).shape == (0, 0)
    assert ad.jvp(lambda z: 2 * z, x, x, backend=engine).shape == (0,)
    assert ad.vjp(lambda z: 2 * z, x, x, backend=engine).shape == (0,)


@pytest.mark.parametrize("engine", ENGINES)
def test_large_arrays(engine: str) -> None:
    """10⁶ entries through the AD engines; finite differences (2n evaluations) at 2·10⁴, whose basis is
    built chunk by chunk: memory stays bounded (the full identity would take 3.2 GB)."""
    n = 20_000 if engine == "finitediff" else 1_000_000
    x = np.linspace(-1.0, 1.0, n)
    g = ad.gradient(lambda z: xp_of(z).sum(xp_of(z).sin(z)), x, backend=engine)
    assert_close(g, np.cos(x), 1e-5 if engine == "finitediff" else 1e-12)
    if engine == "finitediff":  # finite differences over finite differences: 4n² evaluations' worth of work
        n = 5_000
        x = np.linspace(-1.0, 1.0, n)
    v = np.ones(n)
    assert_close(
        ad.hvp(lambda z: xp_of(z).sum(z**3), x, v, backend=engine), 6 * x, 1e-4 if engine == "finitediff" else 1e-12
    )


# --------------------------------------------------------------------------- functions


def _mutates(z: Any) -> Any:
    z[0] = 5.0
    return z**2


@pytest.mark.parametrize("backend_id", sorted(k for k in BACKENDS if k.split("-")[0] in ENGINES))
def test_f_that_mutates_its_input(backend_id: str) -> None:
    """Never a silent wrong answer: the engine's error with abstractad's hint (torch's forward mode
    differentiates the mutated program correctly); the user's x is never written."""
    x = np.array([1.0, 2.0, 3.0])
    try:
        J = ad.jacobian(_mutates, x, backend=BACKENDS[backend_id]())
    except (TypeError, ValueError, RuntimeError) as e:
        assert any("in place" in note for note in getattr(e, "__notes__", ())), e
    else:
        assert backend_id.startswith("torch")
        assert_close(J, np.diag([0.0, 4.0, 6.0]), 1e-12)
    assert_close(x, np.array([1.0, 2.0, 3.0]), 0.0)


# What each engine returns at the kinks, in its default mode (documented in docs/edge-cases.md).
KINKS = {
    "abs": (
        lambda xp, z: xp.sum(xp.abs(z)),
        {"jax": 1.0, "torch": 0.0, "tensorflow": 0.0, "autograd": 0.0, "finitediff": 0.0},
    ),
    "relu": (
        lambda xp, z: xp.sum(xp.maximum(z, 0.0)),
        {"jax": 0.5, "torch": 0.5, "tensorflow": 1.0, "autograd": 0.5, "finitediff": 0.5},
    ),
    "norm": (
        lambda xp, z: xp.linalg.vector_norm(z),
        {"jax": math.nan, "torch": 0.0, "tensorflow": math.nan, "autograd": math.nan, "finitediff": 0.0},
    ),
    "where-sqrt": (
        lambda xp, z: xp.sum(xp.where(z > 0, xp.sqrt(z), 0.0)),
        {"jax": math.nan, "torch": math.nan, "tensorflow": 0.0, "autograd": math.nan, "finitediff": 0.0},
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kink", sorted(KINKS))
def test_non_differentiable_points(engine: str, kink: str) -> None:
    fn, expected = KINKS[kink]
    x = -np.ones(2) if kink == "where-sqrt" else np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's invalid value in sqrt
        g = ad.gradient(lambda z: fn(xp_of(z), z), x, backend=engine)
    np.testing.assert_allclose(g, np.full(2, expected[engine]), atol=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_nan_and_inf_propagate(engine: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # NaN in x: in that entry's derivative (finite differences: wherever f(x) is NaN)
        g = ad.jacobian(lambda z: z**2, np.array([np.nan, 1.0]), backend=engine)
        assert np.isnan(g[0, 0]) and abs(g[1, 1] - 2.0) < 1e-6
        # a NaN value is returned as NaN; AD engines still give the derivative of the formula
        y, g = ad.value_and_gradient(lambda z: xp_of(z).sum(xp_of(z).log(z)), np.array([-1.0, 1.0]), backend=engine)
        assert np.isnan(y)
        assert np.all(np.isnan(g)) if engine == "finitediff" else np.allclose(g, [-1.0, 1.0])
        # an infinite derivative: inf on the AD engines, NaN from central differences (sqrt(-h))
        g = ad.gradient(lambda z: xp_of(z).sum(xp_of(z).sqrt(z)), np.array([0.0, 1.0]), backend=engine)
        assert (np.isnan(g[0]) if engine == "finitediff" else np.isposinf(g[0])) and abs(g[1] - 0.5) < 1e-6


@pytest.mark.parametrize("engine", ENGINES)
def test_other_libraries_arrays(engine: str) -> None:
    """Another library's array closed over by f: a correct result or the engine's error with the
    hint; passed as a constant (*args) it is converted to the engine's array and always works."""
    pytest.importorskip("torch")
    import torch

    x = np.array([1.0, 2.0, 3.0])
    c = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)

    def closed(z: Any) -> Any:
        return xp_of(z).sum(z * c)

    try:
        g = ad.gradient(closed, x, backend=engine)
    except (TypeError, RuntimeError) as e:
        assert any("another library" in note for note in getattr(e, "__notes__", ())), e
    else:
        assert_close(g, c.numpy(), rtol(engine))
    g = ad.gradient(lambda z, k: xp_of(z).sum(z * k), x, c, backend=engine)
    assert_close(g, c.numpy(), rtol(engine))
    n = np.array([1.0, 2.0, 3.0])
    assert_close(ad.gradient(lambda z, k: xp_of(z).sum(z * k), x, n, backend=engine), n, rtol(engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_numpy_calls_inside_f(engine: str) -> None:
    """np.* on the engine's arrays: right on autograd and FD; JAX and torch raise with the hint;
    TensorFlow cannot see through it: a NumPy result raises, a partial break is caught by ad.check."""

    def f(z: Any) -> Any:
        return np.sum(np.sin(z))

    x = np.array([0.1, 0.2])
    if engine in ("autograd", "finitediff"):
        assert_close(ad.gradient(f, x, backend=engine), np.cos(x), rtol(engine))
        return
    with pytest.raises((TypeError, RuntimeError)) as info:
        ad.gradient(f, x, backend=engine)
    if engine != "tensorflow":
        assert any("another library" in n for n in getattr(info.value, "__notes__", ()))
    if engine == "tensorflow":
        import tensorflow as tf

        def broken(z: Any) -> Any:
            return tf.reduce_sum(np.sin(z)) + tf.reduce_sum(z)  # NumPy's sin is invisible to the tape

        report = ad.check(broken, x, backends=["tensorflow", "finitediff"], operators=("gradient",))
        assert not report.ok


def test_closure_on_another_device() -> None:
    """A tensor on another device than x: torch's error with the device hint (a meta tensor stands in
    for a GPU one here; tests/test_cuda.py covers CUDA constants)."""
    torch = pytest.importorskip("torch")
    m = torch.ones(3, device="meta")
    with pytest.raises(RuntimeError) as info:
        ad.gradient(lambda z: (z * m).sum(), torch.ones(3, dtype=torch.float64), backend="torch")
    assert any("another device" in n for n in getattr(info.value, "__notes__", ()))


@pytest.mark.skipif(not installed("torch"), reason="torch is not installed")
def test_x_and_constants_on_another_device_than_the_backend() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)  # on the CPU; the backend computes on the GPU
    k = torch.tensor([3.0, 4.0], dtype=torch.float64, device="cuda")
    g = ad.gradient(lambda z, c: (z**2 * c).sum(), x, k, backend=ad.backends.Torch(device="cuda"))
    assert g.device == x.device
    assert_close(g.numpy(), 2 * x.numpy() * k.cpu().numpy(), 1e-12)


def _branchy(z: Any) -> Any:
    xp = xp_of(z)
    return xp.sum(z**2) if z[0] > 0 else xp.sum(z)


@pytest.mark.parametrize("engine", ENGINES)
def test_python_control_flow_on_values(engine: str) -> None:
    """Eager: works everywhere. compile=True: one warning, then eager. Inside the user's jax.jit or
    tf.function: the engine's error, with the hint."""
    x = np.array([1.0, 2.0])
    assert_close(ad.gradient(_branchy, x, backend=engine), 2 * x, rtol(engine))
    assert_close(ad.gradient(_branchy, -x, backend=engine), np.ones(2), rtol(engine))
    if engine in ("jax", "tensorflow"):
        cls = ad.backends.Jax if engine == "jax" else ad.backends.TensorFlow
        with pytest.warns(Warning, match="could not"):
            assert_close(ad.gradient(_branchy, x, backend=cls(compile=True)), 2 * x, 1e-12)
    if engine == "jax":
        import jax

        with pytest.raises(jax.errors.TracerBoolConversionError) as info:
            jax.jit(lambda z: ad.gradient(_branchy, z, backend="jax"))(x)
        assert any("control flow" in n for n in getattr(info.value, "__notes__", ()))
    if engine == "tensorflow":  # autograph re-raises its own error, which says to use tf.cond
        import tensorflow as tf

        with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="AutoGraph"):
            tf.function(lambda z: ad.gradient(_branchy, z, backend="tensorflow"))(tf.constant(x))


@pytest.mark.parametrize("engine", ENGINES)
def test_tensorflow_variables(engine: str) -> None:
    """A tf.Variable x is differentiated at its value (the result is a tf.Tensor); a closed-over
    trainable variable is a constant; both stay as they were."""
    tf = pytest.importorskip("tensorflow")
    v = tf.Variable(np.array([1.0, 2.0]))
    g = ad.gradient(lambda z: xp_of(z).sum(z**3), v, backend=engine)
    assert isinstance(g, tf.Tensor)
    assert_close(g.numpy(), 3 * v.numpy() ** 2, 1e-6 if engine == "finitediff" else 1e-12)
    if engine == "tensorflow":
        w = tf.Variable(np.array([2.0, 3.0]))
        gw = ad.gradient(lambda z: tf.reduce_sum(z * w), np.array([1.0, 1.0]), backend=engine)
        assert_close(gw, w.numpy(), 1e-12)
        assert w.trainable and np.all(w.numpy() == [2.0, 3.0])
    assert v.trainable and np.all(v.numpy() == [1.0, 2.0])


def test_bad_seeds(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    x = np.array([1.0, 2.0, 3.0])

    def f(z: Any) -> Any:
        return 2 * z

    with pytest.raises(ValueError, match="tangent v has shape"):
        ad.jvp(f, x, np.ones(2), backend=b)
    with pytest.raises(ValueError, match="cotangent w has shape"):
        ad.vjp(f, x, np.ones((3, 1)), backend=b)
    with pytest.raises(ValueError, match="structure of x"):
        ad.jvp(f, x, [1.0, 1.0, 1.0], backend=b)
    with pytest.raises(ValueError, match="cotangent w is a pytree"):
        ad.vjp(f, x, {"a": np.ones(3)}, backend=b)
    with pytest.raises(TypeError, match="dtype int64"):
        ad.jvp(f, x, np.ones(3, dtype=np.int64), backend=b)
    with pytest.raises(TypeError, match="dtype bool"):
        ad.hvp(lambda z: total(z**2), x, np.ones(3, dtype=bool), backend=b)
    with pytest.raises(TypeError, match="complex, but x is real"):
        ad.jvp(f, x, np.ones(3, dtype=complex), backend=b)
    with pytest.raises(TypeError, match="must be an array"):
        ad.jvp(f, x, "ones", backend=b)
    # another float precision is cast to x's (v) or f(x)'s (w) dtype
    for op, seed in ((ad.jvp, np.ones(3, np.float32)), (ad.vjp, np.ones(3, np.float32))):
        r = op(f, x, seed, backend=b)
        assert r.dtype == np.float64
        assert_close(r, 2 * np.ones(3), 1e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_user_exceptions_propagate_unchanged(engine: str) -> None:
    error = KeyError("mine")

    def f(z: Any) -> Any:
        raise error

    with pytest.raises(KeyError) as info:
        ad.gradient(f, np.ones(2), backend=engine)
    assert info.value is error  # JAX adds its own traceback note; abstractad adds none
    assert not any(note.startswith("abstractad") for note in getattr(error, "__notes__", ()))


# --------------------------------------------------------------------------- the catalogue


def test_every_catalogue_line_has_its_test() -> None:
    """Each row of docs/edge-cases.md names a test of this file that exists, and every test of
    this file is named by a row."""
    page = (Path(__file__).parent.parent / "docs" / "edge-cases.md").read_text()
    named = set(re.findall(r"`(test_\w+)`", page)) - {"test_every_catalogue_line_has_its_test"}
    defined = {
        name for name in globals() if name.startswith("test_") and name != "test_every_catalogue_line_has_its_test"
    }
    assert named, "docs/edge-cases.md names no tests"
    assert named <= defined, f"named in the docs but missing here: {sorted(named - defined)}"
    assert defined <= named, f"tests not in the catalogue: {sorted(defined - named)}"
