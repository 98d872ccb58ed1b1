"""Property tests: random programs of elementwise functions, reductions and matrix products, at random
shapes and dtypes, differentiated by every engine.

A hypothesis strategy builds a small program (a sequence of steps over intermediate values, written
once against ``xp = ad.array_namespace(x)`` so that it runs on every engine) and a point in a safe
region. The properties: gradient, JVP, VJP, derivative and HVP of each engine agree with a reference
engine (tightly) and with finite differences (loosely); ``<w, J v> == <Jᵀ w, v>`` on each engine;
Hessian-vector products are symmetric; values equal the program run in NumPy; float32 stays float32
and close to the float64 answer; and a purely elementwise program matches its analytic derivatives.
Examples are derandomized so that CI is reproducible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from _support import BACKENDS, assert_close, installed, tolerance
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import abstractad as ad

ENGINES = ("jax", "torch", "tensorflow", "autograd", "finitediff")
_MODULE = {"finitediff": "numpy"}
# The reference every engine is compared with tightly (finite differences are only good to ~1e-7).
REFERENCE = next((e for e in ("autograd", "jax", "torch", "tensorflow") if installed(e) and e in BACKENDS), None)
FD = "finitediff"
LOW, HIGH = -1.5, 1.5  # points are drawn here: every function below is smooth and tame on it

Shape = tuple[int, ...]

# autograd warns when a derivative is identically zero (an HVP of a program linear in x): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Output seems independent of input:UserWarning")


def _engine_params(engines: Sequence[str]) -> list[Any]:
    """`engines` as pytest parameters, skipped where the engine is not installed (or filtered out by
    ABSTRACTAD_TEST_BACKENDS)."""
    return [
        pytest.param(
            e,
            marks=pytest.mark.skipif(
                not installed(_MODULE.get(e, e)) or e not in BACKENDS, reason=f"{e} is not installed or not selected"
            ),
        )
        for e in engines
    ]


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        print_blob=True,
    )


# ---------------------------------------------------------------------------- programs

# Smooth elementwise functions, bounded or slowly growing on any input: (xp, u) -> f(u).
UNARY: dict[str, Callable[[Any, Any], Any]] = {
    "sin": lambda xp, u: xp.sin(u),
    "cos": lambda xp, u: xp.cos(u),
    "tanh": lambda xp, u: xp.tanh(u),
    "gauss": lambda xp, u: xp.exp(-(u**2)),
    "exp_tanh": lambda xp, u: xp.exp(xp.tanh(u)),
    "square": lambda xp, u: u**2,
    "log1p_sq": lambda xp, u: xp.log1p(u**2),
    "sqrt1p_sq": lambda xp, u: xp.sqrt(1.0 + u**2),
    "rational": lambda xp, u: u / (1.0 + u**2),
}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


@dataclasses.dataclass(frozen=True)
class Step:
    """One step: reads earlier values by index, appends one value. `const` indexes the constants."""

    kind: str  # unary, scale, shift, binary, reduce, prod, matmul_right, matmul_left, gram
    op: str = ""
    a: int = 0
    b: int = 0
    axis: int | None = None
    c: float = 0.0
    const: int = 0


def _run(step: Step, xp: Any, vals: list[Any], consts: Sequence[Any]) -> Any:
    u = vals[step.a]
    if step.kind == "unary":
        return UNARY[step.op](xp, u)
    if step.kind == "scale":
        return step.c * u
    if step.kind == "shift":
        return u + step.c
    if step.kind == "binary":
        return BINARY[step.op](u, vals[step.b])
    if step.kind == "reduce":
        return getattr(xp, step.op)(u, axis=step.axis)
    if step.kind == "prod":  # of positive factors in [0.75, 1.25]
        return xp.prod(1.0 + 0.25 * xp.tanh(u))
    if step.kind == "matmul_right":
        return xp.matmul(u, consts[step.const])
    if step.kind == "matmul_left":
        return xp.matmul(consts[step.const], u)
    if step.kind == "gram":  # u uᵀ for a matrix, u · u for a vector
        return xp.matmul(u, xp.matrix_transpose(u) if len(u.shape) == 2 else u)
    raise AssertionError(step.kind)


def _describe(step: Step, exprs: list[str]) -> str:
    u = exprs[step.a]
    if step.kind == "unary":
        return f"{step.op}({u})"
    if step.kind == "scale":
        return f"({step.c} * {u})"
    if step.kind == "shift":
        return f"({u} + {step.c})"
    if step.kind == "binary":
        return f"({u} {step.op} {exprs[step.b]})"
    if step.kind == "reduce":
        return f"{step.op}({u}, axis={step.axis})"
    if step.kind == "prod":
        return f"prod(1 + tanh({u}) / 4)"
    if step.kind == "matmul_right":
        return f"({u} @ A{step.const})"
    if step.kind == "matmul_left":
        return f"(A{step.const} @ {u})"
    return f"gram({u})"


@dataclasses.dataclass(frozen=True)
class Program:
    """A random program with its constants and the point, seeds of one example."""

    steps: tuple[Step, ...]
    consts: tuple[np.ndarray, ...]
    x: np.ndarray
    v: np.ndarray  # a tangent, shape of x
    w: np.ndarray  # a cotangent, shape of f(x)
    out_shape: Shape
    expr: str

    @property
    def f(self) -> Callable[..., Any]:
        """The program as ``f(x, *consts)``, written once for every engine."""
        steps = self.steps

        def f(x: Any, *consts: Any) -> Any:
            xp = ad.array_namespace(x)
            vals = [x]
            for step in steps:
                vals.append(_run(step, xp, vals, consts))
            return vals[-1]

        return f

    def numpy_values(self, x: np.ndarray) -> list[np.ndarray]:
        """Every intermediate value, in NumPy float64."""
        import array_api_compat.numpy as xp

        consts = [c.astype(np.float64) for c in self.consts]
        vals: list[Any] = [np.asarray(x, dtype=np.float64)]
        for step in self.steps:
            vals.append(np.asarray(_run(step, xp, vals, consts)))
        return vals

    def __repr__(self) -> str:
        consts = ", ".join(f"A{i}={c.tolist()}" for i, c in enumerate(self.consts))
        return (
            f"Program(f(x) = {self.expr}; {consts}; x={self.x.tolist()} ({self.x.dtype}), "
            f"v={self.v.tolist()}, w={self.w.tolist()})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis prints examples with this
        printer.text(repr(self))


def _floats(dtype: Any, low: float = LOW, high: float = HIGH) -> st.SearchStrategy[float]:
    return st.floats(low, high, width=np.dtype(dtype).itemsize * 8, allow_subnormal=False)


def _array(draw: st.DrawFn, dtype: Any, shape: Shape, low: float = LOW, high: float = HIGH) -> np.ndarray:
    return np.asarray(draw(hnp.arrays(dtype, shape, elements=_floats(dtype, low, high))), dtype=dtype)


SHAPES: st.SearchStrategy[Shape] = st.one_of(
    st.just(()),
    st.tuples(st.integers(1, 6)),
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
)


@st.composite
def programs(
    draw: st.DrawFn,
    *,
    scalar: bool,
    dtype: Any = np.float64,
    shapes: st.SearchStrategy[Shape] = SHAPES,
    max_steps: int = 5,
) -> Program:
    """A random program and point: `scalar` ends it in a full reduction (for gradients and HVPs)."""
    x_shape = draw(shapes)
    shapes_: list[Shape] = [x_shape]
    exprs = ["x"]
    steps: list[Step] = []
    consts: list[np.ndarray] = []
    for _ in range(draw(st.integers(1, max_steps))):
        # Read mostly the latest values (deep compositions); shrinks towards the latest.
        a = len(shapes_) - 1 - draw(st.integers(0, len(shapes_) - 1))
        shape = shapes_[a]
        kinds = ["unary", "unary", "scale", "shift", "binary", "prod"]
        if shape:
            kinds += ["reduce", "matmul_right", "matmul_left"]
        if len(shape) in (1, 2):
            kinds.append("gram")
        kind = draw(st.sampled_from(kinds))
        if kind == "unary":
            step = Step(kind, op=draw(st.sampled_from(sorted(UNARY))), a=a)
            out = shape
        elif kind == "scale":
            step = Step(kind, a=a, c=draw(st.sampled_from([-1.5, -0.5, 0.5, 2.0])))
            out = shape
        elif kind == "shift":
            step = Step(kind, a=a, c=draw(st.sampled_from([-1.0, 0.5, 1.0])))
            out = shape
        elif kind == "binary":
            # The same shape, or one side 0-d (broadcast).
            partners = [j for j, s in enumerate(shapes_) if s == shape or s == () or shape == ()]
            b = draw(st.sampled_from(partners))
            step = Step(kind, op=draw(st.sampled_from(sorted(BINARY))), a=a, b=b)
            out = shape if shape else shapes_[b]
        elif kind == "reduce":
            axis = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1)))
            step = Step(kind, op=draw(st.sampled_from(["sum", "mean"])), a=a, axis=axis)
            out = () if axis is None else shape[:axis] + shape[axis + 1 :]
        elif kind == "prod":
            step, out = Step(kind, a=a), ()
        elif kind in ("matmul_right", "matmul_left"):
            m = draw(st.integers(1, 3))
            inner = shape[-1] if kind == "matmul_right" else shape[0]
            a_shape = (inner, m) if kind == "matmul_right" else (m, inner)
            # Entries scaled by 1/sqrt(inner) so that products stay of the size of their inputs.
            consts.append(_array(draw, dtype, a_shape, -1.0, 1.0) / np.asarray(np.sqrt(inner), dtype=dtype))
            step = Step(kind, a=a, const=len(consts) - 1)
            out = (*shape[:-1], m) if kind == "matmul_right" else (m, *shape[1:])
        else:  # gram
            step, out = Step(kind, a=a), (shape[0], shape[0]) if len(shape) == 2 else ()
        steps.append(step)
        shapes_.append(out)
        exprs.append(_describe(step, exprs))
    if scalar and shapes_[-1] != ():
        step = Step("reduce", op=draw(st.sampled_from(["sum", "mean"])), a=len(shapes_) - 1)
        steps.append(step)
        shapes_.append(())
        exprs.append(_describe(step, exprs))
    x = _array(draw, dtype, x_shape)
    program = Program(
        steps=tuple(steps),
        consts=tuple(consts),
        x=x,
        v=_array(draw, dtype, x_shape, -1.0, 1.0),
        w=_array(draw, dtype, shapes_[-1], -1.0, 1.0),
        out_shape=shapes_[-1],
        expr=exprs[-1],
    )
    # Keep intermediate values moderate (squares of Gram matrices of squares grow fast), so that
    # finite differences stay accurate to their tolerance.
    assume(all(np.all(np.abs(val) <= 30.0) for val in program.numpy_values(x)))
    return program


# ---------------------------------------------------------------------------- helpers


def _inner(a: Any, b: Any) -> float:
    return float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))


def _assert_adjoint(w: np.ndarray, jv: Any, vjp: Any, v: np.ndarray, rtol: float) -> None:
    """``<w, J v> == <Jᵀ w, v>`` to `rtol` of the size of the terms (cancellation is allowed for)."""
    lhs, rhs = _inner(w, jv), _inner(vjp, v)
    scale = max(
        1.0,
        float(np.sum(np.abs(np.asarray(w, dtype=np.float64) * np.asarray(jv, dtype=np.float64)))),
        float(np.sum(np.abs(np.asarray(vjp, dtype=np.float64) * np.asarray(v, dtype=np.float64)))),
    )
    assert abs(lhs - rhs) <= rtol * scale, f"<w, Jv> = {lhs!r} but <Jᵀw, v> = {rhs!r} (scale {scale:.3g})"


def _compare(got: Any, engine: str, want: dict[str, Any], dtype: Any, order: int, what: str) -> None:
    """`got` (from `engine`) against each of `want` (from other backends), at the looser tolerance of the two."""
    for other, ref in want.items():
        if other == engine:
            continue
        rtol = max(tolerance(engine, dtype, order), tolerance(other, dtype, order))
        try:
            assert_close(got, ref, rtol)
        except AssertionError as e:
            raise AssertionError(
                f"{what}: {engine} disagrees with {other}: {e}\n got  {got!r}\n want {ref!r}"
            ) from None


def _references(call: Callable[[str], Any]) -> dict[str, Any]:
    """The answer of the tight reference engine and of finite differences."""
    out = {FD: call(FD)}
    if REFERENCE is not None:
        out[REFERENCE] = call(REFERENCE)
    return out


def _check_dtype(got: Any, dtype: Any, what: str) -> None:
    assert np.asarray(got).dtype == np.dtype(dtype), f"{what}: dtype {np.asarray(got).dtype} for x of {dtype}"


# ---------------------------------------------------------------------------- properties


@pytest.mark.parametrize("engine", _engine_params(ENGINES))
@_settings(10)
@given(p=programs(scalar=True), data=st.data())
def test_gradient_and_hvp_agree_across_engines(engine: str, p: Program, data: st.DataObject) -> None:
    """value_and_gradient's value is f(x) in NumPy; gradient and hvp agree with the reference engine and
    with finite differences; <u, H v> == <v, H u> (the Hessian is symmetric)."""
    y, g = ad.value_and_gradient(p.f, p.x, *p.consts, backend=engine)
    assert_close(y, p.numpy_values(p.x)[-1], tolerance("exact", np.float64, 1))
    assert np.shape(g) == p.x.shape
    _check_dtype(g, np.float64, "gradient")
    assert_close(ad.gradient(p.f, p.x, *p.consts, backend=engine), g, tolerance("exact", np.float64, 1))
    _compare(g, engine, _references(lambda e: ad.gradient(p.f, p.x, *p.consts, backend=e)), np.float64, 1, "gradient")

    hv = ad.hvp(p.f, p.x, p.v, *p.consts, backend=engine)
    assert np.shape(hv) == p.x.shape
    _check_dtype(hv, np.float64, "hvp")
    _compare(hv, engine, _references(lambda e: ad.hvp(p.f, p.x, p.v, *p.consts, backend=e)), np.float64, 2, "hvp")
    u = _array(data.draw, np.float64, p.x.shape, -1.0, 1.0)
    hu = ad.hvp(p.f, p.x, u, *p.consts, backend=engine)
    _assert_adjoint(u, hv, hu, p.v, tolerance(engine, np.float64, 2))


@pytest.mark.parametrize("engine", _engine_params(ENGINES))
@_settings(12)
@given(p=programs(scalar=False))
def test_jvp_and_vjp_agree_and_are_adjoint(engine: str, p: Program) -> None:
    """jvp and vjp agree with the reference engine and with finite differences, and
    <w, J v> == <Jᵀ w, v> on the engine itself; value_and_jvp's value is f(x) in NumPy."""
    y, jv = ad.value_and_jvp(p.f, p.x, p.v, *p.consts, backend=engine)
    assert_close(y, p.numpy_values(p.x)[-1], tolerance("exact", np.float64, 1))
    vjp = ad.vjp(p.f, p.x, p.w, *p.consts, backend=engine)
    assert np.shape(jv) == p.out_shape and np.shape(vjp) == p.x.shape
    _check_dtype(jv, np.float64, "jvp")
    _check_dtype(vjp, np.float64, "vjp")
    _assert_adjoint(p.w, jv, vjp, p.v, tolerance(engine, np.float64, 1))
    refs = _references(lambda e: ad.jvp(p.f, p.x, p.v, *p.consts, backend=e))
    _compare(jv, engine, refs, np.float64, 1, "jvp")
    refs = _references(lambda e: ad.vjp(p.f, p.x, p.w, *p.consts, backend=e))
    _compare(vjp, engine, refs, np.float64, 1, "vjp")


