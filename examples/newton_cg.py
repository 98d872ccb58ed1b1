"""Newton-CG on the Rosenbrock function with a lazy Hessian and SciPy's conjugate gradient.

Each Newton step solves ``H p = -g`` with ``scipy.sparse.linalg.cg`` on ``ad.lazy_hessian``: CG
only asks for Hessian-vector products, so the Hessian is never formed. Switching engines is one
argument: ``--backend jax``, ``--backend torch``, ``--backend tensorflow`` or a pair such as
``--backend jax/torch`` (JAX differentiating PyTorch's gradient).

Run: ``python examples/newton_cg.py [--backend NAME] [--n 50] [--eager]``; with no ``--backend`` it
runs every installed engine and checks that they all reach the minimum (all ones). JAX and
TensorFlow run compiled (``Jax(compile=True)``, ``TensorFlow(compile=True)``): a Newton loop is
a hot loop; ``--eager`` runs them eagerly instead, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse.linalg as spla

import abstractad as ad


def rosenbrock(x):
    xp = ad.array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def newton_cg(f, x0: np.ndarray, backend, steps: int = 100, tol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Minimise `f` from `x0` by Newton steps with a CG inner solve; returns ``(x, steps taken)``."""
    x = x0.copy()
    for k in range(steps):
        value, g = ad.value_and_gradient(f, x, backend=backend)
        if np.linalg.norm(g) < tol:
            return x, k
        H = ad.lazy_hessian(f, x, backend=backend)  # products only: H @ v is a Hessian-vector product
        p, _ = spla.cg(spla.aslinearoperator(H), -g, rtol=1e-6, maxiter=4 * x.size)
        if g @ p >= 0:  # not a descent direction (H indefinite here): steepest descent instead
            p = -g
        t = 1.0
        while f(x + t * p) > value + 1e-4 * t * (g @ p) and t > 1e-10:  # backtracking (Armijo)
            t /= 2
        x = x + t * p
    return x, steps


# A Newton loop is a hot loop: engines whose eager calls are slow (JAX traces f anew on every eager
# call) run compiled, once per shape; the lazy Hessian's products then use the compiled HVP too.
COMPILED = {"jax": ad.backends.Jax, "tensorflow": ad.backends.TensorFlow}


def backend_from(name: str, eager: bool = False):
    if "/" in name:
        outer, inner = name.split("/")
        return ad.backends.SecondOrder(outer, inner)
    if name in COMPILED and not eager:
        return COMPILED[name](compile=True)
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", help="engine name, or OUTER/INNER; default: every installed engine")
    parser.add_argument("--n", type=int, default=50, help="dimension of the Rosenbrock function")
    parser.add_argument("--eager", action="store_true", help="run JAX and TensorFlow eagerly (slow: for comparison)")
    args = parser.parse_args(argv)
    x0 = np.full(args.n, -1.0)
    x0[::2] = 1.5
    names = [args.backend] if args.backend else [e for e in ad.installed_backends() if e != "finitediff"]
    failed = []
    for name in names:
        start = time.perf_counter()
        x, steps = newton_cg(rosenbrock, x0, backend_from(name, args.eager))
        error = float(np.max(np.abs(x - 1.0)))
        print(f"{name:>12}: {steps:3d} Newton steps, max |x - 1| = {error:.1e}, {time.perf_counter() - start:.2f} s")
        if error > 1e-6:
            failed.append(name)
    if failed:
        print(f"did not converge: {', '.join(failed)}")
        return 1
    print("every engine reached the minimum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
