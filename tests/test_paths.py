"""The paths users take: pytrees reach the engines leaf by leaf, NumPy in and out through compiled
operators, lazy products through the backend's compilation, and the note on slow eager loops."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from _support import assert_close, installed

import abstractad as ad

ENGINES = [e for e in ("jax", "torch", "tensorflow", "autograd", "finitediff") if e == "finitediff" or installed(e)]
AD_ENGINES = [e for e in ENGINES if e != "finitediff"]


def xp_of(a: Any) -> Any:
    return ad.array_namespace(a)


def loss(p: dict, X: Any) -> Any:
    """A two-leaf model: sum(tanh(X W + b)²), W float64 (3, 2), b float32 (2,)."""
    xp = xp_of(p["W"])
    b = p["b"]
    if not type(b).__module__.startswith("autograd"):  # autograd has no derivative of astype (it promotes)
        b = xp.astype(b, p["W"].dtype)
    h = xp.tanh(xp.matmul(X, p["W"]) + b)
    return xp.sum(h * h)


def params() -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(0)
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2).astype(np.float32)}
    return p, rng.standard_normal((4, 3))


def reference_gradient(p: dict, X: np.ndarray) -> dict:
    """The analytic gradient of `loss`: with h = tanh(z), dL/dz = 2 h (1 - h²)."""
    z = X @ p["W"] + p["b"].astype(np.float64)
    h = np.tanh(z)
    dz = 2 * h * (1 - h**2)
    return {"W": X.T @ dz, "b": dz.sum(axis=0)}


class Recording(ad.backends.Autograd):
    """autograd, recording what its pullback receives as x."""

    seen: list

    def pullback(self, f: Any, x: Any) -> Any:
        type(self).seen.append(type(x))
        return super().pullback(f, x)


class Raveling(Recording):
    takes_pytrees = False


@pytest.mark.skipif(not installed("autograd"), reason="needs autograd")
@pytest.mark.parametrize(("cls", "want"), [(Recording, tuple), (Raveling, np.ndarray)])
def test_pytrees_reach_backends_that_take_them_as_tuples(cls: type, want: type) -> None:
    """takes_pytrees: the primitives get the tuple of leaves; without it, one raveled vector."""
    cls.seen = []
    p, X = params()
    g = ad.gradient(loss, p, X, backend=cls())
    assert cls.seen and all(t is want for t in cls.seen)
    ref = reference_gradient(p, X)
    assert g["W"].dtype == np.float64 and g["b"].dtype == np.float32
    assert_close(g["W"], ref["W"], 1e-12)
    assert_close(g["b"], ref["b"], 1e-5)


@pytest.mark.skipif(not installed("jax"), reason="needs JAX")
@pytest.mark.parametrize("backend", ["jax", "compiled"])
def test_no_concatenation_in_the_jaxpr(backend: str) -> None:
    """Inside the user's jit, gradient, jvp, vjp and hvp of a pytree never join its leaves."""
    import jax
    import jax.numpy as jnp

    b = ad.backends.Jax(compile=True) if backend == "compiled" else "jax"
    p = {"W": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    X = jnp.ones((4, 3))
    calls = {
        "gradient": lambda p: ad.gradient(loss, p, X, backend=b),
        "hvp": lambda p: ad.hvp(loss, p, p, X, backend=b),
        "jvp": lambda p: ad.jvp(loss, p, p, X, backend=b),
        "vjp": lambda p: ad.vjp(loss, p, jnp.ones(()), X, backend=b),
    }
    for name, call in calls.items():
        text = str(jax.make_jaxpr(call)(p))
        assert "concatenate" not in text, name
        for got, want in zip(jax.tree.leaves(call(p)), jax.tree.leaves(jax.jit(call)(p))):
            assert_close(np.asarray(got), np.asarray(want), 1e-6)


@pytest.mark.parametrize("engine", AD_ENGINES)
def test_pytree_operators_leaf_by_leaf(engine: str) -> None:
    """gradient, vjp, jvp, hvp and value_and_* of a mixed-dtype pytree on every engine: each leaf keeps
    its dtype and library (NumPy here) and agrees with the analytic answer."""
    p, X = params()
    ref = reference_gradient(p, X)
    v = {"W": np.ones((3, 2)), "b": np.ones(2, np.float32)}
    value, g = ad.value_and_gradient(loss, p, X, backend=engine)
    assert_close(value, loss(p, X), 1e-6)
    for got in (g, ad.vjp(loss, p, 1.0, X, backend=engine)):
        assert isinstance(got["W"], np.ndarray) and got["W"].dtype == np.float64 and got["b"].dtype == np.float32
        assert_close(got["W"], ref["W"], 1e-6)
        assert_close(got["b"], ref["b"], 1e-5)
    t = ad.jvp(loss, p, v, X, backend=engine)
    assert_close(t, ref["W"].sum() + ref["b"].sum(), 1e-5)
    eps = 1e-6  # the HVP against central differences of the analytic gradient
    plus = reference_gradient({k: p[k].astype(np.float64) + eps * v[k] for k in p}, X)
    minus = reference_gradient({k: p[k].astype(np.float64) - eps * v[k] for k in p}, X)
    h = ad.hvp(loss, p, v, X, backend=engine)
    assert h["W"].dtype == np.float64 and h["b"].dtype == np.float32
    for k in p:
        assert_close(h[k], (plus[k] - minus[k]) / (2 * eps), 1e-4)


@pytest.mark.parametrize("engine", AD_ENGINES)
def test_pytree_output_leaf_by_leaf(engine: str) -> None:
    """A pytree f(x) of a pytree x: jvp returns f(x)'s structure, vjp takes a cotangent of it."""

    def f(p: dict) -> dict:
        xp = xp_of(p["a"])
        return {"s": xp.sum(p["a"] * p["b"]), "v": p["a"] ** 2}

    p = {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}
    t = ad.jvp(f, p, {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}, backend=engine)
    assert_close(t["s"], 3.0 + 2.0, 1e-6)
    assert_close(t["v"], np.array([2.0, 0.0]), 1e-6)
    g = ad.vjp(f, p, {"s": np.array(1.0), "v": np.array([1.0, 1.0])}, backend=engine)
    assert_close(g["a"], np.array([3.0 + 2.0, 4.0 + 4.0]), 1e-6)
    assert_close(g["b"], np.array([1.0, 2.0]), 1e-6)
    with pytest.raises(ValueError, match="structure"):
        ad.vjp(f, p, {"s": np.array(1.0)}, backend=engine)


def compiled(engine: str) -> Any:
    return {"jax": ad.backends.Jax, "tensorflow": ad.backends.TensorFlow, "torch": ad.backends.Torch}[engine](
        compile=True
    )


COMPILING = [e for e in ("jax", "tensorflow") if installed(e)]


def sum_cubes(x: Any) -> Any:
    xp = xp_of(x)
    return xp.sum(x**3)


@pytest.mark.parametrize("engine", COMPILING)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_in_numpy_out_compiled(engine: str, dtype: Any) -> None:
    """NumPy in, NumPy out through a compiled operator, unprepared and prepared, past the first calls
    (the direct path): writable NumPy results of x's dtype, right values, the input untouched."""
    b = compiled(engine)
    x = np.linspace(-1.0, 1.0, 5).astype(dtype)
    x.flags.writeable = False
    prepared = ad.prepare("gradient", sum_cubes, x, backend=b)
    for _ in range(3):
        for g in (ad.gradient(sum_cubes, x, backend=b), prepared(x)):
            assert type(g) is np.ndarray and g.dtype == dtype and g.flags.writeable
            assert_close(g, 3 * x.astype(np.float64) ** 2, 1e-6)
        value, g = ad.value_and_gradient(sum_cubes, x, backend=b)
        assert type(value) is np.ndarray and value.shape == () and value.dtype == dtype
        assert_close(value, np.sum(x.astype(np.float64) ** 3), 1e-6)
    assert_close(x, np.linspace(-1.0, 1.0, 5), 1e-7)


@pytest.mark.parametrize("engine", COMPILING)
def test_lazy_products_compile_once_for_every_point(engine: str) -> None:
    """lazy_hessian on a compiling backend: H @ v, H.matmat and J products are compiled once per
    function and shapes and reused by new operators at new points (a Newton loop traces f once)."""
    traces = []

    def f(x: Any) -> Any:
        traces.append(1)
        xp = xp_of(x)
        return xp.sum(x**3) + x[0] * x[1]

    b = compiled(engine)
    V = np.arange(6.0).reshape(3, 2)
    counts = []
    for step in range(3):
        x = np.array([1.0, 2.0, 3.0]) + step
        H = ad.lazy_hessian(f, x, backend=b)
        dense = np.diag(6 * x) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]])
        assert_close(H @ np.ones(3), dense @ np.ones(3), 1e-10)
        assert_close(H.matmat(V), dense @ V, 1e-10)
        counts.append(len(traces))
    assert counts[0] > 0 and counts[1] == counts[0] == counts[2]

    def g(x: Any) -> Any:
        traces.append(1)
        return x**2

    traces.clear()
    for step in range(2):
        x = np.array([1.0, 2.0]) + step
        J = ad.lazy_jacobian(g, x, backend=b)
        assert_close(J @ np.ones(2), 2 * x, 1e-12)
        assert_close(J.T @ np.array([1.0, 0.0]), np.array([2 * x[0], 0.0]), 1e-12)
        assert_close(J.rmatmat(np.eye(2)), np.diag(2 * x), 1e-12)
        counts.append(len(traces))
    assert counts[-1] <= counts[-2] + 1  # a new operator runs f once, for its shape and value