@pytest.mark.parametrize("engine", _engine_params(ENGINES))
@_settings(8)
@given(p=programs(scalar=False, shapes=st.just(())))
def test_derivative_of_scalar_input(engine: str, p: Program) -> None:
    """derivative (x 0-d, any output) is the JVP along 1 and agrees with the reference and FD."""
    d = ad.derivative(p.f, p.x, *p.consts, backend=engine)
    assert np.shape(d) == p.out_shape
    one = np.ones((), dtype=p.x.dtype)
    assert_close(d, ad.jvp(p.f, p.x, one, *p.consts, backend=engine), tolerance(engine, np.float64, 1))
    _compare(d, engine, _references(lambda e: ad.derivative(p.f, p.x, *p.consts, backend=e)), np.float64, 1, "deriv")


@pytest.mark.parametrize("engine", _engine_params(ENGINES))
@_settings(8)
@given(p=programs(scalar=True, dtype=np.float32, max_steps=4))
def test_float32_stays_float32_and_close_to_float64(engine: str, p: Program) -> None:
    """float32 in: gradient and jvp are float32 and near the float64 answers at the same point."""
    g = ad.gradient(p.f, p.x, *p.consts, backend=engine)
    jv = ad.jvp(p.f, p.x, p.v, *p.consts, backend=engine)
    _check_dtype(g, np.float32, "gradient")
    _check_dtype(jv, np.float32, "jvp")
    ref = REFERENCE or engine
    x64, v64, consts64 = p.x.astype(np.float64), p.v.astype(np.float64), [c.astype(np.float64) for c in p.consts]
    assert_close(g, ad.gradient(p.f, x64, *consts64, backend=ref), tolerance(engine, np.float32, 1))
    assert_close(jv, ad.jvp(p.f, x64, v64, *consts64, backend=ref), tolerance(engine, np.float32, 1))


