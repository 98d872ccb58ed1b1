"""``ad.benchmark`` and ``abstractad bench``: every operator on every engine against the engine's best
native call, side by side in one process.

For each (problem, operator, engine, size) it times three callables on the engine's own float32
arrays: the native call (JAX and TensorFlow compiled with ``jax.jit`` / ``tf.function``, PyTorch
and autograd eager, as their users run them), abstractad's operator as users call it
(``ad.gradient(f, x, backend=...)``) and abstractad's prepared operator (``ad.prepare``). The
three are interleaved in rounds, so that drifts in machine load hit them alike; each time is the
median over rounds of a batch's mean, with the spread (interquartile range / median).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import _arrays
from ._backend import Backend, installed_backends

OPERATORS = ("gradient", "jvp", "vjp", "hvp", "jacobian", "hessian")
DENSE = ("jacobian", "hessian")
ENGINES = ("jax", "torch", "tensorflow", "autograd")


# ----------------------------------------------------------------------------- problems


def sum_sin(x):
    """A scalar function: sum(sin(x) x²)."""
    xp = _arrays.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def chain(x):
    """A vector function, each output coupling neighbours: sin(x) * roll(x, 1) + x²."""
    xp = _arrays.array_namespace(x)
    return xp.sin(x) * xp.concat([x[-1:], x[:-1]]) + x**2


def rosenbrock(x):
    """The extended Rosenbrock function."""
    xp = _arrays.array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


PROBLEMS: dict[str, Callable[[Any], Any]] = {"sum_sin": sum_sin, "chain": chain, "rosenbrock": rosenbrock}


def _problem_for(operator: str, functions: dict[str, Callable], scalar: dict[str, bool]) -> list[str]:
    """The problems an operator applies to: scalar-valued ones for gradient, hvp and hessian."""
    needs_scalar = operator in ("gradient", "hvp", "hessian")
    return [name for name in functions if scalar[name] or not needs_scalar]


# ----------------------------------------------------------------------------- engines


@dataclasses.dataclass
class Engine:
    """How one engine is benchmarked: our backend, its arrays, its native operators, its sync."""

    name: str
    backend: Backend
    to_array: Callable[[np.ndarray], Any]
    native: Callable[[str, Callable, Any], Callable[..., Any]]  # (operator, f, x) -> callable(x, *seeds)
    sync: Callable[[Any], Any] = lambda a: a


def _jax_engine() -> Engine:
    import jax
    import jax.numpy as jnp

    from .backends import Jax

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":
            return jax.jit(jax.grad(f))
        if op == "jvp":
            return jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
        if op == "vjp":
            return jax.jit(lambda x, w: jax.vjp(f, x)[1](w)[0])
        if op == "hvp":
            return jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        if op == "jacobian":
            return jax.jit(jax.jacfwd(f) if x.size <= jax.eval_shape(f, x).size else jax.jacrev(f))
        return jax.jit(jax.hessian(f))

    return Engine("jax", Jax(compile=True), jnp.asarray, native, jax.block_until_ready)


def _torch_engine() -> Engine:
    import torch

    from .backends import Torch

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":

            def gradient(x: Any) -> Any:
                leaf = x.detach().requires_grad_(True)
                return torch.autograd.grad(f(leaf), leaf)[0]

            return gradient
        if op == "jvp":
            return lambda x, v: torch.func.jvp(f, (x,), (v,))[1]
        if op == "vjp":

            def vjp(x: Any, w: Any) -> Any:
                leaf = x.detach().requires_grad_(True)
                return torch.autograd.grad(f(leaf), leaf, w)[0]

            return vjp
        if op == "hvp":
            return lambda x, v: torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
        if op == "jacobian":
            return torch.func.jacfwd(f) if x.numel() <= f(x).numel() else torch.func.jacrev(f)
        return torch.func.hessian(f)

    return Engine("torch", Torch(), torch.from_numpy, native)


def _tensorflow_engine() -> Engine:
    import tensorflow as tf

    from .backends import TensorFlow

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":

            def gradient(x: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(x)
                return tape.gradient(y, x)

            return tf.function(gradient)
        if op == "jvp":

            def jvp(x: Any, v: Any) -> Any:
                with tf.autodiff.ForwardAccumulator(x, v) as acc:
                    y = f(x)
                return acc.jvp(y)

            return tf.function(jvp)
        if op == "vjp":

            def vjp(x: Any, w: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(x)
                return tape.gradient(y, x, output_gradients=w)

            return tf.function(vjp)
        if op == "hvp":

            def hvp(x: Any, v: Any) -> Any:
                with tf.autodiff.ForwardAccumulator(x, v) as acc:
                    with tf.GradientTape() as tape:
                        tape.watch(x)
                        y = f(x)
                    g = tape.gradient(y, x)
                return acc.jvp(g)

            return tf.function(hvp)
        if op == "jacobian":

            def jacobian(x: Any) -> Any:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(x)
                return tape.jacobian(y, x)

            return tf.function(jacobian)

        def hessian(x: Any) -> Any:
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    y = f(x)
                g = inner.gradient(y, x)
            return outer.jacobian(g, x)

        return tf.function(hessian)

    return Engine("tensorflow", TensorFlow(compile=True), tf.convert_to_tensor, native)


def _autograd_engine() -> Engine:
    import autograd
    from autograd.differential_operators import make_jvp

    from .backends import Autograd

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":
            return autograd.grad(f)
        if op == "jvp":
            return lambda x, v: make_jvp(f)(x)(v)[1]
        if op == "vjp":
            return lambda x, w: autograd.make_vjp(f)(x)[0](w)
        if op == "hvp":
            return autograd.hessian_vector_product(f)
        if op == "jacobian":
            return autograd.jacobian(f)
        return autograd.hessian(f)

    return Engine("autograd", Autograd(), lambda a: a, native)


_ENGINE_FACTORIES = {
    "jax": _jax_engine,
    "torch": _torch_engine,
    "tensorflow": _tensorflow_engine,
    "autograd": _autograd_engine,
}


# ----------------------------------------------------------------------------- timing


@dataclasses.dataclass
class BenchRow:
    """One (problem, operator, engine, size): seconds per call, and ours / native."""

    problem: str
    operator: str
    engine: str
    n: int
    native: float  # seconds per call, median over rounds
    ours: float
    prepared: float
    spread: float  # (p75 - p25) / median of our prepared time, the worst of the three
    first_call: float  # seconds: our first call on a fresh function (tracing and compiling included)
    native_first_call: float
    f_calls: float  # calls of f per (unprepared) call of ours, after the first
    peak_mb: float  # peak of Python-heap allocations (NumPy included) in one prepared call
    f_time: float | None = None  # native f alone, for the cost of a gradient relative to f

    @property
    def ratio(self) -> float:
        return self.ours / self.native

    @property
    def prepared_ratio(self) -> float:
        return self.prepared / self.native

    @property
    def grad_over_f(self) -> float | None:
        return self.native / self.f_time if self.f_time else None


def _batch(fn: Callable[[], Any], target: float) -> int:
    """How many calls make a batch of about `target` seconds."""
    t = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t, 1e-7)
    return max(1, min(10_000, int(target / once)))


def _interleaved(fns: Sequence[Callable[[], Any]], rounds: int, target: float) -> list[tuple[float, float]]:
    """(median, spread) of seconds per call for each callable, timed in interleaved rounds."""
    for fn in fns:  # warm up: compile, allocate, fill caches
        for _ in range(3):
            fn()
    sizes = [_batch(fn, target) for fn in fns]
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, k, out in zip(fns, sizes, samples):
            t = time.perf_counter()
            for _ in range(k):
                fn()
            out.append((time.perf_counter() - t) / k)
    result = []
    for out in samples:
        med = statistics.median(out)
        q = np.percentile(out, [25, 75])
        result.append((med, float(q[1] - q[0]) / med if med > 0 else 0.0))
    return result


def _first_call(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _fresh(f: Callable) -> Callable:
    """A new function object with `f`'s behaviour: caches keyed by the function start empty."""

    def g(x: Any, *args: Any) -> Any:
        return f(x, *args)

    g.__name__ = getattr(f, "__name__", "f")
    return g


