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
import functools
import itertools
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
PATHS = ("numpy", "mlp", "lazy", "newton_cg", "sharded", "memory")
MLP_LAYERS = (784, 1024, 128, 10)  # 0.94M parameters


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
    from ._quiet import import_tensorflow
    from .backends import TensorFlow

    tf: Any = import_tensorflow()

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

    TITLE = "abstractad against native calls (times per call; ratio = ours / native)"
    LEFT = ("problem", "operator", "engine")
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

        table = Table(title=self.TITLE)
        for h in self.HEADER:
            table.add_column(h, justify="left" if h in self.LEFT else "right")
        for row, r in zip(self._cells(), self.rows):
            table.add_row(*row, style=self._style(r))
        return table

    def _style(self, r: Any) -> str | None:
        return None if r.prepared_ratio <= (1.2 if r.n < 10_000 else 1.05) else "yellow"

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
    paths: bool | Sequence[str] = False,
    layers: Sequence[int] = MLP_LAYERS,
    batch: int = 64,
    newton_n: int = 20,
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

    ``paths=True`` (or a subset of ``PATHS``) times the paths users take instead, and returns a
    :class:`PathsReport`: NumPy in and out (at `sizes`), the gradient and hvp of a tanh MLP with
    `layers` over its parameters as a dict (`batch` inputs), a lazy Hessian's products (at the
    smallest size), ``examples/newton_cg.py --n newton_n`` per engine in a fresh process, the MLP
    gradient over 4 sharded host devices, and the MLP gradient's peak memory.

    >>> report = ad.benchmark(paths=["numpy"], engines=["autograd"], sizes=[10], rounds=1, target=0.001)
    >>> sorted({(r.path, r.engine, r.ours_call) for r in report.rows})
    [('numpy gradient', 'autograd', 'Autograd()')]
    """
    available = [e for e in ENGINES if e in installed_backends()]
    names = list(engines) if engines is not None else available
    missing = [e for e in names if e not in available]
    if missing:
        raise ValueError(f"benchmark: engines {missing} are not installed (installed: {available})")
    if paths:
        chosen = list(PATHS) if paths is True else list(paths)
        bad = [p for p in chosen if p not in PATHS]
        if bad:
            raise ValueError(f"benchmark: unknown paths {bad}; choose from {list(PATHS)}")
        return _paths_benchmark(chosen, names, sizes, layers, batch, newton_n, rounds, target, seed, progress)
    functions = dict(functions) if functions is not None else dict(PROBLEMS)
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown:
        raise ValueError(f"benchmark: unknown operators {unknown}; choose from {list(OPERATORS)}")
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


# ----------------------------------------------------------------------------- the paths users take
#
# ``benchmark(paths=True)``: not one flat engine array per call, but what users pass and get back:
# NumPy in and out, an MLP's parameters as a dict of engine arrays, a lazy Hessian's products, a
# whole Newton-CG run, a sharded pytree, and the peak memory of a gradient. Each row is ours against
# the native code a user would write for the same thing, in the same process (subprocesses where a
# cold start, a device count or a clean memory high-water mark is the point).


@dataclasses.dataclass
class PathRow:
    """One path on one engine: ours (as a user calls it, and prepared) against the native code."""

    path: str  # "numpy gradient", "mlp hvp", "lazy H @ v", ...
    engine: str
    ours_call: str  # how ours was called: the backend argument, or the user's wrapper
    problem: str
    n: int  # elements of x (parameters for the MLP)
    native: float | None  # in `unit`: seconds per call, seconds per run, or MB
    ours: float
    prepared: float | None = None
    unit: str = "s/call"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.native if self.native else None

    @property
    def prepared_ratio(self) -> float | None:
        return self.prepared / self.native if self.native and self.prepared is not None else None


class PathsReport(BenchReport):
    """The rows of ``benchmark(paths=True)``, as a table, JSON or a plot of the ratios."""

    rows: list[PathRow]  # type: ignore[assignment]

    TITLE = "the paths users take: abstractad against native code (ratio = ours / native)"
    LEFT = ("path", "engine", "ours", "problem", "note")
    HEADER = (
        "path",
        "engine",
        "ours",
        "problem",
        "n",
        "native",
        "ours time",
        "prepared",
        "ours/native",
        "prepared/native",
        "note",
    )

    def _cells(self) -> list[list[str]]:
        def value(v: float | None, unit: str) -> str:
            if v is None:
                return ""
            return {"s/call": f"{v * 1e6:.1f} µs", "s/run": f"{v:.2f} s", "MB": f"{v:.2f} MB"}[unit]

        def ratio(v: float | None) -> str:
            return "" if v is None else f"{v:.2f}"

        return [
            [
                r.path,
                r.engine,
                r.ours_call,
                r.problem,
                f"{r.n:g}",
                value(r.native, r.unit),
                value(r.ours, r.unit),
                value(r.prepared, r.unit),
                ratio(r.ratio),
                ratio(r.prepared_ratio),
                r.note,
            ]
            for r in self.rows
        ]

    def _style(self, r: Any) -> str | None:
        best = min(x for x in (r.ratio, r.prepared_ratio, 1.0) if x is not None)
        return None if best <= (1.1 if r.unit == "MB" else 1.2) else "yellow"

    def to_dict(self) -> list[dict[str, Any]]:
        return [{**dataclasses.asdict(r), "ratio": r.ratio, "prepared_ratio": r.prepared_ratio} for r in self.rows]

    def plot(self, path: str) -> None:
        """Horizontal bars of ours / native (and prepared / native) per row, with the parity line."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if r.ratio is not None]
        labels = [f"{r.path} · {r.engine} {r.ours_call} · {r.problem} n={r.n:g}" for r in rows]
        fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.2))
        at = np.arange(len(rows))
        ax.barh(at - 0.2, [r.ratio for r in rows], height=0.4, label="ours / native")
        ax.barh(at + 0.2, [r.prepared_ratio or 0.0 for r in rows], height=0.4, label="prepared / native")
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_yticks(at, labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ratio (log scale; < 1: faster or smaller than native)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def mlp_loss(params: dict[str, Any], X: Any, y: Any) -> Any:
    """Mean squared error of a tanh MLP with parameters ``{"W1", "b1", "W2", "b2", ...}``."""
    xp = _arrays.array_namespace(X)
    h = X
    depth = len(params) // 2
    for i in range(1, depth + 1):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if i < depth:
            h = xp.tanh(h)
    return xp.mean((h - y) ** 2)


def _mlp_numpy(layers: Sequence[int], batch: int, seed: int, dtype: Any = np.float32) -> tuple[dict, dict, Any, Any]:
    """(params, v, X, y) as NumPy: Glorot-scaled weights, a tangent pytree like params, one batch."""
    rng = np.random.default_rng(seed)
    params, v = {}, {}
    for i, (a, b) in enumerate(itertools.pairwise(layers), start=1):
        params[f"W{i}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
        params[f"b{i}"] = np.zeros(b, dtype)
        v[f"W{i}"] = rng.standard_normal((a, b)).astype(dtype)
        v[f"b{i}"] = rng.standard_normal(b).astype(dtype)
    X = rng.standard_normal((batch, layers[0])).astype(dtype)
    y = rng.standard_normal((batch, layers[-1])).astype(dtype)
    return params, v, X, y


def _tree_map(fn: Callable, tree: dict) -> dict:
    return {k: fn(a) for k, a in tree.items()}


def _numpy_out(name: str) -> Callable[[Any], np.ndarray]:
    """What a user writes to get a NumPy array back from the engine's result."""
    if name in ("torch", "tensorflow"):
        return lambda a: a.numpy()
    return np.asarray


def _timed_row(
    rounds: int, target: float, native: Callable, ours: Callable, prepared: Callable | None, **fields: Any
) -> PathRow:
    fns = [native, ours] + ([prepared] if prepared is not None else [])
    times = [t for t, _ in _interleaved(fns, rounds, target)]
    return PathRow(native=times[0], ours=times[1], prepared=times[2] if prepared is not None else None, **fields)


def _label(b: Backend | str) -> str:
    """How the backend argument was written: ``'torch'``, ``Torch()``, ``Jax(compile=True)``."""
    if isinstance(b, str):
        return repr(b)
    return f"{type(b).__name__}({'compile=True' if getattr(b, 'compile', False) else ''})"


def _numpy_rows(engine: Engine, sizes: Sequence[int], rounds: int, target: float, seed: int) -> list[PathRow]:
    """NumPy in, NumPy out: ``ad.gradient(f, x_np)`` against the user's own conversions around the native call."""
    from . import _first_order, _operators

    to_engine = {"jax": lambda a: a, "torch": engine.to_array, "tensorflow": engine.to_array}.get(
        engine.name, lambda a: a
    )
    out = _numpy_out(engine.name)
    backends: list[Backend | str] = [engine.backend] + (["torch"] if engine.name == "torch" else [])
    rows = []
    for problem in ("sum_sin", "rosenbrock"):
        f = PROBLEMS[problem]
        for n in sizes:
            dtype = np.float64 if engine.name == "autograd" else np.float32
            x = np.random.default_rng(seed).standard_normal(int(n)).astype(dtype)
            native_fn = engine.native("gradient", _fresh(f), engine.to_array(x))
            native = functools.partial(lambda g, x: out(g(to_engine(x))), native_fn, x)
            for b in backends:
                fresh = _fresh(f)
                rows.append(
                    _timed_row(
                        rounds,
                        target,
                        native,
                        functools.partial(_first_order.gradient, fresh, x, backend=b),
                        functools.partial(_operators.prepare("gradient", fresh, x, backend=b), x),
                        path="numpy gradient",
                        engine=engine.name,
                        ours_call=_label(b),
                        problem=problem,
                        n=int(n),
                        note=f"{np.dtype(dtype).name} NumPy",
                    )
                )
    return rows


def _mlp_natives(name: str, loss: Callable) -> tuple[Callable, Callable | None]:
    """The native (gradient, hvp) of ``loss(params, X, y)`` over the params dict, as each engine's users write it."""
    if name == "jax":
        import jax

        grad = jax.grad(loss)
        return jax.jit(grad), jax.jit(lambda p, v, X, y: jax.jvp(lambda p: grad(p, X, y), (p,), (v,))[1])
    if name == "torch":
        import torch

        def gradient(p: dict, X: Any, y: Any) -> dict:
            leaves = {k: a.detach().requires_grad_(True) for k, a in p.items()}
            return dict(zip(leaves, torch.autograd.grad(loss(leaves, X, y), list(leaves.values()))))

        def hvp(p: dict, v: dict, X: Any, y: Any) -> dict:
            return torch.func.jvp(lambda p: torch.func.grad(loss)(p, X, y), (p,), (v,))[1]

        return gradient, hvp
    if name == "tensorflow":
        import tensorflow as tf

        def tf_gradient(p: dict, X: Any, y: Any) -> dict:
            with tf.GradientTape() as tape:
                tape.watch(list(p.values()))
                value = loss(p, X, y)
            return dict(zip(p, tape.gradient(value, list(p.values()))))

        def tf_hvp(p: dict, v: dict, X: Any, y: Any) -> dict:
            with tf.autodiff.ForwardAccumulator(p, v) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(p)
                    value = loss(p, X, y)
                g = tape.gradient(value, p)
            return acc.jvp(g)

        return tf.function(tf_gradient), tf.function(tf_hvp)
    import autograd

    return autograd.grad(loss), None


def _mlp_rows(
    engine: Engine, layers: Sequence[int], batch: int, rounds: int, target: float, seed: int
) -> list[PathRow]:
    """The gradient and hvp of an MLP loss over its parameters, a dict of the engine's arrays."""
    from . import _first_order, _operators, _second_order

    dtype = np.float64 if engine.name == "autograd" else np.float32
    params, v, X, y = (
        _tree_map(engine.to_array, t) if isinstance(t, dict) else engine.to_array(t)
        for t in _mlp_numpy(layers, batch, seed, dtype)
    )
    n = sum(int(np.prod(a.shape)) for a in params.values())
    sync, b = engine.sync, engine.backend
    native_grad, native_hvp = _mlp_natives(engine.name, _fresh(mlp_loss))
    fields = dict(engine=engine.name, problem=f"tanh MLP {'-'.join(map(str, layers))}, batch {batch}", n=n)
    backends: list[Backend | str] = [b] + (["torch"] if engine.name == "torch" else [])
    rows = []
    for bk in backends:
        loss = _fresh(mlp_loss)
        ours = functools.partial(_first_order.gradient, loss, backend=bk)
        prepared = _operators.prepare("gradient", loss, params, X, y, backend=bk)
        rows.append(
            _timed_row(
                rounds,
                target,
                lambda: sync(native_grad(params, X, y)),
                functools.partial(lambda g: sync(g(params, X, y)), ours),
                functools.partial(lambda g: sync(g(params, X, y)), prepared),
                path="mlp gradient",
                ours_call=_label(bk),
                **fields,
            )
        )
    if engine.name == "jax":
        import jax

        loss = _fresh(mlp_loss)
        inside = jax.jit(lambda p, X, y: _first_order.gradient(loss, p, X, y, backend="jax"))
        rows.append(
            _timed_row(
                rounds,
                target,
                lambda: sync(native_grad(params, X, y)),
                lambda: sync(inside(params, X, y)),
                None,
                path="mlp gradient",
                ours_call="inside the user's jax.jit",
                **fields,
            )
        )
    if native_hvp is not None:
        loss = _fresh(mlp_loss)
        prepared = _operators.prepare("hvp", loss, params, v, X, y, backend=b)
        rows.append(
            _timed_row(
                rounds,
                target,
                lambda: sync(native_hvp(params, v, X, y)),
                lambda: sync(_second_order.hvp(loss, params, v, X, y, backend=b)),
                lambda: sync(prepared(params, v, X, y)),
                path="mlp hvp",
                ours_call=_label(b),
                **fields,
            )
        )
    return rows


def _lazy_rows(engine: Engine, n: int, rounds: int, target: float, seed: int) -> list[PathRow]:
    """``H = ad.lazy_hessian(f, x_np); H @ v_np``: the product alone, and building H and one product."""
    from . import _lazy

    dtype = np.float64 if engine.name == "autograd" else np.float32
    rng = np.random.default_rng(seed)
    x, v = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    f, b = _fresh(rosenbrock), engine.backend
    to_engine = engine.to_array if engine.name in ("torch", "tensorflow") else (lambda a: a)
    out = _numpy_out(engine.name)
    native_hvp = engine.native("hvp", _fresh(rosenbrock), engine.to_array(x))
    H = _lazy.lazy_hessian(f, x, backend=b)
    note = f"{np.dtype(dtype).name} NumPy"
    fields = dict(engine=engine.name, ours_call=_label(b), problem="rosenbrock", n=n, note=note)
    native = lambda: out(native_hvp(to_engine(x), to_engine(v)))  # noqa: E731
    return [
        _timed_row(rounds, target, native, lambda: H @ v, None, path="lazy H @ v", **fields),
        _timed_row(
            rounds,
            target,
            native,
            lambda: _lazy.lazy_hessian(f, x, backend=b) @ v,
            None,
            path="lazy build + H @ v",
            **fields,
        ),
    ]


def _example(name: str) -> str | None:
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", name)
    return path if os.path.exists(path) else None


def _newton_rows(engines: Sequence[str], n: int) -> list[PathRow]:
    """``examples/newton_cg.py --backend NAME --n N`` in a fresh process each (cold compile caches): its own seconds."""
    import re
    import subprocess
    import sys

    script = _example("newton_cg.py")
    if script is None:
        return []
    rows = []
    for name in engines:
        t = time.perf_counter()
        run = subprocess.run(
            [sys.executable, script, "--backend", name, "--n", str(n)], capture_output=True, text=True, timeout=600
        )
        wall = time.perf_counter() - t
        found = re.search(r"(\d+) Newton steps.*?([\d.]+) s\s*$", run.stdout, re.M)
        if run.returncode != 0 or found is None:
            raise RuntimeError(f"benchmark: newton_cg.py --backend {name} failed:\n{run.stdout}\n{run.stderr[-2000:]}")
        note = f"{found.group(1)} steps; process {wall:.1f} s with imports"
        seconds = float(found.group(2))
        rows.append(PathRow("newton_cg", name, repr(name), "rosenbrock", n, None, seconds, None, "s/run", note))
    return rows


def _child(kind: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``_child_main(kind, options)`` in a fresh interpreter; returns the rows it prints as JSON."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, **options.pop("env", {}))
    code = (
        "import json, sys; from abstractad._bench import _child_main; "
        "print(json.dumps(_child_main(*json.loads(sys.argv[1]))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps([kind, options])], capture_output=True, text=True, env=env, timeout=600
    )
    if run.returncode != 0:
        raise RuntimeError(f"benchmark: the {kind} subprocess failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _child_main(kind: str, options: dict[str, Any]) -> Any:
    if kind == "sharded":
        return _sharded(**options)
    return _memory_growth(**options)


def _sharded(layers: Sequence[int], batch: int, rounds: int, target: float, seed: int) -> list[dict[str, Any]]:
    """In a process with 4 host devices: the MLP's params sharded over a 1-D mesh, ours against native."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from . import _first_order
    from .backends import Jax

    devices = jax.devices()[:4]
    mesh = Mesh(np.array(devices), ("d",))

    def spec(a: np.ndarray) -> PartitionSpec:  # shard the last axis where it divides, else replicate
        return PartitionSpec(*([None] * (a.ndim - 1) + ["d"])) if a.shape[-1] % len(devices) == 0 else PartitionSpec()

    p_np, _, X, y = _mlp_numpy(layers, batch, seed)
    params = {k: jax.device_put(a, NamedSharding(mesh, spec(a))) for k, a in p_np.items()}
    X, y = (jax.device_put(a, NamedSharding(mesh, PartitionSpec())) for a in (X, y))
    n = sum(a.size for a in p_np.values())
    native = jax.jit(jax.grad(_fresh(mlp_loss)))

    def kept(out: dict) -> str:  # leaves whose sharding equals the input's, and those merely equivalent
        equal = sum(out[k].sharding == params[k].sharding for k in params)
        alike = sum(out[k].sharding.is_equivalent_to(params[k].sharding, params[k].ndim) for k in params)
        return f"{equal}/{len(params)} (equivalent {alike})"

    rows = []
    for b in (Jax(compile=True), Jax()):
        ours = functools.partial(
            lambda g: jax.block_until_ready(g(params, X, y)),
            functools.partial(_first_order.gradient, _fresh(mlp_loss), backend=b),
        )
        row = _timed_row(
            rounds,
            target,
            lambda: jax.block_until_ready(native(params, X, y)),
            ours,
            None,
            path="sharded gradient",
            engine="jax",
            ours_call=_label(b),
            problem=f"MLP {'-'.join(map(str, layers))} over {len(devices)} devices",
            n=n,
        )
        g, g_native = ours(), native(params, X, y)
        sharded = sum(not params[k].sharding.is_fully_replicated for k in params)
        row.note = f"sharding kept {kept(g)}, native {kept(g_native)}; {sharded} leaves sharded in"
        rows.append(dataclasses.asdict(row))
    return rows


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def _memory_growth(engine: str, who: str, layers: Sequence[int], batch: int, calls: int, seed: int) -> float:
    """MB that `calls` MLP gradients add to the resident set's high-water mark, once warm (Linux)."""
    import gc

    from . import _operators

    eng = _ENGINE_FACTORIES[engine]()
    params, _, X, y = (
        _tree_map(eng.to_array, t) if isinstance(t, dict) else eng.to_array(t) for t in _mlp_numpy(layers, batch, seed)
    )
    if who == "native":
        grad = _mlp_natives(engine, mlp_loss)[0]
        fn = lambda: eng.sync(grad(params, X, y))  # noqa: E731
    else:
        prepared = _operators.prepare("gradient", mlp_loss, params, X, y, backend=eng.backend)
        fn = lambda: eng.sync(prepared(params, X, y))  # noqa: E731
    for _ in range(3):
        fn()
    gc.collect()
    baseline = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark to the current resident set
        fh.write("5")
    for _ in range(calls):  # each result is dropped before the next call
        fn()
    return _rss_mb("VmHWM") - baseline


def _memory_rows(engines: Sequence[str], layers: Sequence[int], batch: int, seed: int) -> list[PathRow]:
    """Peak memory of the MLP gradient, ours (prepared) against native: XLA's own accounting, and the resident set."""
    import sys

    rows = []
    n = sum(a * b + b for a, b in itertools.pairwise(layers))
    param_mb = 4 * n / 2**20
    problem = f"MLP {'-'.join(map(str, layers))}, batch {batch}"
    if "jax" in engines:
        import jax

        from . import _first_order

        params, _, X, y = _mlp_numpy(layers, batch, seed)
        loss = _fresh(mlp_loss)
        stats = [
            jax.jit(fn).lower(params, X, y).compile().memory_analysis()
            for fn in (jax.grad(_fresh(mlp_loss)), lambda p, X, y: _first_order.gradient(loss, p, X, y, backend="jax"))
        ]
        if all(s is not None for s in stats):
            native, ours = ((s.temp_size_in_bytes + s.output_size_in_bytes) / 2**20 for s in stats)
            note = f"XLA temp + output; params {param_mb:.2f} MB"
            call = "inside the user's jax.jit"
            rows.append(PathRow("peak memory", "jax", call, problem, n, native, ours, None, "MB", note))
    if not sys.platform.startswith("linux"):
        return rows
    # glibc: a fixed mmap threshold returns every large buffer to the system when freed, so the
    # high-water mark of the resident set sees each call's own allocations rather than reused heap.
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    for engine in (e for e in ("jax", "torch") if e in engines):
        options = dict(engine=engine, layers=list(layers), batch=batch, calls=20, seed=seed)
        native, ours = (_child("memory", dict(options, who=who, env=env)) for who in ("native", "ours"))
        call = "Jax(compile=True) prepared" if engine == "jax" else "Torch() prepared"
        note = f"peak RSS growth per warm call, fresh process; params {param_mb:.2f} MB"
        native, ours = max(native, 1e-3), max(ours, 1e-3)  # a ratio even where nothing grew
        rows.append(PathRow("peak memory", engine, call, problem, n, native, ours, None, "MB", note))
    return rows


def _paths_benchmark(
    paths: Sequence[str],
    engines: Sequence[str],
    sizes: Sequence[int],
    layers: Sequence[int],
    batch: int,
    newton_n: int,
    rounds: int,
    target: float,
    seed: int,
    progress: Callable[[str], None] | None,
) -> PathsReport:
    rows: list[PathRow] = []

    def step(label: str) -> None:
        if progress is not None:
            progress(label)

    for name in engines:
        engine = None
        for path in ("numpy", "mlp", "lazy"):
            if path not in paths:
                continue
            engine = engine or _ENGINE_FACTORIES[name]()
            step(f"{name} {path}")
            if path == "numpy":
                rows += _numpy_rows(engine, sizes, rounds, target, seed)
            elif path == "mlp":
                rows += _mlp_rows(engine, layers, batch, rounds, target, seed)
            else:
                rows += _lazy_rows(engine, int(min(sizes)), rounds, target, seed)
    if "newton_cg" in paths:
        step("newton_cg")
        rows += _newton_rows(engines, newton_n)
    if "sharded" in paths and "jax" in engines:
        step("sharded")
        flags = (__import__("os").environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
        env = {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
        options = dict(layers=list(layers), batch=batch, rounds=rounds, target=target, seed=seed, env=env)
        rows += [PathRow(**r) for r in _child("sharded", options)]
    if "memory" in paths:
        step("memory")
        rows += _memory_rows(engines, layers, batch, seed)
    return PathsReport(rows)


def count_paths(paths: Sequence[str], engines: Sequence[str]) -> int:
    """Progress steps of ``benchmark(paths=...)``."""
    per_engine = sum(p in paths for p in ("numpy", "mlp", "lazy")) * len(engines)
    sharded = "sharded" in paths and "jax" in engines  # the sharded step runs on JAX only
    return per_engine + sum(p in paths for p in ("newton_cg", "memory")) + sharded
