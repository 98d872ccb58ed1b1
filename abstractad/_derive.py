"""Every operator derived from the backend's primitives, on the backend's own arrays.

These functions never leave the engine's arrays, so an engine can differentiate through them
(a Hessian is the engine nesting itself) and a compiling backend can trace them whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _errors
from ._backend import Backend

Array = Any

# Seeds and results of one chunk of a batched Jacobian stay below this many elements.
CHUNK_ELEMENTS = 2**24


def shape(a: Array) -> tuple[int, ...]:
    return tuple(int(d) for d in np.shape(a)) if not hasattr(a, "shape") else tuple(int(d) for d in a.shape)


def size(a: Array) -> int:
    # math.prod, not np.prod: torch.compile would trace NumPy's product and break the graph.
    return math.prod(shape(a))


def check_scalar(operator: str, y: Array) -> None:
    if isinstance(y, tuple):  # a pytree's leaves
        raise _errors.not_scalar(operator, (sum(size(a) for a in y),))
    dims = getattr(y, "shape", None)
    if dims is not None and len(dims) == 0:
        return
    if shape(y) != ():
        raise _errors.not_scalar(operator, shape(y))


def check_seed(operator: str, kind: str, seed: Array, like: Array, of: str) -> None:
    if isinstance(seed, tuple) or isinstance(like, tuple):  # a pytree's leaves, in tree form
        if not (isinstance(seed, tuple) and isinstance(like, tuple) and len(seed) == len(like)):
            raise ValueError(f"{operator}: the {kind} must have the structure of {of}")
        for s, a in zip(seed, like):
            check_seed(operator, kind, s, a, of)
        return
    if shape(seed) != shape(like):
        raise _errors.bad_seed(kind, operator, shape(seed), shape(like), of)


def cast_seed(b: Backend, seed: Array, like: Array, kind: str, of: str = "x") -> Array:
    """A seed in the dtype of what it is a tangent or cotangent of (float32 seeds for float64 x are
    cast); a complex seed for a real array is an error, not a silently dropped imaginary part."""
    if isinstance(seed, tuple):  # a pytree's leaves, each cast to its own leaf's dtype
        return tuple(cast_seed(b, s, a, kind, of) for s, a in zip(seed, like))
    if seed.dtype == like.dtype:
        return seed
    name, want = str(seed.dtype), str(like.dtype)
    if "complex" in name and "complex" not in want:
        raise TypeError(f"the {kind} is complex, but {of} is real ({want}): pass a real {kind}")
    return b.namespace(seed).astype(seed, like.dtype)


def use_forward(b: Backend, prefer_forward: bool) -> bool:
    """Which primitive to use: the forced mode, else the preferred one if the backend has it."""
    if not b.has_pullback():
        return True
    if not b.has_pushforward():
        return False
    if b.mode is not None:
        return b.mode == "forward"
    return prefer_forward


def chunk_length(n: int, per_seed: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
        return min(n, int(chunk_size))
    return max(1, min(n, CHUNK_ELEMENTS // max(1, per_seed)))


# ----------------------------------------------------------------------------- first order


def pushforward(b: Backend, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
    """``(f(x), J v)``, from the pushforward, or from rows of pullbacks when there is none."""
    if use_forward(b, True):
        return b.pushforward(f, x, v)
    y, jac = jacobian(b, f, x, None, False)
    xp = b.namespace(jac)
    flat = xp.matmul(xp.reshape(jac, (size(y), size(x))), xp.reshape(v, (size(x), 1)))
    return y, xp.reshape(flat, shape(y))


def pullback(b: Backend, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    """``(f(x), w -> wᵀ J)``, from the pullback, or from columns of pushforwards when there is none."""
    if not use_forward(b, False):
        return b.pullback(f, x)
    y, jac = jacobian(b, f, x, None, True)
    xp = b.namespace(jac)

    def pb(w: Array) -> Array:
        flat = xp.matmul(xp.reshape(w, (1, size(y))), xp.reshape(jac, (size(y), size(x))))
        return xp.reshape(flat, shape(x))

    return y, pb


def value_and_jvp(b: Backend, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
    return pushforward(b, f, x, cast_seed(b, v, x, "tangent v"))


def value_and_vjp(b: Backend, f: Callable, x: Array, w: Array) -> tuple[Array, Array]:
    y, pb = pullback(b, f, x)
    check_seed("vjp", "cotangent w", w, y, "f(x)")
    return y, pb(cast_seed(b, w, y, "cotangent w", "f(x)"))


def value_and_gradient(b: Backend, f: Callable, x: Array, operator: str = "gradient") -> tuple[Array, Array]:
    """One pullback seeded with 1, or pushforwards along the basis."""
    if use_forward(b, False):
        y, cols = batched_pushforwards(b, f, x, None)
        check_scalar(operator, y)
        return y, b.namespace(cols).reshape(cols, shape(x))
    fast = b.value_and_gradient(f, x, lambda y: check_scalar(operator, y))
    if fast is not None:
        return fast
    y, pb = b.pullback(f, x)
    check_scalar(operator, y)
    return y, pb(b.namespace(y).ones_like(y))


def gradient(b: Backend, f: Callable, x: Array) -> Array:
    return value_and_gradient(b, f, x)[1]


def value_and_derivative(b: Backend, f: Callable, x: Array) -> tuple[Array, Array]:
    if shape(x) != ():
        raise _errors.not_scalar_input("derivative", shape(x))
    return pushforward(b, f, x, b.namespace(x).ones_like(x))


def basis(b: Backend, like: Array, start: int, stop: int) -> Array:
    """Rows ``start:stop`` of the identity, each shaped like `like`: the seeds of a Jacobian."""
    xp = b.namespace(like)
    return xp.reshape(b.eye(like, size(like), start, stop), (stop - start, *shape(like)))


def batched_pushforwards(
    b: Backend, f: Callable, x: Array, chunk_size: int | None, per_output: int | None = None
) -> tuple[Array, Array]:
    """``(f(x), [J e_i for each basis vector e_i])``, in chunks through the batched hook."""
    n = size(x)
    if n == 0:
        y = f(x)
        xp = b.namespace(y)
        return y, xp.zeros((0, *shape(y)), dtype=y.dtype)
    step = chunk_length(n, n + (per_output if per_output is not None else n), chunk_size)
    y, parts = None, []
    for start in range(0, n, step):
        y, part = b.batched_pushforward(f, x, basis(b, x, start, min(n, start + step)))
        parts.append(part)
    xp = b.namespace(parts[0])
    return y, parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def batched_pullbacks(b: Backend, f: Callable, x: Array, chunk_size: int | None) -> tuple[Array, Array]:
    """``(f(x), [e_iᵀ J for each output basis vector e_i])``, in chunks through the batched hook."""
    y, pbs = b.batched_pullback(f, x)
    m, n = size(y), size(x)
    xp = b.namespace(x)
    if m == 0:
        return y, xp.zeros((0, *shape(x)), dtype=x.dtype)
    step = chunk_length(m, n + m, chunk_size)
    parts = [pbs(basis(b, y, start, min(m, start + step))) for start in range(0, m, step)]
    return y, parts[0] if len(parts) == 1 else b.namespace(parts[0]).concat(parts, axis=0)


def jacobian(
    b: Backend, f: Callable, x: Array, chunk_size: int | None = None, forward: bool | None = None
) -> tuple[Array, Array]:
    """``(f(x), J)`` with J of shape ``f(x).shape + x.shape``: columns of pushforwards or rows of pullbacks."""
    n = size(x)
    if forward is None:
        out_shape = b.output_shape(f, x)
        # Without a cheap shape, reverse first: its forward pass gives f(x) and is reused.
        forward = use_forward(b, out_shape is not None and n <= int(np.prod(out_shape, dtype=np.int64)))
        if not forward and out_shape is None and b.has_pushforward() and b.mode is None:
            y, rows = batched_pullbacks(b, f, x, chunk_size)
            if size(y) <= n:
                return y, b.namespace(rows).reshape(rows, (*shape(y), *shape(x)))
            forward = True
    if forward:
        y, cols = batched_pushforwards(b, f, x, chunk_size)
        xp = b.namespace(cols)
        m = size(y)
        jac = xp.reshape(cols, (n, m))
        jac = xp.permute_dims(jac, (1, 0)) if hasattr(xp, "permute_dims") else jac.T
        return y, xp.reshape(jac, (*shape(y), *shape(x)))
    y, rows = batched_pullbacks(b, f, x, chunk_size)
    return y, b.namespace(rows).reshape(rows, (*shape(y), *shape(x)))


def batched_jvp(b: Backend, f: Callable, x: Array, vs: Array) -> tuple[Array, Array]:
    """``(f(x), [J v for v in vs])``, the tangents stacked on a leading axis: one batched pushforward
    (a Jacobian's rows of pullbacks where the backend has no pushforward)."""
    vs = cast_seed(b, vs, x, "tangents")
    if use_forward(b, True):
        return b.batched_pushforward(f, x, vs)
    y, jac = jacobian(b, f, x, None, False)
    xp = b.namespace(jac)
    k, m, n = int(vs.shape[0]), size(y), size(x)
    out = xp.matmul(xp.reshape(vs, (k, n)), xp.permute_dims(xp.reshape(jac, (m, n)), (1, 0)))
    return y, xp.reshape(out, (k, *shape(y)))


def batched_vjp(b: Backend, f: Callable, x: Array, ws: Array) -> tuple[Array, Array]:
    """``(f(x), [wᵀ J for w in ws])``, the cotangents stacked on a leading axis: one batched pullback
    (a Jacobian's columns of pushforwards where the backend has no pullback)."""
    if not use_forward(b, False):
        y, pullbacks = b.batched_pullback(f, x)
        check_seed("vjp", "cotangents", ws[0], y, "f(x)")
        return y, pullbacks(cast_seed(b, ws, y, "cotangents", "f(x)"))
    y, jac = jacobian(b, f, x, None, True)
    check_seed("vjp", "cotangents", ws[0], y, "f(x)")
    xp = b.namespace(jac)
    k, m, n = int(ws.shape[0]), size(y), size(x)
    out = xp.matmul(xp.reshape(cast_seed(b, ws, y, "cotangents", "f(x)"), (k, m)), xp.reshape(jac, (m, n)))
    return y, xp.reshape(out, (k, *shape(x)))


# ----------------------------------------------------------------------------- second order


def inner_gradient(b: Backend, f: Callable) -> Callable[[Array], Array]:
    """The gradient of `f` as a function on `b`'s arrays, to be differentiated again."""

    def grad(z: Array) -> Array:
        return value_and_gradient(b, f, z, "hessian")[1]

    return grad


def hvp(b: Backend, f: Callable, x: Array, v: Array) -> Array:
    """``∇²f(x) v`` without forming the Hessian: forward-over-reverse, else reverse-over-reverse."""
    with b.nest():
        outer, grad, xo, to_outer = b.second_order(f, x)
        vo = to_outer(cast_seed(b, v, x, "tangent v"))
        if use_forward(outer, True):
            return pushforward(outer, grad, xo, vo)[1]
        # The Hessian is symmetric, so the pullback of the gradient along v is H v.
        return pullback(outer, grad, xo)[1](vo)


def batched_hvp(b: Backend, f: Callable, x: Array, vs: Array) -> Array:
    """``[∇²f(x) v for v in vs]``, stacked on a leading axis: one batched forward-over-reverse (or
    reverse-over-reverse) product."""
    with b.nest():
        outer, grad, xo, to_outer = b.second_order(f, x)
        vo = to_outer(cast_seed(b, vs, x, "tangents"))
        if use_forward(outer, True):
            return outer.batched_pushforward(grad, xo, vo)[1]
        return outer.batched_pullback(grad, xo)[1](vo)


def gradient_and_hessian(b: Backend, f: Callable, x: Array, chunk_size: int | None = None) -> tuple[Array, Array]:
    """``(∇f(x), ∇²f(x))``: the Jacobian of the gradient, forward-over-reverse where possible."""
    with b.nest():
        outer, grad, xo, _ = b.second_order(f, x)
        # Forward-over-reverse where the engine batches its pushforwards (vmap); without batching each
        # pushforward would run the gradient again, while reverse-over-reverse runs it once and then
        # pulls back n times (autograd's own hessian does the same).
        batched = type(outer).batched_pushforward is not Backend.batched_pushforward
        return jacobian(outer, grad, xo, chunk_size, use_forward(outer, batched))


def value_gradient_and_hessian(
    b: Backend, f: Callable, x: Array, chunk_size: int | None = None
) -> tuple[Array, Array, Array]:
    return (f(x), *gradient_and_hessian(b, f, x, chunk_size))


def second_derivative(b: Backend, f: Callable, x: Array) -> Array:
    if shape(x) != ():
        raise _errors.not_scalar_input("second_derivative", shape(x))

    def first(z: Array) -> Array:
        return value_and_derivative(b, f, z)[1]

    with b.nest():
        return value_and_derivative(b, first, x)[1]
