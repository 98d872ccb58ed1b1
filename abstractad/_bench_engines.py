"""The engines ``ad.benchmark`` compares against: for each, our backend, its arrays, its sync, and
the native calls its users write (compiled with ``jax.jit`` / ``tf.function`` for JAX and
TensorFlow, eager for PyTorch and autograd). No engine is imported until its factory runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from ._backend import Backend


@dataclasses.dataclass
class Engine:
    """How one engine is benchmarked: our backend, its arrays, its native operators, its sync."""

    name: str
    backend: Backend
    to_array: Callable[[np.ndarray], Any]
    native: Callable[[str, Callable, Any], Callable[..., Any]]  # (operator, f, x) -> callable(x, *seeds)
    sync: Callable[[Any], Any] = lambda a: a


def _jax_engine() -> Engine:
    import jax
    import jax.numpy as jnp

    from .backends import Jax

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":
            return jax.jit(jax.grad(f))
        if op == "jvp":
            return jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
        if op == "vjp":
            return jax.jit(lambda x, w: jax.vjp(f, x)[1](w)[0])
        if op == "hvp":
            return jax.jit(lambda x, v: jax.jvp(jax.grad(f), (x,), (v,))[1])
        if op == "jacobian":
            return jax.jit(jax.jacfwd(f) if x.size <= jax.eval_shape(f, x).size else jax.jacrev(f))
        return jax.jit(jax.hessian(f))

    return Engine("jax", Jax(compile=True), jnp.asarray, native, jax.block_until_ready)


def _torch_engine() -> Engine:
    import torch

    from .backends import Torch

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":

            def gradient(x: Any) -> Any:
                leaf = x.detach().requires_grad_(True)
                return torch.autograd.grad(f(leaf), leaf)[0]

            return gradient
        if op == "jvp":
            return lambda x, v: torch.func.jvp(f, (x,), (v,))[1]
        if op == "vjp":

            def vjp(x: Any, w: Any) -> Any:
                leaf = x.detach().requires_grad_(True)
                return torch.autograd.grad(f(leaf), leaf, w)[0]

            return vjp
        if op == "hvp":
            return lambda x, v: torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]
        if op == "jacobian":
            return torch.func.jacfwd(f) if x.numel() <= f(x).numel() else torch.func.jacrev(f)
        return torch.func.hessian(f)

    return Engine("torch", Torch(), torch.from_numpy, native)


def _tensorflow_engine() -> Engine:
    from ._quiet import import_tensorflow
    from .backends import TensorFlow

    tf: Any = import_tensorflow()

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        second = op in ("hvp", "hessian")
        return tf.function((_tensorflow_second_order if second else _tensorflow_first_order)(tf, op, f))

    return Engine("tensorflow", TensorFlow(compile=True), tf.convert_to_tensor, native)


def _tensorflow_first_order(tf: Any, op: str, f: Callable) -> Callable[..., Any]:
    """TensorFlow's gradient, jvp, vjp or jacobian of `f` with tapes, before ``tf.function``."""
    if op == "gradient":

        def gradient(x: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = f(x)
            return tape.gradient(y, x)

        return gradient
    if op == "jvp":

        def jvp(x: Any, v: Any) -> Any:
            with tf.autodiff.ForwardAccumulator(x, v) as acc:
                y = f(x)
            return acc.jvp(y)

        return jvp
    if op == "vjp":

        def vjp(x: Any, w: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = f(x)
            return tape.gradient(y, x, output_gradients=w)

        return vjp

    def jacobian(x: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        return tape.jacobian(y, x)

    return jacobian


def _tensorflow_second_order(tf: Any, op: str, f: Callable) -> Callable[..., Any]:
    """TensorFlow's hvp (forward over reverse) or hessian (tape over tape) of `f`, before ``tf.function``."""
    if op == "hvp":

        def hvp(x: Any, v: Any) -> Any:
            with tf.autodiff.ForwardAccumulator(x, v) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = f(x)
                g = tape.gradient(y, x)
            return acc.jvp(g)

        return hvp

    def hessian(x: Any) -> Any:
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = f(x)
            g = inner.gradient(y, x)
        return outer.jacobian(g, x)

    return hessian


def _autograd_engine() -> Engine:
    import autograd
    from autograd.differential_operators import make_jvp

    from .backends import Autograd

    def native(op: str, f: Callable, x: Any) -> Callable[..., Any]:
        if op == "gradient":
            return autograd.grad(f)
        if op == "jvp":
            return lambda x, v: make_jvp(f)(x)(v)[1]
        if op == "vjp":
            return lambda x, w: autograd.make_vjp(f)(x)[0](w)
        if op == "hvp":
            return autograd.hessian_vector_product(f)
        if op == "jacobian":
            return autograd.jacobian(f)
        return autograd.hessian(f)

    return Engine("autograd", Autograd(), lambda a: a, native)


ENGINE_FACTORIES = {
    "jax": _jax_engine,
    "torch": _torch_engine,
    "tensorflow": _tensorflow_engine,
    "autograd": _autograd_engine,
}
ENGINES = tuple(ENGINE_FACTORIES)


def f_native(engine: Engine, f: Callable) -> Callable:
    """`f` itself as the engine runs it best: compiled for JAX and TensorFlow."""
    if engine.name == "jax":
        import jax

        return jax.jit(f)
    if engine.name == "tensorflow":
        import tensorflow as tf

        return tf.function(f)
    return f


def mlp_natives(name: str, loss: Callable) -> tuple[Callable, Callable | None]:
    """The native (gradient, hvp) of ``loss(params, X, y)`` over the params dict, as each engine's users write it."""
    if name == "jax":
        import jax

        grad = jax.grad(loss)
        return jax.jit(grad), jax.jit(lambda p, v, X, y: jax.jvp(lambda p: grad(p, X, y), (p,), (v,))[1])
    if name == "torch":
        import torch

        def gradient(p: dict, X: Any, y: Any) -> dict:
            leaves = {k: a.detach().requires_grad_(True) for k, a in p.items()}
            return dict(zip(leaves, torch.autograd.grad(loss(leaves, X, y), list(leaves.values()))))

        def hvp(p: dict, v: dict, X: Any, y: Any) -> dict:
            return torch.func.jvp(lambda p: torch.func.grad(loss)(p, X, y), (p,), (v,))[1]

        return gradient, hvp
    if name == "tensorflow":
        import tensorflow as tf

        def tf_gradient(p: dict, X: Any, y: Any) -> dict:
            with tf.GradientTape() as tape:
                tape.watch(list(p.values()))
                value = loss(p, X, y)
            return dict(zip(p, tape.gradient(value, list(p.values()))))

        def tf_hvp(p: dict, v: dict, X: Any, y: Any) -> dict:
            with tf.autodiff.ForwardAccumulator(p, v) as acc:
                with tf.GradientTape() as tape:
                    tape.watch(p)
                    value = loss(p, X, y)
                g = tape.gradient(value, p)
            return acc.jvp(g)

        return tf.function(tf_gradient), tf.function(tf_hvp)
    import autograd

    return autograd.grad(loss), None
