"""abstractad's JAX engine against plain JAX: eager, compiled, and inside the user's jax.jit.

Run: ``python examples/benchmarks/bench_jax.py [--repeat 200] [--profile]``. Inputs are JAX float32 arrays
already on the device; every timing is the median of `repeat` calls, each waited for with
``block_until_ready``. The ratio column is ours / native (target <= 1.10).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import abstractad as ad

Jax = ad.backends.Jax


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    for _ in range(3):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sum_sin_sq(x):
    return jnp.sum(jnp.sin(x) * x**2)


def _cases(
    square: Callable, x_grad: jax.Array, x_jac: jax.Array, x_hess: jax.Array
) -> list[tuple[str, Callable, Callable]]:
    """(name, ours, native): eager, compiled, and inside the user's jax.jit."""
    eager, compiled = Jax(), Jax(compile=True)
    cases = [
        # name, ours, native
        (
            "gradient n=1e5  eager, backend='jax'",
            lambda: ad.gradient(sum_sin_sq, x_grad, backend="jax"),
            lambda: jax.grad(sum_sin_sq)(x_grad),
        ),
        (
            "gradient n=1e5  eager, Jax()",
            lambda: ad.gradient(sum_sin_sq, x_grad, backend=eager),
            lambda: jax.grad(sum_sin_sq)(x_grad),
        ),
        (
            "jacobian 200x200 eager vs jacfwd",
            lambda: ad.jacobian(square, x_jac, backend=eager),
            lambda: jax.jacfwd(square)(x_jac),
        ),
        (
            "jacobian 200x200 eager vs jacrev",
            lambda: ad.jacobian(square, x_jac, backend=eager),
            lambda: jax.jacrev(square)(x_jac),
        ),
        (
            "hessian n=100   eager",
            lambda: ad.hessian(sum_sin_sq, x_hess, backend=eager),
            lambda: jax.hessian(sum_sin_sq)(x_hess),
        ),
    ]
    native_grad, native_jac, native_hess = (
        jax.jit(jax.grad(sum_sin_sq)),
        jax.jit(jax.jacfwd(square)),
        jax.jit(jax.hessian(sum_sin_sq)),
    )
    cases += [
        (
            "gradient n=1e5  compile=True",
            lambda: ad.gradient(sum_sin_sq, x_grad, backend=compiled),
            lambda: native_grad(x_grad),
        ),
        (
            "jacobian 200x200 compile=True",
            lambda: ad.jacobian(square, x_jac, backend=compiled),
            lambda: native_jac(x_jac),
        ),
        (
            "hessian n=100   compile=True",
            lambda: ad.hessian(sum_sin_sq, x_hess, backend=compiled),
            lambda: native_hess(x_hess),
        ),
    ]
    in_grad = jax.jit(lambda x: ad.gradient(sum_sin_sq, x, backend="jax"))
    in_jac = jax.jit(lambda x: ad.jacobian(square, x, backend="jax"))
    in_hess = jax.jit(lambda x: ad.hessian(sum_sin_sq, x, backend="jax"))
    cases += [
        ("gradient n=1e5  inside user jit", lambda: in_grad(x_grad), lambda: native_grad(x_grad)),
        ("jacobian 200x200 inside user jit", lambda: in_jac(x_jac), lambda: native_jac(x_jac)),
        ("hessian n=100   inside user jit", lambda: in_hess(x_hess), lambda: native_hess(x_hess)),
    ]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="profile the eager gradient call")
    opts = parser.parse_args()
    rng = np.random.default_rng(0)

    x_grad = jnp.asarray(rng.standard_normal(100_000), dtype=jnp.float32)
    a = jnp.asarray(rng.standard_normal((200, 200)) / 14, dtype=jnp.float32)

    def square(x):
        return jnp.tanh(a @ x) + x**2

    x_jac = jnp.asarray(rng.standard_normal(200), dtype=jnp.float32)
    x_hess = jnp.asarray(rng.standard_normal(100), dtype=jnp.float32)
    cases = _cases(square, x_grad, x_jac, x_hess)

    print(f"jax {jax.__version__}, device {jax.devices()[0]}, median of {opts.repeat} calls")
    print(f"{'case':40s} {'ours':>10s} {'native':>10s} {'ratio':>7s}")
    for name, ours, native in cases:
        # Interleave the two so that drifts in machine load hit both alike.
        t_native = median_seconds(native, opts.repeat)
        t_ours = median_seconds(ours, opts.repeat)
        t_native = min(t_native, median_seconds(native, opts.repeat))
        t_ours = min(t_ours, median_seconds(ours, opts.repeat))
        print(f"{name:40s} {t_ours * 1e6:8.0f}us {t_native * 1e6:8.0f}us {t_ours / t_native:7.2f}")

    if opts.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(opts.repeat):
            jax.block_until_ready(ad.gradient(sum_sin_sq, x_grad, backend="jax"))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
