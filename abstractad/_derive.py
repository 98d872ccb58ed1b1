"""Every operator derived from the backend's primitives, on the backend's own arrays.

These functions never leave the engine's arrays, so an engine can differentiate through them
(a Hessian is the engine nesting itself) and a compiling backend can trace them whole.
"""

from __future__ import annotations

import contextlib
import functools
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


# ----------------------------------------------------------------------------- wrong-mode fallbacks

# A transposition (one more primitive call, traced through the first) costs about this many products more
# than reading a Jacobian's rows or columns directly: a wrong-mode product transposes only where it pays.
TRANSPOSE_COST = 2


def transpose_pays(direct: int, transposed: int) -> bool:
    """Whether `transposed` products through a transposition are cheaper than `direct` rows or columns."""
    return direct > transposed + TRANSPOSE_COST


def stacked(b: Backend, product: Callable[[Array], Array], like: Array) -> Callable[[Array], Array]:
    """``seeds -> [product(s) for s in seeds]``, stacked on a leading axis, each result shaped like `like`."""
    xp = b.namespace(like)

    def products(seeds: Array) -> Array:
        k = int(seeds.shape[0])
        if k == 0:
            return xp.zeros((0, *shape(like)), dtype=like.dtype)
        return xp.stack([product(seeds[i]) for i in range(k)])

    return products


def transposed_pullback(b: Backend, pb: Callable[[Array], Array], y: Array, batched: bool) -> Callable:
    """``v -> J v`` (``vs -> [J v for v in vs]`` if `batched`) from `pb`, the pullback of f at a point where
    f's value is `y`: ``w -> wᵀ J`` is linear in w, so its pullback at any w (zeros) along v is ``J v``. One
    more pullback, of `pb` itself: only for a backend that nests its pullback (Backend.nests_pullback)."""
    w = b.namespace(y).zeros_like(y)
    return (b.batched_pullback if batched else b.pullback)(pb, w)[1]


def output_size(b: Backend, f: Callable, x: Array) -> tuple[int, tuple[Array, Callable] | None]:
    """``(f(x).size, built)``: from the backend's cheap shape (built None), else from a batched pullback
    (built: its ``(f(x), ws -> [wᵀ J ...])``, reused for the rows if they are read)."""
    out_shape = b.output_shape(f, x)
    if out_shape is not None:
        return math.prod(out_shape), None
    built = b.batched_pullback(f, x)
    return size(built[0]), built


# ----------------------------------------------------------------------------- first order


