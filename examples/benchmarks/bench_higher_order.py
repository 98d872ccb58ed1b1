"""``ad.laplacian`` (n = 1000: an elementwise f, a dense layer; an array-valued f at n = 200) and
``ad.taylor`` (order 8) on JAX, compiled, against the native calls.

Run: ``python examples/benchmarks/bench_higher_order.py``. Prints the median of 20 warm calls of each,
after checking that both sides agree (float64).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.jet import jet

import abstractad as ad

jax.config.update("jax_enable_x64", True)
COMPILED = ad.backends.Jax(compile=True)


def median_seconds(fn: Callable[..., Any], *args: Any, rounds: int = 20) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def laplacian_row(name: str, f: Callable[[Any], Any], n: int) -> str:
    x = jnp.linspace(-1.0, 1.0, n)
    ours = ad.prepare("laplacian", f, x, backend=COMPILED)
    hessian = jax.jit(jax.hessian(f))

    def native(z: Any) -> Any:
        h = hessian(z)  # per output for an array-valued f: the trace over the last two axes
        return jnp.trace(h, axis1=-2, axis2=-1)

    np.testing.assert_allclose(ours(x), native(x), rtol=1e-10)
    return (
        f"laplacian {name} n={n}: abstractad {median_seconds(ours, x) * 1e3:.3f} ms, "
        f"trace of jax.jit(jax.hessian(f))(x) {median_seconds(native, x) * 1e3:.3f} ms"
    )


def elementwise(x: Any) -> Any:
    return jnp.sum(jnp.exp(jnp.sin(x)) * x) + jnp.sum(x[1:] * x[:-1] ** 2)


def dense_layer(n: int) -> Callable[[Any], Any]:
    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)) / np.sqrt(n))
    return lambda x: jnp.sum(jnp.tanh(a @ x))


def dense_field(n: int) -> Callable[[Any], Any]:
    a = jnp.asarray(np.random.default_rng(1).normal(size=(16, n)) / np.sqrt(n))
    return lambda x: jnp.tanh(a @ x) * jnp.sum(x**2)


def taylor_row(order: int = 8, n: int = 100) -> str:
    def g(x: Any) -> Any:
        return jnp.sum(jnp.sin(x) * jnp.exp(0.1 * x))

    y, v = jnp.linspace(0.0, 1.0, n), jnp.ones(n)

    def nested(z: Any) -> tuple[Any, ...]:
        terms = [g]
        for _ in range(order):
            terms.append(lambda w, h=terms[-1]: jax.jvp(h, (w,), (v,))[1])
        return tuple(h(z) for h in terms)

    def by_jet(z: Any) -> tuple[Any, ...]:
        first, rest = jet(g, (z,), ([v] + [jnp.zeros_like(v)] * (order - 1),))
        return (first, *rest)

    ours = ad.prepare("taylor", g, y, v, order=order, backend=COMPILED)
    nested_jit, jet_jit = jax.jit(nested), jax.jit(by_jet)
    for a, b in zip(ours(y, v), nested_jit(y), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8)
    return (
        f"taylor order {order}, n={n}: abstractad {median_seconds(ours, y, v) * 1e3:.3f} ms, "
        f"jax.jit(jet) {median_seconds(jet_jit, y) * 1e3:.3f} ms, "
        f"jax.jit(nested jvps) {median_seconds(nested_jit, y) * 1e3:.3f} ms"
    )


if __name__ == "__main__":
    print(laplacian_row("elementwise", elementwise, 1000))
    print(laplacian_row("dense tanh(A x)", dense_layer(1000), 1000))
    print(laplacian_row("16 outputs tanh(A x) |x|^2", dense_field(200), 200))
    print(taylor_row())
