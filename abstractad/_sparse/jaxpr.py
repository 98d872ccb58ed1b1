"""Global sparsity patterns of JAX functions, read off their jaxprs.

The function is traced once to a jaxpr for an abstract input of the given shape and dtype, and the
jaxpr is interpreted over :mod:`abstractad._sparse.deps`: every variable carries the input elements each
of its elements may depend on (or None: no dependency), and, where it is computed from constants only,
its concrete value. Data movement is exact: the primitive itself is applied to arrays of element ids,
so whatever it does to data it does to the ids, and the ids that come out say where each element
came from. Indices that are concrete (constants, loop counters of unrolled loops) are used as such;
an index that depends on the input makes the result depend on every element it could select.
Every rule over-approximates: the pattern holds at every input, and the value of the input is never
looked at.

The interpreter is :mod:`.jaxpr_interpreter`; the rules, one module per family of primitives, are
:mod:`.jaxpr_elementwise`, :mod:`.jaxpr_structural` (data movement), :mod:`.jaxpr_reductions`,
:mod:`.jaxpr_contractions` and :mod:`.jaxpr_control`. JAX is imported inside the functions that need it only.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import deps as _deps
from . import jaxpr_contractions as _contractions
from . import jaxpr_control as _control
from . import jaxpr_elementwise as _elementwise
from . import jaxpr_interpreter as _interpreter
from . import jaxpr_reductions as _reductions
from . import jaxpr_structural as _structural
from .deps import HessianPairs
from .jaxpr_interpreter import Interpreter, Rule, inexact

# The rule of each primitive, by name; where two tables name one, the later wins (select_n and copy are
# linear elementwise, but exact as data movement). Calls are interpreted in place, anything else is dense.
_RULES: dict[str, Rule] = {
    **_elementwise.RULES,
    **_interpreter.DENSE_RULES,
    **_structural.RULES,
    **_reductions.RULES,
    **_contractions.RULES,
    **_control.RULES,
}


def jacobian_pattern(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> sp.csr_array:
    """The (m, n) boolean pattern of the Jacobian of `f` at any input of `shape` and `dtype`.

    `m` is the size of ``f(x)`` (the leaves of a pytree output stacked in ``jax.tree_util`` order) and
    `n` is ``prod(shape)``. An entry missing from the pattern is zero at every input.

    >>> import jax.numpy as jnp
    >>> jacobian_pattern(lambda x: x[1:] - x[:-1], (4,), jnp.float32).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    with _precision(dtype):
        closed = _trace(f, shape, dtype)
        with np.errstate(all="ignore"):
            outs = Interpreter(n, None, _RULES).run(closed.jaxpr, list(closed.consts), [(_deps.identity(shape), None)])
        blocks = []
        for var, (d, _) in zip(closed.jaxpr.outvars, outs):
            size = math.prod(var.aval.shape)
            blocks.append(_deps.pattern(d if inexact(var.aval) else None, size, n))
    if not blocks:
        return sp.csr_array((0, n), dtype=bool)
    return sp.csr_array(sp.vstack(blocks, format="csr")) if len(blocks) > 1 else blocks[0]


def hessian_pattern(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> sp.csr_array:
    """The (n, n) symmetric boolean pattern of the Hessian of the scalar-valued `f` at any input.

    Raises ValueError when ``f(x)`` is not a scalar.

    >>> import jax.numpy as jnp
    >>> hessian_pattern(lambda x: jnp.sum(x[1:] * x[:-1]), (3,), jnp.float64).toarray().astype(int)
    array([[0, 1, 0],
           [1, 0, 1],
           [0, 1, 0]])
    """
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    with _precision(dtype):
        closed = _trace(f, shape, dtype)
        avals = [v.aval for v in closed.jaxpr.outvars]
        if len(avals) != 1 or tuple(avals[0].shape) != ():
            shapes = ", ".join(str(tuple(a.shape)) for a in avals)
            raise ValueError(f"hessian_pattern: f must return a scalar, it returns arrays of shape {shapes}")
        pairs = HessianPairs(n)
        with np.errstate(all="ignore"):
            Interpreter(n, pairs, _RULES).run(closed.jaxpr, list(closed.consts), [(_deps.identity(shape), None)])
    rows = pairs.pattern()
    rows.sum_duplicates()
    rows.sort_indices()
    return rows


def _precision(dtype: Any) -> contextlib.AbstractContextManager[Any]:
    """64-bit types need JAX's x64 mode for the trace (and for the constants computed from it)."""
    import jax

    if np.dtype(dtype).itemsize < 8 or (np.dtype(dtype).kind == "c" and np.dtype(dtype).itemsize < 16):
        return contextlib.nullcontext()
    if jax.config.jax_enable_x64:
        return contextlib.nullcontext()
    legacy = getattr(getattr(jax, "experimental", None), "enable_x64", None)
    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else legacy()


def _trace(f: Callable[[Any], Any], shape: tuple[int, ...], dtype: Any) -> Any:
    import jax

    return jax.make_jaxpr(f)(jax.ShapeDtypeStruct(shape, np.dtype(dtype)))