@pytest.mark.skipif(not installed("autograd"), reason="autograd is not installed")
@pytest.mark.parametrize("backend", ["autograd", "autograd-reverse", "autograd-forward"])
def test_autograd_mean_keeps_float32(backend: str) -> None:
    """autograd's VJP of mean divides by an int64 count, which NumPy 2 promotes to float64: results
    are brought back to x's dtype."""
    b = BACKENDS[backend]()
    x = np.ones(3, dtype=np.float32)
    for r in (
        ad.gradient(lambda x: ad.array_namespace(x).mean(x), x, backend=b),
        ad.hvp(lambda x: ad.array_namespace(x).mean(x**3), x, x, backend=b),
        ad.vjp(lambda x: x / np.int64(3), x, x, backend=b),
    ):
        assert r.dtype == np.float32, r.dtype


# ---------------------------------------------------------------------------- analytic


def _tanh_d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(x)
    return 1 - t**2, -2 * t * (1 - t**2)


def _exp_tanh_d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.tanh(x)
    e = np.exp(t)
    return e * (1 - t**2), e * (1 - t**2) * (1 - t**2 - 2 * t)


# First and second derivatives of each elementwise function, by hand.
ANALYTIC: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "sin": lambda x: (np.cos(x), -np.sin(x)),
    "cos": lambda x: (-np.sin(x), -np.cos(x)),
    "tanh": _tanh_d,
    "gauss": lambda x: (-2 * x * np.exp(-(x**2)), (4 * x**2 - 2) * np.exp(-(x**2))),
    "exp_tanh": _exp_tanh_d,
    "square": lambda x: (2 * x, np.full_like(x, 2.0)),
    "log1p_sq": lambda x: (2 * x / (1 + x**2), (2 - 2 * x**2) / (1 + x**2) ** 2),
    "sqrt1p_sq": lambda x: (x / np.sqrt(1 + x**2), (1 + x**2) ** -1.5),
    "rational": lambda x: ((1 - x**2) / (1 + x**2) ** 2, (2 * x**3 - 6 * x) / (1 + x**2) ** 3),
}


