"""The generic layer: names, registry, errors, dtypes, constants, and the user's data left alone."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _support import BACKENDS, assert_close, total

import abstractad as ad

FD = ad.backends.FiniteDiff


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=None)


def test_import_loads_no_engine() -> None:
    out = _run_python(
        """
        import sys, numpy as np
        import abstractad as ad, abstractad.backends
        ad.gradient(lambda x: (x ** 2).sum(), np.ones(3), backend="finitediff")
        loaded = [m for m in ("jax", "torch", "tensorflow", "autograd") if m in sys.modules]
        print(loaded)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "engine, extra", [("jax", "jax"), ("torch", "torch"), ("tensorflow", "tensorflow"), ("autograd", "autograd")]
)
def test_missing_engine_names_the_extra(engine: str, extra: str) -> None:
    out = _run_python(
        f"""
        import sys, numpy as np
        sys.modules[{engine!r}] = None   # as if it were not installed
        import abstractad as ad
        try:
            ad.gradient(lambda x: (x ** 2).sum(), np.ones(3), backend={engine!r})
        except ImportError as e:
            print(type(e).__name__, isinstance(e, ad.MissingEngineError), e)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MissingEngineError True")
    assert f"pip install 'abstractad[{extra}]'" in out.stdout


def test_unknown_backend_lists_known() -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'nope'.*finitediff.*jax"):
        ad.gradient(lambda x: x.sum(), np.ones(2), backend="nope")


def test_bad_backend_argument() -> None:
    with pytest.raises(TypeError, match="backend= takes"):
        ad.gradient(lambda x: x.sum(), np.ones(2), backend=3)


def test_aliases() -> None:
    g = ad.gradient(lambda x: (x**2).sum(), np.array([1.0, 2.0]), backend="fd")
    assert_close(g, [2.0, 4.0], 1e-7)


def test_backend_without_primitive_is_refused() -> None:
    class Empty(ad.Backend):
        name = "empty"

    with pytest.raises(TypeError, match="neither pushforward nor pullback"):
        Empty()


def test_register_backend_by_name() -> None:
    class Squares(ad.Backend):
        def pushforward(self, f, x, v):
            return FD().pushforward(f, x, v)

    ad.register_backend("squares-test", Squares)
    assert "squares-test" in ad.known_backends()
    assert_close(ad.gradient(lambda x: (x**2).sum(), np.array([3.0]), backend="squares-test"), [6.0], 1e-7)
    with pytest.raises(TypeError):
        ad.register_backend("bad", object)


def test_entry_point_backend(tmp_path) -> None:
    pkg = tmp_path / "thirdparty_ad.py"
    pkg.write_text(
        "import abstractad as ad\n"
        "class ThirdParty(ad.Backend):\n"
        "    def pushforward(self, f, x, v):\n"
        "        return ad.backends.FiniteDiff().pushforward(f, x, v)\n"
    )
    dist = tmp_path / "thirdparty_ad-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-ad\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[abstractad.backends]\nthirdparty = thirdparty_ad:ThirdParty\n")
    out = _run_python(
        f"""
        import sys; sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, abstractad as ad
        g = ad.gradient(lambda x: (x ** 2).sum(), np.array([2.0]), backend="thirdparty")
        print("thirdparty" in ad.known_backends(), g)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("True [4.")


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("shape", [(2,), (1,), (2, 2)])
def test_gradient_of_non_scalar(backend_id: str, shape) -> None:
    b = BACKENDS[backend_id]()
    x = np.ones(shape)
    with pytest.raises(ValueError, match=rf"returned shape \({shape[0]},.*use jacobian"):
        ad.gradient(lambda x: x * 2.0, x, backend=b)


def test_hessian_of_non_scalar(backend_id: str) -> None:
    with pytest.raises(ValueError, match="scalar"):
        ad.hessian(lambda x: x * 2.0, np.ones(2), backend=BACKENDS[backend_id]())


@pytest.mark.parametrize("op", ["jvp", "hvp"])
def test_tangent_of_wrong_shape(backend_id: str, op: str) -> None:
    with pytest.raises(ValueError, match=r"tangent v has shape \(3,\).*\(2,\)"):
        getattr(ad, op)(lambda x: total(x**2), np.ones(2), np.ones(3), backend=BACKENDS[backend_id]())


def test_cotangent_of_wrong_shape(backend_id: str) -> None:
    with pytest.raises(ValueError, match=r"cotangent w has shape \(3,\).*f\(x\), \(2,\)"):
        ad.vjp(lambda x: x**2, np.ones(2), np.ones(3), backend=BACKENDS[backend_id]())


@pytest.mark.parametrize("x", [np.array([1, 2]), np.array([True]), 3, True], ids=["int", "bool", "pyint", "pybool"])
def test_non_float_x_is_a_type_error(backend_id: str, x) -> None:
    with pytest.raises(TypeError, match=r"dtype (int|bool)"):
        ad.gradient(lambda x: total(x**2), x, backend=BACKENDS[backend_id]())


def test_non_array_x_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="x must be an array"):
        ad.gradient(lambda x: x, "abc", backend="fd")


def test_non_scalar_x_to_derivative(backend_id: str) -> None:
    with pytest.raises(ValueError, match="scalar x"):
        ad.derivative(lambda x: x, np.ones(2), backend=BACKENDS[backend_id]())


def test_user_exception_propagates_unchanged(backend_id: str) -> None:
    class Mine(Exception):
        pass

    err = Mine("from f")

    def f(x):
        raise err

    with pytest.raises(Mine) as info:
        ad.gradient(f, np.ones(2), backend=BACKENDS[backend_id]())
    assert info.value is err


