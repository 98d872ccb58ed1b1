"""One engine's function inside another engine's differentiated program, with ``ad.differentiate_with``.

Three programs, each checked against the gradient of the same program written in one engine:

1. a JAX loss calling a PyTorch "simulator" (under ``jax.jit(jax.grad(...))``);
2. a TensorFlow loss calling a JAX kernel (under ``tf.GradientTape``, eager and in ``tf.function``);
3. autograd code calling a NumPy black box differentiated by finite differences.

Run: ``python examples/mixed_engines.py``; programs whose engines are not installed are skipped.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

import abstractad as ad


def installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


def report(name: str, got, want) -> bool:
    error = float(np.max(np.abs(np.asarray(got) - want)))
    ok = error < 1e-5 * max(1.0, float(np.max(np.abs(want))))
    print(f"{name:<44} max error {error:.1e}  {'ok' if ok else 'WRONG'}")
    return ok


def decay(k):
    """The 'simulator': y(t) = exp(-k t) at a few times, as a function of the rates k."""
    xp = ad.array_namespace(k)
    t = xp.asarray([0.5, 1.0, 2.0], dtype=k.dtype)
    return xp.exp(-xp.reshape(k, (-1, 1)) * xp.reshape(t, (1, -1)))


def decay_gradient(k: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The gradient of sum((decay(k) - data)^2) by hand."""
    t = np.array([0.5, 1.0, 2.0])
    y = np.exp(-np.outer(k, t))
    return np.sum(2 * (y - data) * y * -t, axis=1)


def jax_calls_torch(k: np.ndarray, data: np.ndarray) -> bool:
    import jax
    import jax.numpy as jnp

    simulate = ad.differentiate_with(decay, "torch")  # values and VJPs computed by PyTorch

    def loss(k):
        return jnp.sum((simulate(k) - data) ** 2)

    with jax.enable_x64(True):
        g = jax.jit(jax.grad(loss))(jnp.asarray(k))
    return report("jax.jit(jax.grad) over a torch simulator", g, decay_gradient(k, data))


def tensorflow_calls_jax(k: np.ndarray, data: np.ndarray) -> bool:
    import tensorflow as tf

    kernel = ad.differentiate_with(decay, "jax")  # values and VJPs computed by JAX

    def grad(k):
        with tf.GradientTape() as tape:
            tape.watch(k)
            loss = tf.reduce_sum((kernel(k) - data) ** 2)
        return tape.gradient(loss, k)

    k_tf = tf.constant(k)
    want = decay_gradient(k, data)
    ok = report("tf.GradientTape over a JAX kernel", grad(k_tf), want)
    return report("... inside tf.function", tf.function(grad)(k_tf), want) and ok


def autograd_calls_black_box(k: np.ndarray, data: np.ndarray) -> bool:
    import autograd
    import autograd.numpy as anp

    def black_box(k: np.ndarray) -> np.ndarray:  # plain NumPy: no engine can trace it
        return np.exp(-np.outer(k, [0.5, 1.0, 2.0]))

    box = ad.differentiate_with(black_box, "finitediff")
    g = autograd.grad(lambda k: anp.sum((box(k) - data) ** 2))(k)
    return report("autograd over a finite-difference black box", g, decay_gradient(k, data))


def main() -> int:
    rng = np.random.default_rng(0)
    k = rng.uniform(0.5, 2.0, 4)
    data = np.exp(-np.outer(rng.uniform(0.5, 2.0, 4), [0.5, 1.0, 2.0]))
    programs = [
        (("jax", "torch"), jax_calls_torch),
        (("tensorflow", "jax"), tensorflow_calls_jax),
        (("autograd",), autograd_calls_black_box),
    ]
    results = []
    for modules, program in programs:
        if installed(*modules):
            results.append(program(k, data))
        else:
            print(f"{program.__name__}: skipped ({' and '.join(modules)} not installed)")
    print("every program agrees with its single-engine gradient" if all(results) else "DISAGREEMENT")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