def pushforward(b: Backend, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
    """``(f(x), J v)``: the pushforward; without one, the pullback of the pullback (two pullbacks in all) where
    the backend nests its pullback and f(x) has more than a few elements, else rows of pullbacks."""
    if use_forward(b, True):
        return b.pushforward(f, x, v)
    if b.nests_pullback:
        y, pb = b.pullback(f, x)
        if transpose_pays(size(y), 1):
            return y, transposed_pullback(b, pb, y, False)(v)
        jac = stacked(b, pb, x)(basis(b, y, 0, size(y)))
    else:
        y, jac = jacobian(b, f, x, None, False)
    xp = b.namespace(jac)
    flat = xp.matmul(xp.reshape(jac, (size(y), size(x))), xp.reshape(v, (size(x), 1)))
    return y, xp.reshape(flat, shape(y))


def pullback(b: Backend, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    """``(f(x), w -> wᵀ J)``: the pullback; without one, the backend's transposed pushforward
    (Backend.transpose_pushforward) where it has one and x has more than a few elements, else columns of
    pushforwards."""
    if not use_forward(b, False):
        return b.pullback(f, x)
    transposed = b.transpose_pushforward(f, x) if transpose_pays(size(x), 1) else None
    if transposed is not None:
        return transposed
    y, jac = jacobian(b, f, x, None, True)
    xp = b.namespace(jac)

    def pb(w: Array) -> Array:
        flat = xp.matmul(xp.reshape(w, (1, size(y))), xp.reshape(jac, (size(y), size(x))))
        return xp.reshape(flat, shape(x))

    return y, pb


def linearize(b: Backend, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]]:
    """``(f(x), v -> J v)`` for many tangents at one point: the backend's linearization (Backend.linearize)
    where it has one, else one pushforward per tangent."""
    linearized = b.linearize(f, x)
    if linearized is not None:
        return linearized
    y, _ = pushforward(b, f, x, b.namespace(x).zeros_like(x))
    return y, lambda v: pushforward(b, f, x, v)[1]


def value_and_jvp(b: Backend, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
    return pushforward(b, f, x, cast_seed(b, v, x, "tangent v"))


def value_and_vjp(b: Backend, f: Callable, x: Array, w: Array) -> tuple[Array, Array]:
    y, pb = pullback(b, f, x)
    check_seed("vjp", "cotangent w", w, y, "f(x)")
    return y, pb(cast_seed(b, w, y, "cotangent w", "f(x)"))


@functools.cache
def _scalar_check(operator: str) -> Callable[[Array], None]:
    """check_scalar for `operator`, made once: every eager gradient hands one to its backend."""
    return functools.partial(check_scalar, operator)


def value_and_gradient(b: Backend, f: Callable, x: Array, operator: str = "gradient") -> tuple[Array, Array]:
    """One pullback seeded with 1 (a transposed pushforward's where there is no pullback), or pushforwards
    along the basis."""
    if use_forward(b, False):
        transposed = b.transpose_pushforward(f, x) if transpose_pays(size(x), 1) else None
        if transposed is None:
            y, cols = batched_pushforwards(b, f, x, None)
            check_scalar(operator, y)
            return y, b.namespace(cols).reshape(cols, shape(x))
        y, pb = transposed
    else:
        fast = b.value_and_gradient(f, x, _scalar_check(operator))
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
    b: Backend,
    f: Callable,
    x: Array,
    chunk_size: int | None,
    per_output: int | None = None,
    built: tuple[Array, Callable] | None = None,
) -> tuple[Array, Array]:
    """``(f(x), [J e_i for each basis vector e_i])``, in chunks through the batched hook (or through
    `built`, an ``(f(x), vs -> [J v ...])`` already at hand)."""
    n = size(x)
    if n == 0:
        y = f(x) if built is None else built[0]
        xp = b.namespace(y)
        return y, xp.zeros((0, *shape(y)), dtype=y.dtype)
    step = chunk_length(n, n + (per_output if per_output is not None else n), chunk_size)
    y, parts = None if built is None else built[0], []
    for start in range(0, n, step):
        seeds = basis(b, x, start, min(n, start + step))
        if built is None:
            y, part = b.batched_pushforward(f, x, seeds)
        else:
            part = built[1](seeds)
        parts.append(part)
    xp = b.namespace(parts[0])
    return y, parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def batched_pullbacks(
    b: Backend, f: Callable, x: Array, chunk_size: int | None, built: tuple[Array, Callable] | None = None
) -> tuple[Array, Array]:
    """``(f(x), [e_iᵀ J for each output basis vector e_i])``, in chunks through the batched hook (or
    through `built`, an ``(f(x), ws -> [wᵀ J ...])`` already at hand)."""
    y, pbs = b.batched_pullback(f, x) if built is None else built
    m, n = size(y), size(x)
    xp = b.namespace(x)
    if m == 0:
        return y, xp.zeros((0, *shape(x)), dtype=x.dtype)
    step = chunk_length(m, n + m, chunk_size)
    parts = [pbs(basis(b, y, start, min(m, start + step))) for start in range(0, m, step)]
    return y, parts[0] if len(parts) == 1 else b.namespace(parts[0]).concat(parts, axis=0)


def from_columns(b: Backend, y: Array, cols: Array, x: Array) -> Array:
    """The Jacobian, shaped ``f(x).shape + x.shape``, from its columns stacked on a leading axis."""
    xp = b.namespace(cols)
    jac = xp.reshape(cols, (size(x), size(y)))
    jac = xp.permute_dims(jac, (1, 0)) if hasattr(xp, "permute_dims") else jac.T
    return xp.reshape(jac, (*shape(y), *shape(x)))


def jacobian(
    b: Backend, f: Callable, x: Array, chunk_size: int | None = None, forward: bool | None = None
) -> tuple[Array, Array]:
    """``(f(x), J)`` with J of shape ``f(x).shape + x.shape``: columns of pushforwards or rows of pullbacks,
    whichever are fewer, the missing primitive's by transposition where the backend can."""
    n, m, built = size(x), None, None
    if forward is None:
        out_shape = b.output_shape(f, x)
        m = None if out_shape is None else math.prod(out_shape)
        forward = use_forward(b, m is not None and n <= m)
        if not forward and m is None and b.has_pushforward() and b.mode is None:
            # Without a cheap shape, reverse first: its forward pass gives f(x) and is reused for the rows.
            built = b.batched_pullback(f, x)
            m = size(built[0])
            forward = m > n
    if forward:
        transposed = b.transpose_pushforward(f, x) if m is not None and transpose_pays(n, m) else None
        if transposed is not None:  # fewer rows than columns, without a pullback
            y, pb = transposed
            y, rows = batched_pullbacks(b, f, x, chunk_size, (y, stacked(b, pb, x)))
            return y, b.namespace(rows).reshape(rows, (*shape(y), *shape(x)))
        y, cols = batched_pushforwards(b, f, x, chunk_size)
        return y, from_columns(b, y, cols, x)
    return reverse_jacobian(b, f, x, chunk_size, m, built)


def reverse_jacobian(
    b: Backend, f: Callable, x: Array, chunk_size: int | None, m: int | None, built: tuple[Array, Callable] | None
) -> tuple[Array, Array]:
    """J from pullbacks: its rows; its columns by transposition where the backend nests its pullback and f(x)
    (`m` elements where known) has more elements than x."""
    n = size(x)
    if b.nests_pullback and m is None:
        built = b.batched_pullback(f, x) if built is None else built  # f(x)'s size, and the rows if fewer
        m = size(built[0])
    if b.nests_pullback and transpose_pays(m, n):
        y, pb = b.pullback(f, x)
        y, cols = batched_pushforwards(b, f, x, chunk_size, m, (y, transposed_pullback(b, pb, y, True)))
        return y, from_columns(b, y, cols, x)
    y, rows = batched_pullbacks(b, f, x, chunk_size, built)
    return y, b.namespace(rows).reshape(rows, (*shape(y), *shape(x)))


def batched_jvp(b: Backend, f: Callable, x: Array, vs: Array) -> tuple[Array, Array]:
    """``(f(x), [J v for v in vs])``, the tangents stacked on a leading axis: one batched pushforward (where
    the backend has no pushforward: a batched pullback of its pullback where it nests it and f(x) has more
    elements than there are tangents, else a Jacobian from pullbacks)."""
    vs = cast_seed(b, vs, x, "tangents")
    if use_forward(b, True):
        return b.batched_pushforward(f, x, vs)
    k, n = int(vs.shape[0]), size(x)
    m, built = output_size(b, f, x) if b.nests_pullback else (None, None)
    if m is not None and transpose_pays(m, k):
        y, pb = b.pullback(f, x)
        return y, transposed_pullback(b, pb, y, True)(vs)
    y, jac = reverse_jacobian(b, f, x, None, m, built)
    xp = b.namespace(jac)
    m = size(y)
    out = xp.matmul(xp.reshape(vs, (k, n)), xp.permute_dims(xp.reshape(jac, (m, n)), (1, 0)))
    return y, xp.reshape(out, (k, *shape(y)))


def batched_vjp(b: Backend, f: Callable, x: Array, ws: Array) -> tuple[Array, Array]:
    """``(f(x), [wᵀ J for w in ws])``, the cotangents stacked on a leading axis: one batched pullback (where
    the backend has no pullback: its transposed pushforward where it has one and x has more elements than
    there are cotangents, else a Jacobian's columns of pushforwards)."""
    if not use_forward(b, False):
        y, pullbacks = b.batched_pullback(f, x)
        check_seed("vjp", "cotangents", ws[0], y, "f(x)")
        return y, pullbacks(cast_seed(b, ws, y, "cotangents", "f(x)"))
    k, n = int(ws.shape[0]), size(x)
    transposed = b.transpose_pushforward(f, x) if transpose_pays(n, k) else None
    if transposed is not None:
        y, pb = transposed
        check_seed("vjp", "cotangents", ws[0], y, "f(x)")
        return y, stacked(b, pb, x)(cast_seed(b, ws, y, "cotangents", "f(x)"))
    y, jac = jacobian(b, f, x, None, True)
    check_seed("vjp", "cotangents", ws[0], y, "f(x)")
    xp = b.namespace(jac)
    m = size(y)
    out = xp.matmul(xp.reshape(cast_seed(b, ws, y, "cotangents", "f(x)"), (k, m)), xp.reshape(jac, (m, n)))
    return y, xp.reshape(out, (k, *shape(x)))


# ----------------------------------------------------------------------------- second order


def inner_gradient(b: Backend, f: Callable) -> Callable[[Array], Array]:
    """The gradient of `f` as a function on `b`'s arrays, to be differentiated again."""

    def grad(z: Array) -> Array:
        return value_and_gradient(b, f, z, "hessian")[1]

    return grad


def second_order(b: Backend, f: Callable, x: Array) -> tuple[Backend, Callable, Array, Callable[[Array], Array]]:
    """``(outer, gradient of f, x for outer, convert a seed for outer)``: what second order differentiates, the
    backend's (Backend.second_order: SecondOrder's outer engine and bridge) where it says, else `b` nesting itself."""
    nested = b.second_order(f, x)
    if nested is not None:
        return nested
    return b, inner_gradient(b, f), x, lambda a: a


def hvp(b: Backend, f: Callable, x: Array, v: Array) -> Array:
    """``∇²f(x) v`` without forming the Hessian: forward-over-reverse, else reverse-over-reverse."""
    with b.nest():
        outer, grad, xo, to_outer = second_order(b, f, x)
        vo = to_outer(cast_seed(b, v, x, "tangent v"))
        if use_forward(outer, True):
            return pushforward(outer, grad, xo, vo)[1]
        # The Hessian is symmetric, so the pullback of the gradient along v is H v.
        return pullback(outer, grad, xo)[1](vo)


def batched_hvp(b: Backend, f: Callable, x: Array, vs: Array) -> Array:
    """``[∇²f(x) v for v in vs]``, stacked on a leading axis: one batched forward-over-reverse (or
    reverse-over-reverse) product."""
    with b.nest():
        outer, grad, xo, to_outer = second_order(b, f, x)
        vo = to_outer(cast_seed(b, vs, x, "tangents"))
        if use_forward(outer, True):
            return outer.batched_pushforward(grad, xo, vo)[1]
        return outer.batched_pullback(grad, xo)[1](vo)


def gradient_and_hessian(b: Backend, f: Callable, x: Array, chunk_size: int | None = None) -> tuple[Array, Array]:
    """``(∇f(x), ∇²f(x))``: the Jacobian of the gradient, forward-over-reverse where possible."""
    with b.nest():
        outer, grad, xo, _ = second_order(b, f, x)
        # Forward-over-reverse where the engine batches its pushforwards (vmap); without batching each
        # pushforward would run the gradient again, while reverse-over-reverse runs it once and then
        # pulls back n times (autograd's own hessian does the same).
        batched = type(outer).batched_pushforward is not Backend.batched_pushforward
        g, h = jacobian(outer, grad, xo, chunk_size, use_forward(outer, batched))
    if b.exact and outer.exact:
        return g, h
    # An approximate Hessian (finite differences) is made exactly symmetric: (H + Hᵀ) / 2.
    xp, n = outer.namespace(h), size(x)
    square = xp.reshape(h, (n, n))
    return g, xp.reshape((square + xp.permute_dims(square, (1, 0))) / 2, shape(h))


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


# ----------------------------------------------------------------------------- higher order

# Seeds and products of one chunk of a Laplacian stay below this many elements: memory O(n · chunk).
LAPLACIAN_ELEMENTS = 2**22


def check_nesting(b: Backend, operator: str, levels: int) -> None:
    """A ValueError up front where `levels` nested derivatives exceed what the backend can nest
    (Backend.max_nesting: FiniteDiff's stencils go to order 2)."""
    limit = b.max_nesting
    if limit is not None and levels > limit:
        raise _errors.nesting_limit(operator, b, levels, limit)


def directional(b: Backend, f: Callable, v: Array) -> Callable[[Array], Array]:
    """``z -> J(z) v``, the derivative of `f` along `v` as a function, to be differentiated again."""

    def along(z: Array) -> Array:
        return pushforward(b, f, z, v)[1]

    return along


def taylor(b: Backend, f: Callable, x: Array, v: Array, order: int) -> tuple[Array, ...]:
    """``(dᵏ/dtᵏ f(x + t v) at t = 0 for k = 0 … order)``: the backend's Taylor series (Backend.taylor:
    JAX's jet) where it has one, else each derivative the pushforward along v of the one before."""
    check_nesting(b, "taylor", order)
    v = cast_seed(b, v, x, "tangent v")
    fast = b.taylor(f, x, v, order)
    if fast is not None:
        return tuple(fast)
    if order == 0:
        return (f(x),)
    fs = [f]
    for _ in range(order - 1):
        fs.append(directional(b, fs[-1], v))
    # The last pushforward gives the two highest derivatives; the lower ones are evaluated on their own
    # (an approximate backend's next-to-highest too: its nested steps are coarser).
    lower = [g(x) for g in fs[: -1 if b.exact or order == 1 else None]]
    with b.nest() if order > 1 else contextlib.nullcontext():
        below, top = pushforward(b, fs[-1], x, v)
    return (*lower, below, top) if b.exact or order == 1 else (*lower, top)


def laplacian(b: Backend, f: Callable, x: Array) -> Array:
    """``Σᵢ ∂²f/∂xᵢ²`` without the Hessian, in chunks of the basis (memory O(n · chunk)): for a scalar f,
    the diagonal of batched Hessian-vector products; for an array-valued f, the second derivatives
    along the basis vectors (the backend's batched hook, else one nested pushforward each), summed:
    the Laplacian of each output."""
    check_nesting(b, "laplacian", 2)
    n, out_shape = size(x), b.output_shape(f, x)
    if out_shape is None or n == 0:
        y = f(x)
        out_shape = shape(y)
        if n == 0:
            return b.namespace(y).zeros_like(y)
    xp, total = b.namespace(x), None
    scalar = tuple(out_shape) == ()
    step = max(1, min(n, LAPLACIAN_ELEMENTS // (2 * n if scalar else n + math.prod(out_shape))))
    for start in range(0, n, step):
        seeds = basis(b, x, start, min(n, start + step))
        part = hessian_diagonal(b, f, x, seeds, start) if scalar else second_directionals(b, f, x, seeds)
        total = part if total is None else total + part
    return xp.reshape(total, tuple(out_shape))  # an array, also where the sum is a NumPy scalar


def hessian_diagonal(b: Backend, f: Callable, x: Array, seeds: Array, start: int) -> Array:
    """The sum of the Hessian's diagonal entries ``start … start + k`` for the basis rows `seeds`: the
    diagonal of the k × n products taken as one strided slice (under a compiler it becomes a slice
    of the computation, which XLA then simplifies for elementwise f: O(n), not O(n²))."""
    xp, n, k = b.namespace(x), size(x), int(seeds.shape[0])
    products = xp.reshape(batched_hvp(b, f, x, seeds), (k * n,))
    return xp.sum(products[start :: n + 1])


def second_directionals(b: Backend, f: Callable, x: Array, seeds: Array) -> Array:
    """``Σ_v d²/dt² f(x + t v)`` over the rows of `seeds`, in f(x)'s shape: one batched call where the
    backend has one (Backend.second_directionals: a vmap of nested jvps), else one nested pushforward
    per row."""
    with b.nest():
        stacked = b.second_directionals(f, x, seeds)
        if stacked is not None:
            return b.namespace(stacked).sum(stacked, axis=0)
        total = None
        for i in range(int(seeds.shape[0])):
            part = pushforward(b, directional(b, f, seeds[i]), x, seeds[i])[1]
            total = part if total is None else total + part
        return total
