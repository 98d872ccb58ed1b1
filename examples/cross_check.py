"""Cross-check one function's derivatives on every installed engine.

The function is written once against the Array API (``ad.array_namespace``), so the same code
runs under JAX, PyTorch, TensorFlow, autograd and finite differences. Every engine's gradient,
Jacobian and Hessian is compared with the analytic answer; the script exits with 1 on a
disagreement.

    python examples/cross_check.py
"""

from __future__ import annotations

import sys
import time

import numpy as np

import abstractad as ad


def f(x):
    """A demo: sum(sin(x) * x**2) + the product of neighbours."""
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2) + xp.sum(x[1:] * x[:-1])


def analytic(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.cos(x) * x**2 + 2 * x * np.sin(x)
    g[1:] += x[:-1]
    g[:-1] += x[1:]
    h = np.diag((2 - x**2) * np.sin(x) + 4 * x * np.cos(x))
    i = np.arange(x.size - 1)
    h[i, i + 1] += 1.0
    h[i + 1, i] += 1.0
    return g, h


def main() -> int:
    x = np.linspace(-1.0, 1.5, 6)
    g_ref, h_ref = analytic(x)
    rows, ok = [], True
    for name in ad.installed_backends():
        start = time.perf_counter()
        g = ad.gradient(f, x, backend=name)
        h = ad.hessian(f, x, backend=name)
        hv = ad.hvp(f, x, np.ones_like(x), backend=name)
        seconds = time.perf_counter() - start
        tol_g, tol_h = (1e-7, 1e-5) if name == "finitediff" else (1e-12, 1e-12)
        err_g = float(np.max(np.abs(g - g_ref)) / np.max(np.abs(g_ref)))
        err_h = float(max(np.max(np.abs(h - h_ref)), np.max(np.abs(hv - h_ref.sum(1)))) / np.max(np.abs(h_ref)))
        good = err_g <= tol_g and err_h <= tol_h
        ok &= good
        rows.append((name, f"{err_g:.1e}", f"{err_h:.1e}", f"{seconds * 1e3:.0f} ms", "ok" if good else "FAIL"))
    header = ("engine", "gradient rel. error", "hessian/hvp rel. error", "time", "")
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="abstractad: one function, every engine, against the analytic answer")
        for column in header:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    except ImportError:
        for row in (header, *rows):
            print("  ".join(f"{c:<24}" for c in row))
    print("all engines agree" if ok else "DISAGREEMENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