class _Counter:
    def __init__(self, f: Callable) -> None:
        self.f, self.calls = f, 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.f(*args)


def _case(
    engine: Engine, problem: str, f: Callable, operator: str, n: int, rounds: int, target: float, seed: int
) -> BenchRow:
    from . import _first_order, _operators, _second_order

    rng = np.random.default_rng(seed)
    dtype = np.float64 if engine.name == "autograd" else np.float32
    x = engine.to_array(rng.standard_normal(n).astype(dtype))
    y_size = int(np.size(_arrays.to_numpy(engine.sync(f(x))))) if engine.name != "autograd" else int(np.size(f(x)))
    seeds: tuple = ()
    if operator in ("jvp", "hvp"):
        seeds = (engine.to_array(rng.standard_normal(n).astype(dtype)),)
    elif operator == "vjp":
        w = rng.standard_normal(y_size).astype(dtype)
        seeds = (engine.to_array(w.reshape(()) if y_size == 1 and np.ndim(_arrays.to_numpy(f(x))) == 0 else w),)
    op = getattr(_first_order, operator, None) or getattr(_second_order, operator)
    b, sync = engine.backend, engine.sync

    fresh, fresh_native = _fresh(f), _fresh(f)
    ours_first = _first_call(lambda: sync(op(fresh, x, *seeds, backend=b)))
    native_fn = engine.native(operator, fresh_native, x)
    native_first = _first_call(lambda: sync(native_fn(x, *seeds)))
    prepared = _operators.prepare(operator, fresh, x, *seeds, backend=b)

    calls = [
        lambda: sync(native_fn(x, *seeds)),
        lambda: sync(op(fresh, x, *seeds, backend=b)),
        lambda: sync(prepared(x, *seeds)),
    ]
    (native, s1), (ours, s2), (prep, s3) = _interleaved(calls, rounds, target)

    counter = _Counter(f)
    counted = _operators.prepare(operator, counter, x, *seeds, backend=engine.backend)
    counted(x, *seeds)
    counter.calls = 0
    op(counter, x, *seeds, backend=b)
    f_calls = counter.calls

    f_time = None
    if operator == "gradient":
        f_native = _f_native(engine, fresh_native)
        f_time = _interleaved([lambda: sync(f_native(x))], rounds, target)[0][0]
    return BenchRow(
        problem,
        operator,
        engine.name,
        n,
        native,
        ours,
        prep,
        max(s1, s2, s3),
        ours_first,
        native_first,
        f_calls,
        _peak_mb(lambda: sync(prepared(x, *seeds))),
        f_time,
    )