@pytest.mark.parametrize("engine", [e for e in ("jax", "torch", "tensorflow") if installed(e)])
def test_lazy_matmat_is_one_batched_call(engine: str) -> None:
    """matmat evaluates f once for all its columns, not once per column (engines that batch: vmap)."""
    calls = []

    def f(x: Any) -> Any:
        calls.append(1)
        xp = xp_of(x)
        return xp.sum(xp.sin(x) * x)

    x = np.array([0.5, 1.0, 1.5, 2.0])
    H = ad.lazy_hessian(f, x, backend=engine)
    d2 = 2 * np.cos(x) - x * np.sin(x)
    calls.clear()
    assert_close(H.matmat(np.eye(4)), np.diag(d2), 1e-10)
    assert len(calls) <= 2  # vmapped: f runs once (twice where an engine evaluates the primal apart)


@pytest.mark.parametrize("engine", COMPILING)
def test_eager_note_once_per_function(engine: str) -> None:
    """After many eager calls of one function on JAX or TensorFlow: one EagerWarning that names the
    fix; none when compiled; a warnings filter silences it."""

    def f(x: Any) -> Any:
        return xp_of(x).sum(x**2)

    x = np.ones(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(250):
            ad.gradient(f, x, backend=engine)
    notes = [w for w in caught if issubclass(w.category, ad.EagerWarning)]
    fix = "Jax(compile=True)" if engine == "jax" else "TensorFlow(compile=True)"
    assert len(notes) == 1 and fix in str(notes[0].message) and notes[0].filename == __file__

    def h(x: Any) -> Any:
        return xp_of(x).sum(x**2)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ad.EagerWarning)
        for _ in range(150):
            ad.gradient(h, x, backend=engine)
    assert not caught
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(150):
            ad.gradient(h, x, backend=compiled(engine))
