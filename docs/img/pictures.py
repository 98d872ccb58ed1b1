"""Draws the site's pictures into docs/img/ (the benchmark plot, bench.png, is `abstractad bench --plot`'s):

    .venv/bin/python docs/img/pictures.py

- sparsity.png: the Jacobian sparsity pattern of abstractad.testing.laplace2d on a 10 x 10 grid, its
  column coloring, and the compressed Jacobian that one pushforward per color computes (docs/sparse.md);
- check.svg: `ad.check`'s rich table on every installed engine, exported by rich (docs/checking.md).
"""

from __future__ import annotations

import io
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console

import abstractad as ad
from abstractad._sparse.coloring import ORDERS, column_coloring
from abstractad.testing import laplace2d

HERE = pathlib.Path(__file__).resolve().parent


def sparsity() -> None:
    side = 10
    pattern = ad.jacobian_sparsity(laplace2d, np.zeros(side * side)).toarray() != 0
    colors = min((column_coloring(pattern, order) for order in ORDERS), key=lambda c: c.max())
    k = int(colors.max()) + 1
    cmap = plt.get_cmap("tab10", k)
    colored = np.where(pattern, colors[None, :], np.nan)
    compressed = np.full((pattern.shape[0], k), np.nan)
    rows, cols = np.nonzero(pattern)
    compressed[rows, colors[cols]] = colors[cols]

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1, 0.28]})
    axes[0].imshow(pattern, cmap="Greys", interpolation="nearest")
    axes[0].set_title(f"sparsity pattern: {pattern.sum()} nonzeros of {pattern.size}")
    axes[1].imshow(colored, cmap=cmap, vmin=-0.5, vmax=k - 0.5, interpolation="nearest")
    axes[1].set_title(f"column coloring: {k} colors")
    axes[2].imshow(compressed, cmap=cmap, vmin=-0.5, vmax=k - 0.5, interpolation="nearest", aspect="auto")
    axes[2].set_title(f"J V: {k} products")
    axes[2].set_xlabel("color (seed)")
    axes[2].set_xticks(range(k))
    for ax in axes[:2]:
        ax.set_xlabel("column j (input)")
    axes[0].set_ylabel("row i (output)")
    fig.suptitle("Jacobian of laplace2d on a 10 x 10 periodic grid (n = 100)")
    fig.tight_layout()
    fig.savefig(HERE / "sparsity.png", dpi=110)
    print("sparsity.png:", k, "colors")


def f(x):
    """The function of docs/checking.md's first example."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def check() -> None:
    report = ad.check(f, np.linspace(0.1, 1.0, 5))
    console = Console(record=True, width=112, file=io.StringIO())
    console.print(report.rich_table())
    (HERE / "check.svg").write_text(console.export_svg(title="ad.check(f, np.linspace(0.1, 1.0, 5))"))
    print("check.svg:", len(report.rows), "rows,", report.verdict)


if __name__ == "__main__":
    sparsity()
    check()
