"""Every public name of abstractad (and abstractad.testing), used the way users use it: checked by
mypy, strict (tests/typing/check.py, run by .ci/run and tests/test_typing.py), never collected by
pytest. It runs too, on finite differences: ``python tests/typing/public_api.py`` (SciPy for Sparse)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import abstractad as ad
from abstractad import testing

x = np.array([1.0, 2.0, 3.0])
v = np.ones(3)
w = np.ones(2)
FD = "finitediff"


def f(z: Any) -> Any:
    xp = ad.array_namespace(z)
    return xp.sum(xp.sin(z) * z**2)


def g(z: Any, a: Any) -> Any:
    return a @ ad.array_namespace(z).tanh(z)


def with_aux(z: Any) -> tuple[Any, str]:
    return f(z), "aux"


a = np.arange(6.0).reshape(2, 3)

# First order.
out: Any = ad.jvp(g, x, v, a, backend=FD)
out = ad.vjp(g, x, w, a, backend=FD)
y, t = ad.value_and_jvp(g, x, v, a, backend=FD)
y, t = ad.value_and_vjp(g, x, w, a, backend=FD)
d: Any = ad.derivative(lambda s: s**3, 2.0, backend=FD)
y, d = ad.value_and_derivative(lambda s: s**3, 2.0, backend=FD)
out = ad.gradient(f, x, backend=ad.backends.FiniteDiff())
y, out = ad.value_and_gradient(f, x, backend=FD)
(y, aux), out = ad.value_and_gradient(with_aux, x, backend=FD, has_aux=True)
out = ad.jacobian(g, x, a, backend=FD, chunk_size=2)
y, out = ad.value_and_jacobian(g, x, a, backend=FD)
df: Callable[..., Any] = ad.grad(f, backend=FD)
out = df(x)
vdf: Callable[..., Any] = ad.value_and_grad(f, backend=FD, has_aux=False)
y, out = vdf(x)

# Second order.
out = ad.hessian(f, x, backend=FD)
out = ad.hvp(f, x, v, backend=FD)
y, out, h = ad.value_gradient_and_hessian(f, x, backend=FD)
d = ad.second_derivative(lambda s: s**3, 2.0, backend=FD)

# Higher order.
series: tuple[Any, ...] = ad.taylor(f, x, v, order=2, backend=FD)
out = ad.laplacian(f, x, backend=FD)

# Lazy operators.
J: ad.JacobianOperator = ad.lazy_jacobian(g, x, a, backend=FD)
shape: tuple[int, int] = J.shape
out = J @ v
out = J.T @ w
out = J.matvec(v)
out = J.rmatvec(w)
out = J.to_dense()
H: ad.HessianOperator = ad.lazy_hessian(f, x, backend=FD)
out = H @ v
out = H.to_dense()
out = ad.JacobianOperator(g, x, a, backend=FD).value
out = ad.HessianOperator(f, x, backend=FD).dtype

# Sparsity.
pattern: Any = ad.jacobian_sparsity(g, x, a, backend=FD)
pattern = ad.hessian_sparsity(f, x, backend=FD)

# Prepared operators.
prepared: ad.Prepared = ad.prepare("gradient", f, x, backend=FD)
out = prepared(x)
prepared = ad.prepare(ad.jacobian, g, x, a, backend=FD)
out = prepared(x, a)


# Backends: built in, written here, registered, resolved.
class Cube(ad.Backend):
    name = "cube-example"

    def pushforward(self, f: Callable[..., Any], x: Any, v: Any) -> tuple[Any, Any]:
        h = 1e-20
        y = f(x + 1j * h * v)
        return np.real(y), np.imag(y) / h


ad.register_backend("cube-example", Cube)
backend: ad.Backend = ad.resolve_backend("cube-example")
backend = ad.resolve_backend(None, x)
names: list[str] = ad.known_backends()
names = ad.installed_backends()
out = ad.gradient(f, x, backend=Cube())
out = ad.gradient(f, x, backend=ad.backends.SecondOrder(ad.backends.FiniteDiff(), Cube()))
out = ad.hessian(f, x, backend=ad.backends.SecondOrder(FD, FD))
out = ad.jacobian(g, x, a, backend=ad.backends.Sparse(ad.backends.FiniteDiff()))

# Mixing engines.
inner: Callable[..., Any] = ad.differentiate_with(f, backend=FD)
out = ad.gradient(inner, x, backend=FD)

# Cross-checking and benchmarks.
report: ad.CheckReport = ad.check(f, x, backends=[FD, Cube()], operators=("gradient",), rtol=1e-5)
ok: bool = report.ok
verdict: str = report.verdict
table: str = report.table()
as_dict: dict[str, Any] = report.to_dict()
report.raise_for_failure()
bench: Callable[..., ad.BenchReport] = ad.benchmark  # runs for seconds: checked, not called here

# Errors and warnings users catch or filter.
try:
    ad.gradient(f, x, backend="torch")
except ad.MissingEngineError as e:
    message: str = str(e)
except ImportError:
    pass
caught: tuple[type[Warning], ...] = (ad.CompileFallbackWarning, ad.EagerWarning, ad.FiniteDifferenceDefaultWarning)
with warnings.catch_warnings():
    for category in caught:
        warnings.simplefilter("ignore", category)

# abstractad.testing, for backend authors.
scenario: testing.Scenario = testing.SCENARIOS["sum_sin_sq"]
tangent, cotangent = scenario.seeds()
reference: np.ndarray = scenario.jvp(tangent)
out = ad.gradient(scenario.f, scenario.x, *scenario.args, backend=FD)
library: list[testing.Scenario] = testing.scenarios(dtypes=(np.float64,))
testing.assert_backend_correct(Cube(), dtypes=(np.float64,), second_order=False)
problems = [testing.tridiagonal, testing.laplace2d, testing.brusselator, testing.rosenbrock_chain, testing.energy2d]

version: str = ad.__version__
public: list[str] = ad.__all__