def _f_native(engine: Engine, f: Callable) -> Callable:
    """`f` itself as the engine runs it best: compiled for JAX and TensorFlow."""
    if engine.name == "jax":
        import jax

        return jax.jit(f)
    if engine.name == "tensorflow":
        import tensorflow as tf

        return tf.function(f)
    return f


# ----------------------------------------------------------------------------- report


@dataclasses.dataclass
class BenchReport:
    """The rows of :func:`benchmark`, as a table, JSON or a plot."""

    rows: list[BenchRow]

    HEADER = (
        "problem",
        "operator",
        "engine",
        "n",
        "native µs",
        "ours µs",
        "prepared µs",
        "ours/native",
        "prepared/native",
        "spread",
        "first call ms",
        "native first ms",
        "f calls",
        "peak MB",
        "grad/f",
    )

    def _cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            out.append(
                [
                    r.problem,
                    r.operator,
                    r.engine,
                    f"{r.n:g}",
                    f"{r.native * 1e6:.1f}",
                    f"{r.ours * 1e6:.1f}",
                    f"{r.prepared * 1e6:.1f}",
                    f"{r.ratio:.2f}",
                    f"{r.prepared_ratio:.2f}",
                    f"{r.spread:.0%}",
                    f"{r.first_call * 1e3:.0f}",
                    f"{r.native_first_call * 1e3:.0f}",
                    f"{r.f_calls:g}",
                    f"{r.peak_mb:.2f}",
                    "" if r.grad_over_f is None else f"{r.grad_over_f:.1f}",
                ]
            )
        return out

    def table(self) -> str:
        """A plain-text table (Markdown)."""
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in self._cells()]
        return "\n".join(lines)

    def rich_table(self) -> Any:
        from rich.table import Table

        table = Table(title="abstractad against native calls (times per call; ratio = ours / native)")
        for h in self.HEADER:
            table.add_column(h, justify="left" if h in ("problem", "operator", "engine") else "right")
        for row, r in zip(self._cells(), self.rows):
            style = None if r.prepared_ratio <= (1.2 if r.n < 10_000 else 1.05) else "yellow"
            table.add_row(*row, style=style)
        return table

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {
                **dataclasses.asdict(r),
                "ratio": r.ratio,
                "prepared_ratio": r.prepared_ratio,
                "grad_over_f": r.grad_over_f,
            }
            for r in self.rows
        ]

    def to_json(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    def plot(self, path: str) -> None:
        """Time per call against n, log-log, one panel per operator: ours (prepared) solid, native dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        operators = list(dict.fromkeys(r.operator for r in self.rows))
        cols = min(3, len(operators))
        fig, axes = plt.subplots(
            math.ceil(len(operators) / cols),
            cols,
            figsize=(5 * cols, 4 * math.ceil(len(operators) / cols)),
            squeeze=False,
        )
        colors = dict(zip(ENGINES, ("C0", "C1", "C2", "C3")))
        for ax, operator in zip(axes.flat, operators):
            rows = [r for r in self.rows if r.operator == operator]
            for engine in dict.fromkeys(r.engine for r in rows):
                first = True
                for problem in dict.fromkeys(r.problem for r in rows):
                    sel = sorted((r for r in rows if r.engine == engine and r.problem == problem), key=lambda r: r.n)
                    if not sel:
                        continue
                    ns = [r.n for r in sel]
                    c = colors.get(engine, None)
                    ours, native = (f"{engine} prepared", f"{engine} native") if first else (None, None)
                    ax.plot(ns, [r.prepared * 1e6 for r in sel], "o-", color=c, label=ours)
                    ax.plot(ns, [r.native * 1e6 for r in sel], "x--", color=c, alpha=0.6, label=native)
                    first = False
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(operator)
            ax.set_xlabel("n")
            ax.set_ylabel("µs per call")
            ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(operators) :]:
            ax.set_visible(False)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def benchmark(
    functions: dict[str, Callable] | None = None,
    *,
    operators: Sequence[str] = OPERATORS,
    engines: Sequence[str] | None = None,
    sizes: Sequence[int] = (100, 10_000),
    max_dense: int = 1000,
    rounds: int = 7,
    target: float = 0.02,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time every operator on every engine against the engine's best native call, in one process.

    `functions` maps names to functions written against ``ad.array_namespace`` (default: a scalar
    ``sum_sin``, a vector ``chain`` and ``rosenbrock``); scalar-valued ones get gradient, hvp and
    hessian, every one gets jvp, vjp and jacobian. Dense operators (jacobian, hessian) run only up
    to n = `max_dense`. Each time is the median over `rounds` interleaved rounds of batches of about
    `target` seconds.

    >>> import abstractad as ad
    >>> report = ad.benchmark(operators=["gradient"], engines=["autograd"], sizes=[10], rounds=2, target=0.001)
    >>> [(r.operator, r.engine, r.n) for r in report.rows]
    [('gradient', 'autograd', 10), ('gradient', 'autograd', 10)]
    """
    functions = dict(functions) if functions is not None else dict(PROBLEMS)
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown:
        raise ValueError(f"benchmark: unknown operators {unknown}; choose from {list(OPERATORS)}")
    available = [e for e in ENGINES if e in installed_backends()]
    names = list(engines) if engines is not None else available
    missing = [e for e in names if e not in available]
    if missing:
        raise ValueError(f"benchmark: engines {missing} are not installed (installed: {available})")
    scalar = {name: np.ndim(fn(np.linspace(0.1, 1.0, 4))) == 0 for name, fn in functions.items()}
    rows = []
    for name in names:
        engine = _ENGINE_FACTORIES[name]()
        for operator in operators:
            for problem in _problem_for(operator, functions, scalar):
                for n in sizes:
                    if operator in DENSE and n > max_dense:
                        continue
                    if progress is not None:
                        progress(f"{name} {operator} {problem} n={n}")
                    rows.append(_case(engine, problem, functions[problem], operator, int(n), rounds, target, seed))
    return BenchReport(rows)


def count_cases(
    functions: dict[str, Callable] | None,
    operators: Iterable[str],
    engines: Sequence[str],
    sizes: Sequence[int],
    max_dense: int,
) -> int:
    functions = functions if functions is not None else PROBLEMS
    scalar = {name: np.ndim(fn(np.linspace(0.1, 1.0, 4))) == 0 for name, fn in functions.items()}
    return sum(
        1
        for _ in engines
        for op in operators
        for _ in _problem_for(op, functions, scalar)
        for n in sizes
        if not (op in DENSE and n > max_dense)
    )
