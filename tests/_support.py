"""Backends every test runs on: each installed engine, forced modes, and custom backends written here; and the
engines' shared test problem."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import numpy as np

import abstractad as ad


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class PullbackOnly(ad.Backend):
    """A backend written in one function: a pullback from autograd."""

    name = "pullback-only"

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable]:
        from autograd.core import make_vjp

        vjp, y = make_vjp(f, x)
        return y, vjp


class ComplexStep(ad.Backend):
    """A backend written in one function: the complex-step pushforward (first order only: a complex
    step cannot be nested in itself, which is why FiniteDiff(method="complex") differences its outer level)."""

    name = "complex-step"

    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        h = 1e-20
        y = f(x + 1j * h * v)
        return np.real(y), np.imag(y) / h


def _candidates() -> dict[str, Callable[[], ad.Backend]]:
    B = ad.backends
    out: dict[str, Callable[[], ad.Backend]] = {
        "finitediff": lambda: B.FiniteDiff(),
        "finitediff-forward": lambda: B.FiniteDiff(method="forward"),
        "finitediff-complex": lambda: B.FiniteDiff(method="complex"),
        "complex-step": ComplexStep,
    }
    if installed("autograd"):
        out["autograd"] = lambda: B.Autograd()
        out["autograd-forward"] = lambda: B.Autograd(mode="forward")
        out["autograd-reverse"] = lambda: B.Autograd(mode="reverse")
        out["pullback-only"] = PullbackOnly
    for engine, cls in (("jax", "Jax"), ("torch", "Torch"), ("tensorflow", "TensorFlow")):
        if installed(engine) and installed(f"abstractad.backends.{engine}"):
            out[engine] = lambda cls=cls: getattr(B, cls)()
            out[f"{engine}-forward"] = lambda cls=cls: getattr(B, cls)(mode="forward")
            out[f"{engine}-reverse"] = lambda cls=cls: getattr(B, cls)(mode="reverse")
            out[f"{engine}-compiled"] = lambda cls=cls: getattr(B, cls)(compile=True)
    only = os.environ.get("ABSTRACTAD_TEST_BACKENDS")
    if only:
        keep = set(only.split(","))
        out = {k: v for k, v in out.items() if k in keep or k.split("-")[0] in keep}
    return out


BACKENDS = _candidates()


def tolerance(backend_id: str, dtype: Any, order: int) -> float:
    """Relative tolerance (to the scale of the reference) for a backend, dtype and derivative order."""
    single = np.dtype(dtype) == np.float32
    if backend_id.startswith("finitediff-forward"):
        return (5e-2 if single else 1e-6) if order == 1 else (2e-1 if single else 1e-3)
    if backend_id.startswith("finitediff") and not backend_id.endswith("complex"):
        return (2e-2 if single else 1e-7) if order == 1 else (1e-1 if single else 1e-5)
    if backend_id.endswith("complex") or backend_id == "complex-step":
        return (1e-4 if single else 1e-12) if order == 1 else (5e-2 if single else 1e-6)
    return 2e-4 if single else 1e-10


def assert_close(got: Any, want: Any, rtol: float) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    err = float(np.max(np.abs(got - want), initial=0.0))
    assert err <= rtol * scale, f"max error {err:.3g} > {rtol:.3g} x scale {scale:.3g}"


def total(a: Any) -> Any:
    """The sum of `a` in its own library (TensorFlow tensors have no ``.sum()``)."""
    return ad.array_namespace(a).sum(a)


def raised(e: BaseException) -> str:
    """One line for a failure report: the exception, its first line, and where it was raised (the last
    frame in abstractad or its backends, else the last one)."""
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    ours = [fr for fr in frames if "abstractad" in fr.filename or "/backends/" in fr.filename]
    last = (ours or frames)[-1]
    first = str(e).splitlines()[0][:300] if str(e) else ""
    return f"raised {type(e).__name__}: {first} (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"


def engines() -> list[str]:
    """The installed engines that take ``mode=``: the first part of every ``*-forward`` id of BACKENDS
    (FiniteDiff's ``method="forward"`` is a difference scheme, not a mode)."""
    return sorted({k.split("-")[0] for k in BACKENDS if k.endswith("-forward")} - {"finitediff"})


def engine_class(engine: str) -> type[ad.Backend]:
    """The backend class of an engine of `engines()`, taken from its default entry in BACKENDS."""
    return type(BACKENDS[engine]())


# The engines' shared test problem (test_conformance, test_torch, test_jax; f and its references also
# test_tensorflow and test_cuda, at their own x): f scalar-valued, g array-valued.
X = np.array([0.3, -1.2, 2.0])
A = np.array([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
V = np.array([0.5, -1.0, 2.0])  # a tangent, shape of x
W = np.array([1.5, -0.5])  # a cotangent, shape of g(x)


def f(x: Any) -> Any:
    """sum(sin(x) x²): gradient cos(x) x² + 2x sin(x), Hessian diagonal (2 - x²) sin(x) + 4x cos(x)."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def grad_f(x: np.ndarray) -> np.ndarray:
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def hess_f(x: np.ndarray) -> np.ndarray:
    return np.diag((2 - x**2) * np.sin(x) + 4 * x * np.cos(x))


def g(x: Any, a: Any) -> Any:
    """a @ tanh(x): Jacobian a * (1 - tanh(x)²)."""
    xp = ad.array_namespace(x)
    return xp.matmul(a, xp.tanh(x))


def jac_g(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    return a * (1 - np.tanh(x) ** 2)[None, :]
