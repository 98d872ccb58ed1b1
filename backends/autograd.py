"""HIPS autograd: reverse mode (``make_vjp``) and forward mode (``make_jvp``).

Pytrees reach the primitives as tuples of arrays (``takes_pytrees``), which autograd traces as one
container (a ``SequenceBox``); see ``_traced``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import autograd.numpy as anp
import numpy as np
from autograd.builtins import make_sequence
from autograd.core import make_jvp, make_vjp
from autograd.extend import Box, defjvp, defvjp, primitive
from autograd.tracer import trace_stack

from abstractad import _arrays
from abstractad._backend import Backend, Mode, check_mode

from . import _autograd_arrays


def _keep_dtype(a: Any, dtype: Any) -> Any:
    """A tangent in the dtype of the output it belongs to: some of autograd's rules promote (x / an
    int64 count, float32 -> float64). Only plain arrays are cast (autograd has no derivative of
    astype); results in x's structure are cast by the generic layer."""
    if dtype is None or not isinstance(a, (np.ndarray, np.generic)) or a.dtype == dtype:
        return a
    return a.astype(dtype)


def _leaves(a: Any, n: int) -> tuple[Any, ...]:
    """A sequence from a trace as a plain tuple of `n` arrays: nested in another trace, autograd
    hands back a ``SequenceBox`` (indexing it keeps each element differentiable by the outer trace)."""
    return tuple([a[i] for i in range(n)]) if isinstance(a, Box) else tuple(a)


T = TypeVar("T")


def _traced(make: Callable[[Callable], T], f: Callable, leaves: int | None = None) -> tuple[T, bool]:
    """``(make(f), whether f returned a tuple)``, where `make` traces `f` once (``make_vjp``,
    ``make_jvp``), closing autograd's trace if `f` raises: ``TraceStack.new_trace`` increments
    ``trace_stack.top`` before `f` runs and decrements it after, without try/finally, so an exception
    from `f` would leave the counter one higher for good. (A decrement, not a restore of the old
    value, so that other threads' traces are left alone.)

    Tuples (a pytree's leaves): with `leaves` set, x is a tuple that autograd traces as one
    ``SequenceBox``, and `f` receives it as a real tuple of that many (boxed) arrays; a tuple that
    `f` returns is handed back as one traced sequence (``make_sequence``), as a plain tuple of boxes
    would be invisible to the trace."""
    raised = False
    returned_tuple = False

    def body(z: Any) -> Any:
        nonlocal raised, returned_tuple
        try:
            y = f(z) if leaves is None else f(tuple([z[i] for i in range(leaves)]))
        except BaseException:
            raised = True
            raise
        if isinstance(y, tuple):
            returned_tuple = True
            return make_sequence(tuple, *y)
        return y

    try:
        return make(body), returned_tuple
    except BaseException:
        if raised:
            trace_stack.top -= 1
        raise


@dataclasses.dataclass(frozen=True)
class Autograd(Backend):
    """Differentiate with HIPS autograd: ``make_vjp`` reverse, ``make_jvp`` forward.

    `f` receives NumPy arrays or autograd boxes: write it with ``autograd.numpy`` or with
    ``ad.array_namespace(x)``. Results of nested calls stay boxed, so autograd differentiates
    its own derivatives (Hessians by nesting itself).

    >>> import numpy as np, abstractad as ad
    >>> ad.hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend=ad.backends.Autograd())
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    name: ClassVar[str] = "autograd"
    takes_pytrees: ClassVar[bool] = True
    unsupported_dtypes: ClassVar[frozenset[str]] = frozenset({"bfloat16"})  # autograd knows NumPy's dtypes only
    mode: Mode = None

    def __post_init__(self) -> None:
        check_mode(self.mode)

    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        if isinstance(x, tuple):
            v = tuple([_keep_dtype(s, getattr(a, "dtype", None)) for s, a in zip(v, x, strict=True)])
            (y, jv), tupled = _traced(lambda g: make_jvp(g, x)(v), f, len(x))
        else:
            (y, jv), tupled = _traced(lambda g: make_jvp(g, x)(v), f)
        if tupled:
            n = len(y)
            y, jv = _leaves(y, n), _leaves(jv, n)
            return y, tuple([_keep_dtype(t, getattr(a, "dtype", None)) for t, a in zip(jv, y)])
        return y, _keep_dtype(jv, getattr(y, "dtype", None))

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        # Results in x's structure are cast to x's dtype by the generic layer (_call._like_x).
        if not isinstance(x, tuple):
            (vjp, y), tupled = _traced(lambda g: make_vjp(g, x), f)
            return (_leaves(y, len(y)), vjp) if tupled else (y, vjp)
        n = len(x)
        (vjp, y), tupled = _traced(lambda g: make_vjp(g, x), f, n)
        return (_leaves(y, len(y)) if tupled else y), lambda w: _leaves(vjp(w), n)

    def namespace(self, x: Any) -> Any:
        # autograd.numpy's, also for NumPy arrays: results may be boxes of an outer trace (a boxed seed
        # or constant) even where x is a plain array, and only autograd.numpy stacks them as boxes.
        return _autograd_arrays.namespace()

    def records(self, a: Any) -> bool:
        return isinstance(a, Box)

    def asarray(self, a: Any) -> Any:
        if isinstance(a, Box):  # an outer autograd trace's value: kept boxed, so that it differentiates through us
            return a
        return anp.asarray(super().asarray(a))

    def foreign(self, fn: Any) -> Callable[[Any], Any]:
        """An autograd primitive computing ``fn`` whose VJP and JVP come from ``fn``'s backend."""

        def numpy(a: Any) -> Any:
            return _arrays.convert(a, "numpy")

        @primitive
        def call(x: Any) -> Any:
            return numpy(fn.value(x))

        # The VJP is itself a primitive, differentiable once more (second order through the
        # bridge: the inner backend's HVP in x, its JVP in w); its own derivatives are not defined.
        @primitive
        def vjp(x: Any, w: Any) -> Any:
            return numpy(fn.vjp(x, w))

        defvjp(call, lambda ans, x: lambda w: vjp(x, w))
        defjvp(call, lambda v, ans, x: numpy(fn.jvp(x, v)))
        defvjp(
            vjp,
            lambda ans, x, w: lambda u: numpy(fn.vjp_hvp(x, w, u)),
            lambda ans, x, w: lambda u: numpy(fn.jvp(x, u)),
        )
        defjvp(vjp, lambda u, ans, x, w: numpy(fn.vjp_hvp(x, w, u)), lambda u, ans, x, w: numpy(fn.vjp(x, u)))
        return call
