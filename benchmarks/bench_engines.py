"""abstractad's PyTorch and TensorFlow engines against their best native calls, in one process.

Run: ``python benchmarks/bench_engines.py [--repeat 50] [--engines torch,tensorflow]``. Inputs are
the engine's own float32 tensors; each time is the best of two medians of `repeat` calls, ours and
native interleaved so that drifts in machine load hit both alike. The ratio column is ours / native.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import abstractad as ad


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def torch_cases(rng: np.random.Generator) -> list[tuple[str, Callable, Callable]]:
    import torch

    def f(x):
        return torch.sum(torch.sin(x) * x**2)

    a = torch.tensor(rng.standard_normal((200, 200)) / 14, dtype=torch.float32)

    def square(x):
        return torch.tanh(a @ x) + x**2

    xg = torch.tensor(rng.standard_normal(100_000), dtype=torch.float32)
    xj = torch.tensor(rng.standard_normal(200), dtype=torch.float32)
    xh = torch.tensor(rng.standard_normal(100), dtype=torch.float32)
    xs = torch.tensor(rng.standard_normal(100), dtype=torch.float32)

    def native_grad(x):
        leaf = x.detach().requires_grad_(True)
        return torch.autograd.grad(f(leaf), leaf)[0]

    b = ad.backends.Torch()
    return [
        ("torch gradient n=1e5", lambda: ad.gradient(f, xg, backend=b), lambda: native_grad(xg)),
        ("torch gradient n=100", lambda: ad.gradient(f, xs, backend=b), lambda: native_grad(xs)),
        ("torch jacobian 200x200 vs jacrev", lambda: ad.jacobian(square, xj, backend=b),
         lambda: torch.func.jacrev(square)(xj)),
        ("torch hessian n=100 vs func.hessian", lambda: ad.hessian(f, xh, backend=b),
         lambda: torch.func.hessian(f)(xh)),
    ]


def tensorflow_cases(rng: np.random.Generator) -> list[tuple[str, Callable, Callable]]:
    import tensorflow as tf

    def f(x):
        return tf.reduce_sum(tf.sin(x) * x**2)

    a = tf.constant(rng.standard_normal((200, 200)) / 14, dtype=tf.float32)

    def square(x):
        return tf.tanh(tf.linalg.matvec(a, x)) + x**2

    xg = tf.constant(rng.standard_normal(100_000), dtype=tf.float32)
    xj = tf.constant(rng.standard_normal(200), dtype=tf.float32)
    xh = tf.constant(rng.standard_normal(100), dtype=tf.float32)

    def native_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.gradient(y, x)

    def native_jac(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = square(x)
        return tape.jacobian(y, x)

    def native_hess(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
            g = inner.gradient(y, x)
        return outer.jacobian(g, x)

    b, c = ad.backends.TensorFlow(), ad.backends.TensorFlow(compile=True)
    fn_grad, fn_jac, fn_hess = tf.function(native_grad), tf.function(native_jac), tf.function(native_hess)
    return [
        ("tf gradient n=1e5", lambda: ad.gradient(f, xg, backend=b), lambda: native_grad(xg)),
        ("tf jacobian 200x200 vs tape.jacobian", lambda: ad.jacobian(square, xj, backend=b), lambda: native_jac(xj)),
        ("tf hessian n=100 vs nested tapes", lambda: ad.hessian(f, xh, backend=b), lambda: native_hess(xh)),
        ("tf gradient n=1e5 compiled vs tf.function", lambda: ad.gradient(f, xg, backend=c), lambda: fn_grad(xg)),
        ("tf jacobian compiled vs tf.function", lambda: ad.jacobian(square, xj, backend=c), lambda: fn_jac(xj)),
        ("tf hessian compiled vs tf.function", lambda: ad.hessian(f, xh, backend=c), lambda: fn_hess(xh)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--engines", default="torch,tensorflow")
    opts = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = []
    for engine in opts.engines.split(","):
        if engine in ad.installed_backends():
            cases += {"torch": torch_cases, "tensorflow": tensorflow_cases}[engine](rng)
    print(f"median of {opts.repeat} calls, float32, CPU")
    print(f"{'case':44s} {'ours':>10s} {'native':>10s} {'ratio':>7s}")
    for name, ours, native in cases:
        t_native = median_seconds(native, opts.repeat)
        t_ours = median_seconds(ours, opts.repeat)
        t_native = min(t_native, median_seconds(native, opts.repeat))
        t_ours = min(t_ours, median_seconds(ours, opts.repeat))
        print(f"{name:44s} {t_ours * 1e6:8.0f}us {t_native * 1e6:8.0f}us {t_ours / t_native:7.2f}")


if __name__ == "__main__":
    main()
