"""Sparse Jacobians and Hessians: colors against the optimum, time against the dense operator and
against sparsejac, for the tridiagonal, 2-D Laplacian and Brusselator problems at n = 1e3 .. 1e5.

Run: ``python examples/benchmarks/bench_sparse.py [--sizes 1000,10000,100000] [--engines jax,torch]
[--max-dense 10000] [--json out.json]``. Times are the median of ``--rounds`` calls after a
warm-up, of prepared operators (``ad.prepare``) on the engine's own float32 arrays, compiled
(``Jax(compile=True)``); the dense reference is the engine's native ``jacfwd`` (compiled with
``jax.jit`` on JAX), and the sparsejac column (``pip install sparsejac``) its ``jacfwd`` with the
same pattern, jitted. Detection and coloring are timed once (they run once per function and shapes).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import abstractad as ad
from abstractad._sparse import backend as _sparse
from abstractad.testing import brusselator, energy2d, laplace2d, rosenbrock_chain, tridiagonal

# name -> (function, shape of x for about n unknowns, optimal colors (or lower bound "≥k"), kind)
PROBLEMS: dict[str, tuple[Callable, Callable[[int], tuple[int, ...]], str, str]] = {
    "tridiagonal": (tridiagonal, lambda n: (n,), "3", "jacobian"),
    "laplace2d": (laplace2d, lambda n: (_side(n, 5) ** 2,), "5", "jacobian"),
    "brusselator": (brusselator, lambda n: (_side(n // 2, 5), _side(n // 2, 5), 2), "≥6", "jacobian"),
    "rosenbrock (H)": (rosenbrock_chain, lambda n: (n,), "3", "hessian"),
    "energy2d (H)": (energy2d, lambda n: (_side(n, 5) ** 2,), "5", "hessian"),
}


def _side(n: int, multiple: int) -> int:
    return max(multiple, round(math.sqrt(n) / multiple) * multiple)


def _median(run: Callable[[], Any], rounds: int) -> float:
    run()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _ready(out: Any) -> Any:
    for leaf in out if isinstance(out, tuple) else (out,):
        data = getattr(leaf, "data", leaf)
        if hasattr(data, "block_until_ready"):
            data.block_until_ready()
    return out


def bench_case(engine: str, name: str, n: int, rounds: int, max_dense: int) -> dict[str, Any]:
    f, shape_of, optimum, kind = PROBLEMS[name]
    shape = shape_of(n)
    size = math.prod(shape)
    x_np = np.random.default_rng(0).uniform(0.5, 1.5, size=shape).astype(np.float32)
    row: dict[str, Any] = {"engine": engine, "problem": name, "n": size, "optimum": optimum}

    t = time.perf_counter()
    if kind == "jacobian":
        pattern = ad.jacobian_sparsity(f, x_np, backend=engine)
    else:
        pattern = ad.hessian_sparsity(f, x_np, backend=engine)
    row["detect_s"] = time.perf_counter() - t
    t = time.perf_counter()
    chooser = ad.backends.Sparse("finitediff" if kind == "hessian" else engine)
    if kind == "jacobian":
        comp = _sparse.jacobian_compression(chooser, pattern)
        row["colors"] = f"{comp.k} ({'columns' if comp.forward else 'rows'})"
    else:
        row["colors"] = f"{_sparse.hessian_compression(chooser, pattern).k} (star)"
    row["color_s"] = time.perf_counter() - t
    row["nnz"] = int(pattern.nnz)

    if engine == "jax":
        import jax
        import jax.numpy as jnp

        x = jnp.asarray(x_np)
        backend = ad.backends.Jax(compile=True)
        native = jax.jit(jax.jacfwd(f) if kind == "jacobian" else jax.hessian(f))
        dense_run = lambda: _ready(native(x))  # noqa: E731
    else:
        import torch

        x = torch.from_numpy(x_np)
        backend = ad.backends.Torch()
        native_fn = torch.func.jacfwd(f) if kind == "jacobian" else torch.func.hessian(f)
        dense_run = lambda: native_fn(x)  # noqa: E731

    sparse = ad.backends.Sparse(backend)
    t = time.perf_counter()
    op = ad.prepare(kind, f, x, backend=sparse)
    _ready(op(x))
    row["first_call_s"] = time.perf_counter() - t
    row["sparse_s"] = _median(lambda: _ready(op(x)), rounds)
    if size <= max_dense:
        row["dense_s"] = _median(dense_run, max(1, rounds // 3))
        row["speedup"] = row["dense_s"] / row["sparse_s"]
    if engine == "jax" and kind == "jacobian":
        row.update(_sparsejac(f, x, pattern, rounds))
    return row


def _sparsejac(f: Callable, x: Any, pattern: Any, rounds: int) -> dict[str, Any]:
    try:
        import sparsejac
    except ImportError:
        return {}
    import jax
    from jax.experimental import sparse as jsparse

    sparsity = jsparse.BCOO.from_scipy_sparse(pattern.astype(np.float32))
    flat = lambda z: f(z.reshape(x.shape)).reshape(-1)  # noqa: E731
    fn = jax.jit(sparsejac.jacfwd(flat, sparsity=sparsity))
    z = x.reshape(-1)
    return {"sparsejac_s": _median(lambda: _ready(fn(z)), rounds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--engines", default="jax,torch")
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--max-dense", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for engine in args.engines.split(","):
        for name in args.problems.split(","):
            for n in map(int, args.sizes.split(",")):
                row = bench_case(engine, name, n, args.rounds, args.max_dense)
                rows.append(row)
                print(_line(row), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


def _line(row: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        return f"{row[key] * 1e3:9.2f}" if key in row else f"{'-':>9}"

    speed = f"{row['speedup']:8.0f}x" if "speedup" in row else f"{'-':>9}"
    jac = f"{row['sparsejac_s'] / row['sparse_s']:5.2f}" if "sparsejac_s" in row else "    -"
    return (
        f"{row['engine']:6} {row['problem']:15} n={row['n']:>6} colors {row['colors']:13} opt {row['optimum']:3} "
        f"detect {row['detect_s']:6.2f}s color {row['color_s']:5.2f}s | sparse {ms('sparse_s')} ms "
        f"dense {ms('dense_s')} ms {speed} | sparsejac {ms('sparsejac_s')} ms (÷ours {jac})"
    )


if __name__ == "__main__":
    main()