def test_bad_mode_and_fd_options() -> None:
    with pytest.raises(ValueError, match="mode"):
        ad.backends.Autograd(mode="sideways")
    with pytest.raises(ValueError, match="method"):
        FD(method="backward")
    with pytest.raises(ValueError, match="step"):
        FD(step=-1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        ad.jacobian(lambda x: x, np.ones(2), backend="fd", chunk_size=0)


# ----------------------------------------------------------------------------- arrays, dtypes, constants


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept(backend_id: str, dtype) -> None:
    x = np.array([0.5, 1.5], dtype=dtype)
    b = BACKENDS[backend_id]()
    assert ad.gradient(lambda x: total(x**2), x, backend=b).dtype == dtype
    assert ad.jacobian(lambda x: x**2, x, backend=b).dtype == dtype


def test_python_float_gives_scalars(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    d = ad.derivative(lambda t: t**3, 2.0, backend=b)
    assert isinstance(d, float) and np.ndim(d) == 0
    assert_close(d, 12.0, 1e-5)
    assert_close(ad.jacobian(lambda t: ad.array_namespace(t).stack([t, 2 * t]), 2.0, backend=b), [1.0, 2.0], 1e-6)


def test_constants_are_passed_unchanged(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    a = np.array([1.0, 2.0])
    options = {"power": 3}

    def f(x, a, options, label):
        assert label == "label" and options == {"power": 3}
        return total(a * x ** options["power"])

    x = np.array([1.0, 2.0])
    assert_close(ad.gradient(f, x, a, options, "label", backend=b), 3 * a * x**2, 1e-5)


def test_inputs_are_not_mutated(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    x, v, a = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([3.0, 4.0])
    copies = [c.copy() for c in (x, v, a)]
    ad.hvp(lambda x, a: total(a * x**3), x, v, a, backend=b)
    ad.jacobian(lambda x, a: a * x, x, a, backend=b)
    for got, want in zip((x, v, a), copies):
        np.testing.assert_array_equal(got, want)
        assert got.flags.writeable


def test_empty_input(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    jac = ad.jacobian(lambda x: x * 2.0, np.zeros(0), backend=b)
    assert jac.shape == (0, 0)


@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_jacobian_chunks(backend_id: str, chunk: int) -> None:
    b = BACKENDS[backend_id]()
    x = np.linspace(0.1, 1.0, 5)
    want = np.diag(np.cos(x))
    assert_close(ad.jacobian(lambda x: ad.array_namespace(x).sin(x), x, backend=b, chunk_size=chunk), want, 1e-5)
    h = ad.hessian(lambda x: ad.array_namespace(x).sum(ad.array_namespace(x).sin(x)), x, backend=b, chunk_size=chunk)
    if backend_id != "complex-step":
        assert_close(h, -np.diag(np.sin(x)), 1e-4)


def test_default_backend_for_numpy_is_an_ad_engine() -> None:
    g = ad.gradient(lambda x: (x**3).sum(), np.array([2.0]))
    np.testing.assert_allclose(g, [12.0], rtol=1e-12)


# ----------------------------------------------------------------------------- array_namespace


def test_array_namespace_numpy_and_autograd_boxes() -> None:
    pytest.importorskip("autograd")
    seen = []

    def f(x):
        xp = ad.array_namespace(x)
        seen.append(xp)
        return xp.sum(xp.concat([xp.sin(x), xp.pow(x, 2.0)]) * xp.ones(4))

    x = np.array([0.3, 0.7])
    g = ad.gradient(f, x, backend="autograd")
    assert_close(g, np.cos(x) + 2 * x, 1e-12)
    assert "autograd" in repr(seen[-1])
    assert ad.array_namespace(x).__name__.endswith("numpy")
    with pytest.raises(AttributeError, match="no function 'not_a_function'"):
        ad.array_namespace(ad.backends.Autograd().pullback(lambda z: ad.array_namespace(z).not_a_function(z), x))


# ----------------------------------------------------------------------------- finite differences


def test_fd_probe_rejects_functions_that_do_not_map_over_a_batch() -> None:
    # f mixes entries along the first axis: evaluating a batch in one call would be silently wrong.
    def f(x):
        return x[0] * x[1] + x[2]

    x = np.array([1.0, 2.0, 3.0])
    assert_close(ad.gradient(f, x, backend="fd"), [2.0, 1.0, 1.0], 1e-8)
    assert_close(ad.gradient(f, x, backend=FD(vectorized=False)), [2.0, 1.0, 1.0], 1e-8)


def test_fd_batches_functions_that_vectorize() -> None:
    calls = []

    def f(x):
        calls.append(x.shape)
        return np.sin(x)

    x = np.linspace(0.0, 1.0, 50)
    assert_close(ad.jacobian(f, x, backend="fd"), np.diag(np.cos(x)), 1e-8)
    assert len(calls) <= 3  # f(x), one batch of 100 points, one probe


@pytest.mark.parametrize("method, tol", [("central", 1e-7), ("forward", 1e-6), ("complex", 1e-13)])
def test_fd_hessian_accuracy(method: str, tol: float) -> None:
    # Nested differences take coarser steps: Hessians to ~1e-6 of their scale or better.
    from abstractad.testing import SCENARIOS

    s = SCENARIOS["rosenbrock"]
    h = ad.hessian(s.f, s.x, backend=FD(method=method))
    assert_close(h, s.hessian, 100 * tol if method != "complex" else 1e-6)


def test_fd_fixed_step() -> None:
    g = ad.derivative(lambda t: t**2, 1.0, backend=FD(method="forward", step=1e-3))
    assert abs(g - 2.001) < 1e-9
