"""``ad.benchmark`` and ``abstractad bench``: every operator on every engine against the engine's best
native call, side by side in one process.

For each (problem, operator, engine, size) it times three callables on the engine's own float32
arrays: the native call (JAX and TensorFlow compiled with ``jax.jit`` / ``tf.function``, PyTorch
and autograd eager, as their users run them), abstractad's operator as users call it
(``ad.gradient(f, x, backend=...)``) and abstractad's prepared operator (``ad.prepare``). The
three are interleaved in rounds, so that drifts in machine load hit them alike; each time is the
median over rounds of a batch's mean, with the spread (interquartile range / median).

The pieces live beside it: the problems in ``_bench_problems``, the engines and their native calls
in ``_bench_engines``, the timing in ``_bench_timing``, the reports in ``_bench_report`` and the
paths users take (``paths=True``) in ``_bench_paths``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from . import _arrays, _errors
from ._backend import installed_backends
from ._bench_engines import ENGINE_FACTORIES, ENGINES, Engine, f_native
from ._bench_paths import PATHS, paths_benchmark
from ._bench_problems import MLP_LAYERS, PROBLEMS
from ._bench_problems import chain as chain  # re-exported: benchmarks and targets name abstractad._bench:chain
from ._bench_problems import rosenbrock as rosenbrock
from ._bench_problems import sum_sin as sum_sin
from ._bench_report import BenchReport, BenchRow
from ._bench_timing import Counter, first_call, fresh_copy, interleaved, peak_mb

# The operators with a native call on every engine, in the table's order; not SPECS, whose
# value_and_* variants and scalar derivatives have no native counterpart to time against.
OPERATORS = ("gradient", "jvp", "vjp", "hvp", "jacobian", "hessian")
DENSE = ("jacobian", "hessian")


def _problem_for(operator: str, functions: dict[str, Callable], scalar: dict[str, bool]) -> list[str]:
    """The problems an operator applies to: scalar-valued ones for gradient, hvp and hessian."""
    needs_scalar = operator in ("gradient", "hvp", "hessian")
    return [name for name in functions if scalar[name] or not needs_scalar]


def _scalar(functions: dict[str, Callable]) -> dict[str, bool]:
    """Which of the functions return a scalar (at a small NumPy point)."""
    return {name: np.ndim(fn(np.linspace(0.1, 1.0, 4))) == 0 for name, fn in functions.items()}


def _case(
    engine: Engine, problem: str, f: Callable, operator: str, n: int, rounds: int, target: float, seed: int
) -> BenchRow:
    """One (problem, operator, engine, size): native, ours and prepared interleaved, then first calls and f's calls."""
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

    fresh, fresh_native = fresh_copy(f), fresh_copy(f)
    ours_first = first_call(lambda: sync(op(fresh, x, *seeds, backend=b)))
    native_fn = engine.native(operator, fresh_native, x)
    native_first = first_call(lambda: sync(native_fn(x, *seeds)))
    prepared = _operators.prepare(operator, fresh, x, *seeds, backend=b)

    calls = [
        lambda: sync(native_fn(x, *seeds)),
        lambda: sync(op(fresh, x, *seeds, backend=b)),
        lambda: sync(prepared(x, *seeds)),
    ]
    (native, s1), (ours, s2), (prep, s3) = interleaved(calls, rounds, target)

    counter = Counter(f)
    counted = _operators.prepare(operator, counter, x, *seeds, backend=engine.backend)
    counted(x, *seeds)
    counter.calls = 0
    op(counter, x, *seeds, backend=b)
    f_calls = counter.calls

    f_time = None
    if operator == "gradient":
        native_f = f_native(engine, fresh_native)
        f_time = interleaved([lambda: sync(native_f(x))], rounds, target)[0][0]
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
        peak_mb(lambda: sync(prepared(x, *seeds))),
        f_time,
    )


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
    names = _engine_names(engines)
    if paths:
        chosen = _chosen_paths(paths)
        return paths_benchmark(chosen, names, sizes, layers, batch, newton_n, rounds, target, seed, progress)
    functions = dict(functions) if functions is not None else dict(PROBLEMS)
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown:
        raise ValueError(f"benchmark: unknown operators {unknown}; choose from {list(OPERATORS)}")
    cases = _cases(functions, operators, sizes, max_dense)
    rows = []
    for name in names:
        engine = ENGINE_FACTORIES[name]()
        for operator, problem, n in cases:
            if progress is not None:
                progress(f"{name} {operator} {problem} n={n}")
            rows.append(_case(engine, problem, functions[problem], operator, int(n), rounds, target, seed))
    return BenchReport(rows)


def _engine_names(engines: Sequence[str] | None) -> list[str]:
    """The engines to time: those given, each installed, or every installed one."""
    available = [e for e in ENGINES if e in installed_backends()]
    names = list(engines) if engines is not None else available
    unknown = [e for e in names if e not in ENGINES]
    if unknown:
        raise ValueError(f"benchmark: unknown engines {unknown}; choose from {list(ENGINES)}")
    missing = [e for e in names if e not in available]
    if missing:  # an ImportError naming the pip extra, as for any backend= of a missing engine
        raise _errors.missing_engine(missing[0], missing[0])
    return names


def _chosen_paths(paths: bool | Sequence[str]) -> list[str]:
    """The paths to time: every one for ``paths=True``, else those named, each a known one."""
    chosen = list(PATHS) if paths is True else list(paths)
    bad = [p for p in chosen if p not in PATHS]
    if bad:
        raise ValueError(f"benchmark: unknown paths {bad}; choose from {list(PATHS)}")
    return chosen


def _cases(
    functions: dict[str, Callable], operators: Iterable[str], sizes: Sequence[int], max_dense: int
) -> list[tuple[str, str, int]]:
    """The (operator, problem, n) each engine runs: dense operators only up to n = `max_dense`."""
    scalar = _scalar(functions)
    return [
        (operator, problem, n)
        for operator in operators
        for problem in _problem_for(operator, functions, scalar)
        for n in sizes
        if not (operator in DENSE and n > max_dense)
    ]


def count_cases(
    functions: dict[str, Callable] | None,
    operators: Iterable[str],
    engines: Sequence[str],
    sizes: Sequence[int],
    max_dense: int,
) -> int:
    """Progress steps of ``benchmark(functions, operators=..., engines=..., sizes=..., max_dense=...)``."""
    functions = functions if functions is not None else PROBLEMS
    return len(engines) * len(_cases(functions, operators, sizes, max_dense))