@pytest.mark.parametrize("engine", _engine_params(ENGINES))
@_settings(10)
@given(
    name=st.sampled_from(sorted(ANALYTIC)),
    c=_floats(np.float64, -2.0, 2.0),
    x=hnp.arrays(np.float64, SHAPES, elements=_floats(np.float64)),
    data=st.data(),
)
def test_elementwise_sum_matches_analytic(engine: str, name: str, c: float, x: np.ndarray, data: st.DataObject) -> None:
    """f(x) = c * sum(g(x)): the gradient is c g'(x) and the HVP c g''(x) v, by hand."""
    x = np.asarray(x, dtype=np.float64)
    v = _array(data.draw, np.float64, x.shape, -1.0, 1.0)

    def f(x: Any, c: float) -> Any:
        xp = ad.array_namespace(x)
        return c * xp.sum(UNARY[name](xp, x))

    d1, d2 = ANALYTIC[name](x)
    assert_close(ad.gradient(f, x, c, backend=engine), c * d1, tolerance(engine, np.float64, 1))
    assert_close(ad.hvp(f, x, v, c, backend=engine), c * d2 * v, tolerance(engine, np.float64, 2))
    if x.ndim == 0:
        assert_close(ad.second_derivative(f, x, c, backend=engine), c * d2, tolerance(engine, np.float64, 2))
