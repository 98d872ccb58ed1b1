"""Coloring times and color counts of the sparse benchmark problems, per vertex order, at n = 1e4 and 1e5.

Run: ``python examples/benchmarks/bench_coloring.py [--sizes 10000,100000] [--rounds 5] [--markdown]``. The
patterns are detected once (index-set tracer, NumPy). Each time is the best of ``--rounds`` cold
runs (the conflict graph the orders share is dropped before each): one order alone; ``greedy``, the
three orders ``Sparse(coloring="greedy")`` tries (natural, largest_first, dsatur) one after the other;
and ``compression``, all the coloring work of ``Sparse`` once per function and shapes (colorings,
their checks and the decompression indices). Jacobians are colored by columns, Hessians by a star
coloring. The best of several runs is reported because the machine may be shared.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import abstractad as ad
from abstractad._sparse import backend as _sparse
from abstractad._sparse import coloring as _coloring
from abstractad.testing import brusselator, energy2d, laplace2d, rosenbrock_chain, tridiagonal

# name -> (function, shape of x for about n unknowns, kind): the problems of examples/benchmarks/bench_sparse.py
PROBLEMS: dict[str, tuple[Callable, Callable[[int], tuple[int, ...]], str]] = {
    "tridiagonal": (tridiagonal, lambda n: (n,), "jacobian"),
    "laplace2d": (laplace2d, lambda n: (_side(n, 5) ** 2,), "jacobian"),
    "brusselator": (brusselator, lambda n: (_side(n // 2, 5), _side(n // 2, 5), 2), "jacobian"),
    "rosenbrock (H)": (rosenbrock_chain, lambda n: (n,), "hessian"),
    "energy2d (H)": (energy2d, lambda n: (_side(n, 5) ** 2,), "hessian"),
}
GREEDY = ("natural", "largest_first", "dsatur")


def _side(n: int, multiple: int) -> int:
    return max(multiple, round(math.sqrt(n) / multiple) * multiple)


def _cold() -> None:
    graphs = getattr(_coloring, "_GRAPHS", None)  # absent before the graph was shared
    if graphs is not None:
        graphs.clear()


def _best(run: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(rounds):
        _cold()
        t = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_case(name: str, n: int, rounds: int) -> dict[str, Any]:
    f, shape_of, kind = PROBLEMS[name]
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=shape_of(n))
    sparsity = ad.jacobian_sparsity if kind == "jacobian" else ad.hessian_sparsity
    pattern = sparsity(f, x, backend="finitediff")
    color = _coloring.column_coloring if kind == "jacobian" else _coloring.star_coloring
    row: dict[str, Any] = {"problem": name, "n": x.size, "nnz": pattern.nnz}
    for order in _coloring.ORDERS:
        seconds, colors = _best(lambda order=order: color(pattern, order), rounds)
        row[order] = (int(colors.max()) + 1, seconds)
    seconds, colors = _best(lambda: _sparse._choose_coloring(color, pattern, "greedy"), rounds)
    row["greedy"] = (int(colors.max()) + 1, seconds)
    chooser = ad.backends.Sparse("finitediff")
    compress = _sparse.jacobian_compression if kind == "jacobian" else _sparse.hessian_compression
    row["compression"] = _best(lambda: compress(chooser, pattern), rounds)[0]
    return row


def _cells(row: dict[str, Any]) -> list[str]:
    orders = [f"{row[o][0]} ({row[o][1] * 1e3:.0f} ms)" for o in (*_coloring.ORDERS, "greedy")]
    return [row["problem"], str(row["n"]), str(row["nnz"]), *orders, f"{row['compression']:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    header = ["problem", "n", "nnz", *_coloring.ORDERS, "greedy", "compression s"]
    rows = [bench_case(name, int(n), args.rounds) for n in args.sizes.split(",") for name in PROBLEMS]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(_cells(row)) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="colors (best time of cold runs)")
    for column in header:
        table.add_column(column, justify="left" if column == "problem" else "right")
    for row in rows:
        table.add_row(*_cells(row))
    Console().print(table)


if __name__ == "__main__":
    main()
