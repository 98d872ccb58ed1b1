"""Test scenarios with analytic derivatives, shared by abstractad's tests and by backend authors.

Each :class:`Scenario` is a function written once against ``ad.array_namespace`` (so it runs on
every engine), a point, constants, and its derivatives computed by hand in NumPy.

>>> import abstractad as ad
>>> from abstractad.testing import SCENARIOS
>>> s = SCENARIOS["sum_sin_sq"]
>>> import numpy as np
>>> bool(np.allclose(ad.gradient(s.f, s.x, *s.args, backend="finitediff"), s.gradient))
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._arrays import array_namespace


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A function with its point, constants and analytic references (float64 NumPy)."""

    name: str
    f: Callable[..., Any]
    x: Any
    args: tuple[Any, ...] = ()
    value: Any = None
    jacobian: Any = None  # shape f(x).shape + x.shape
    hessian: Any = None  # scalar f only, shape x.shape + x.shape
    second: Any = None  # scalar x only: f''(x)

    @property
    def scalar_out(self) -> bool:
        return bool(np.shape(self.value) == ())

    @property
    def scalar_in(self) -> bool:
        return bool(np.shape(self.x) == ())

    @property
    def gradient(self) -> Any:
        return self.jacobian if self.scalar_out else None

    def astype(self, dtype: Any) -> Scenario:
        """The same scenario at `dtype` (references stay float64)."""
        cast = np.dtype(dtype).type
        x = cast(self.x) if self.scalar_in and not isinstance(self.x, np.ndarray) else np.asarray(self.x, dtype)
        args = tuple(np.asarray(a, dtype) if isinstance(a, np.ndarray) else a for a in self.args)
        return dataclasses.replace(self, x=x, args=args, name=f"{self.name}[{np.dtype(dtype).name}]")

    def seeds(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A tangent (shape of x) and a cotangent (shape of f(x)), random but reproducible."""
        rng = np.random.default_rng(seed)
        dtype = np.asarray(self.x).dtype
        v = rng.standard_normal(np.shape(self.x)).astype(dtype)
        w = rng.standard_normal(np.shape(self.value)).astype(dtype)
        return v, w

    def jvp(self, v: Any) -> np.ndarray:
        m, n = int(np.size(self.value)), int(np.size(self.x))
        out: np.ndarray = (np.reshape(self.jacobian, (m, n)) @ np.reshape(v, n)).reshape(np.shape(self.value))
        return out

    def vjp(self, w: Any) -> np.ndarray:
        m, n = int(np.size(self.value)), int(np.size(self.x))
        out: np.ndarray = (np.reshape(w, m) @ np.reshape(self.jacobian, (m, n))).reshape(np.shape(self.x))
        return out

    def hvp(self, v: Any) -> np.ndarray:
        n = int(np.size(self.x))
        out: np.ndarray = (np.reshape(self.hessian, (n, n)) @ np.reshape(v, n)).reshape(np.shape(self.x))
        return out

    def __repr__(self) -> str:
        return f"Scenario({self.name})"


def _sum_sin_sq(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def _rosenbrock(x: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosenbrock_derivatives(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.size
    g = np.zeros(n)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    h = np.zeros((n, n))
    idx = np.arange(n - 1)
    h[idx, idx] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    h[idx + 1, idx + 1] += 200.0
    h[idx, idx + 1] = h[idx + 1, idx] = -400.0 * x[:-1]
    return g, h


def _affine_tanh(x: Any, a: Any, b: Any) -> Any:
    xp = array_namespace(x)
    return xp.matmul(a, xp.tanh(x)) + b


def _matrix_quadratic(x: Any, b: Any) -> Any:
    xp = array_namespace(x)
    return xp.sum(xp.matmul(x, b) ** 2)


def _curve(t: Any) -> Any:
    xp = array_namespace(t)
    return xp.stack([xp.cos(t), xp.sin(t), t**2])


def _exp_times(t: Any) -> Any:
    xp = array_namespace(t)
    return xp.exp(t) * t


def _cube(x: Any) -> Any:
    return x**3


def _outer(x: Any) -> Any:
    return x[:, None] * x[None, :]


def _build() -> dict[str, Scenario]:
    rng = np.random.default_rng(1234)
    out: list[Scenario] = []

    x = rng.uniform(-1.5, 1.5, 5)
    grad = np.cos(x) * x**2 + 2 * x * np.sin(x)
    hess = np.diag((2 - x**2) * np.sin(x) + 4 * x * np.cos(x))
    out.append(Scenario("sum_sin_sq", _sum_sin_sq, x, (), np.sum(np.sin(x) * x**2), grad, hess))

    x = rng.uniform(-1.0, 1.0, 4)
    g, h = _rosenbrock_derivatives(x)
    value = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    out.append(Scenario("rosenbrock", _rosenbrock, x, (), value, g, h))

    x, a, b = rng.standard_normal(3), rng.standard_normal((4, 3)), rng.standard_normal(4)
    out.append(Scenario("affine_tanh", _affine_tanh, x, (a, b), a @ np.tanh(x) + b, a * (1 - np.tanh(x) ** 2)[None, :]))

    x, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    bbt = b @ b.T
    hess = 2 * np.einsum("ik,jl->ijkl", np.eye(2), bbt)
    out.append(Scenario("matrix_quadratic", _matrix_quadratic, x, (b,), np.sum((x @ b) ** 2), 2 * x @ bbt, hess))

    t = np.float64(0.7)
    out.append(
        Scenario(
            "curve",
            _curve,
            t,
            (),
            np.array([np.cos(t), np.sin(t), t**2]),
            np.array([-np.sin(t), np.cos(t), 2 * t]),
            second=np.array([-np.cos(t), -np.sin(t), 2.0]),
        )
    )

    t = np.float64(0.3)
    out.append(
        Scenario(
            "exp_times",
            _exp_times,
            t,
            (),
            np.exp(t) * t,
            np.float64((1 + t) * np.exp(t)),
            np.float64((2 + t) * np.exp(t)),
            np.float64((2 + t) * np.exp(t)),
        )
    )

    x = rng.standard_normal((2, 2))
    jac = np.einsum("ik,jl->ijkl", np.eye(2), np.eye(2)) * (3 * x**2)[:, :, None, None]
    out.append(Scenario("cube_matrix", _cube, x, (), x**3, jac))

    x = rng.standard_normal(3)
    eye = np.eye(3)
    jac = np.einsum("ik,j->ijk", eye, x) + np.einsum("i,jk->ijk", x, eye)
    out.append(Scenario("outer", _outer, x, (), np.outer(x, x), jac))
    return {s.name: s for s in out}


SCENARIOS: dict[str, Scenario] = _build()
"""Every scenario by name, at float64."""


# ---------------------------------------------------------------------------- sparse problems
#
# Functions with structured Jacobians and Hessians, at any size: the sparse tests and benchmarks
# run them. The docstrings give each pattern and its optimal number of colors.


def tridiagonal(x: Any) -> Any:
    """Second differences with zero boundary values plus a cubic: ``J = tridiag(1, -2, 1) + diag(3x²)``.
    Tridiagonal: 3 colors (columns, rows or star) are optimal.

    >>> import numpy as np, abstractad as ad
    >>> ad.jacobian_sparsity(tridiagonal, np.zeros(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])
    """
    xp = array_namespace(x)
    inner = x[:-2] - 2 * x[1:-1] + x[2:]
    return xp.concat([-2 * x[:1] + x[1:2], inner, x[-2:-1] - 2 * x[-1:]]) + x**3


def laplacian2d(u: Any) -> Any:
    """The periodic 5-point Laplacian of the 2-D grid `u` (any array library)."""
    xp = array_namespace(u)
    return xp.roll(u, 1, axis=0) + xp.roll(u, -1, axis=0) + xp.roll(u, 1, axis=1) + xp.roll(u, -1, axis=1) - 4 * u


def laplace2d(x: Any) -> Any:
    """The periodic 5-point Laplacian plus a cubic, on a square grid given as a flat vector of
    ``side**2`` values: 5 nonzeros per row; 5 colors are optimal (for ``side`` a multiple of 5).

    >>> import numpy as np, abstractad as ad
    >>> int(ad.jacobian_sparsity(laplace2d, np.zeros(25)).sum(axis=1).max())
    5
    """
    xp = array_namespace(x)
    side = math.isqrt(int(x.shape[0]))
    u = xp.reshape(x, (side, side))
    return xp.reshape(laplacian2d(u) + u**3, (-1,))


def brusselator(x: Any, alpha: float = 0.1) -> Any:
    """A Brusselator-like reaction-diffusion right-hand side: `x` of shape (N, N, 2) holds the two
    species u and v, interleaved. Each output couples the 5-point neighbourhood of its species
    with the other species at the same point: 6 nonzeros per row, a lower bound on the colors.

    >>> import numpy as np, abstractad as ad
    >>> int(ad.jacobian_sparsity(brusselator, np.zeros((5, 5, 2))).sum(axis=1).max())
    6
    """
    xp = array_namespace(x)
    u, v = x[..., 0], x[..., 1]
    du = 1 + u * u * v - 4.4 * u + alpha * laplacian2d(u)
    dv = 3.4 * u - u * u * v + alpha * laplacian2d(v)
    return xp.stack([du, dv], axis=-1)


def rosenbrock_chain(x: Any) -> Any:
    """The chained Rosenbrock function: a tridiagonal Hessian (3 colors in a star coloring).

    >>> import numpy as np, abstractad as ad
    >>> ad.hessian_sparsity(rosenbrock_chain, np.zeros(3)).toarray().astype(int)
    array([[1, 1, 0],
           [1, 1, 1],
           [0, 1, 1]])
    """
    xp = array_namespace(x)
    return xp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def energy2d(x: Any) -> Any:
    """A discrete Dirichlet energy plus a quartic on the periodic square grid of the flat vector `x`:
    the Hessian has the 5-point pattern.

    >>> import numpy as np, abstractad as ad
    >>> int(ad.hessian_sparsity(energy2d, np.zeros(25)).sum(axis=1).max())
    5
    """
    xp = array_namespace(x)
    side = math.isqrt(int(x.shape[0]))
    u = xp.reshape(x, (side, side))
    return xp.sum((xp.roll(u, 1, axis=0) - u) ** 2 + (xp.roll(u, 1, axis=1) - u) ** 2) + xp.sum(u**4) / 4


def scenarios(dtypes: tuple[Any, ...] = (np.float64, np.float32)) -> list[Scenario]:
    """Every scenario at each of `dtypes`."""
    return [s.astype(d) for d in dtypes for s in SCENARIOS.values()]


def assert_backend_correct(
    backend: Any,
    *,
    dtypes: tuple[Any, ...] = (np.float64, np.float32),
    second_order: bool = True,
    rtol: float | None = None,
) -> None:
    """The conformance test for a backend: every operator on every scenario against the analytic answers.

    Raises an AssertionError listing every failing (scenario, operator) with its error. Run it on a
    new backend before publishing it; ``second_order=False`` for a backend that cannot nest itself.

    >>> from abstractad.testing import assert_backend_correct
    >>> assert_backend_correct("finitediff")
    """
    from ._backend import resolve
    from ._check import default_tolerance

    b = resolve(backend)
    failures = []
    for s in scenarios(dtypes):
        dtype = np.asarray(s.x).dtype.name
        for op, run, want in _scenario_checks(s, b, second_order):
            tol = rtol if rtol is not None else 10 * default_tolerance(b, dtype, op)
            failure = _compare(s, op, run, want, tol)
            if failure is not None:
                failures.append(failure)
    if failures:
        raise AssertionError(f"{b!r} failed {len(failures)} checks:\n  " + "\n  ".join(failures))


def _scenario_checks(s: Scenario, b: Any, second_order: bool) -> list[tuple[str, Callable[..., Any], Any]]:
    """``(operator, run it, the analytic answer)`` for each operator that applies to scenario `s`."""
    from . import _first_order, _second_order

    v, w = s.seeds()
    checks: list[tuple[str, Callable[..., Any], Any]] = [
        ("jvp", lambda: _first_order.jvp(s.f, s.x, v, *s.args, backend=b), s.jvp(v)),
        ("vjp", lambda: _first_order.vjp(s.f, s.x, w, *s.args, backend=b), s.vjp(w)),
        ("jacobian", lambda: _first_order.jacobian(s.f, s.x, *s.args, backend=b), s.jacobian),
    ]
    if s.scalar_out and not s.scalar_in:
        checks.append(("gradient", lambda: _first_order.gradient(s.f, s.x, *s.args, backend=b), s.gradient))
        if second_order:
            checks.append(("hessian", lambda: _second_order.hessian(s.f, s.x, *s.args, backend=b), s.hessian))
            checks.append(("hvp", lambda: _second_order.hvp(s.f, s.x, v, *s.args, backend=b), s.hvp(v)))
    if s.scalar_in:
        checks.append(("derivative", lambda: _first_order.derivative(s.f, s.x, *s.args, backend=b), s.jacobian))
        if second_order:
            second = lambda: _second_order.second_derivative(s.f, s.x, *s.args, backend=b)  # noqa: E731
            checks.append(("second_derivative", second, s.second))
    return checks


def _compare(s: Scenario, op: str, run: Callable[..., Any], want: Any, tol: float) -> str | None:
    """The failure of one check (an error, a wrong shape or dtype, a value off by more than `tol`), or None."""
    try:
        got = np.asarray(run())
    except Exception as e:  # collected by the caller, which reports every failure at once
        return f"{s.name} {op}: {type(e).__name__}: {e}"
    want = np.asarray(want)
    if got.shape != want.shape:
        return f"{s.name} {op}: shape {got.shape}, expected {want.shape}"
    if got.dtype != np.asarray(s.x).dtype:
        return f"{s.name} {op}: dtype {got.dtype}, expected {np.asarray(s.x).dtype}"
    err = float(np.max(np.abs(got - want), initial=0.0))
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    if not err <= tol * scale:
        return f"{s.name} {op}: max error {err:.2e} > {tol:.1e} x {scale:.3g}"
    return None
