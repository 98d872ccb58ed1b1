"""HIPS autograd: reverse mode (``make_vjp``) and forward mode (``make_jvp``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import autograd.numpy as anp
import numpy as np
from autograd.core import make_jvp, make_vjp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import trace_stack

from abstractad import _arrays
from abstractad._backend import Backend, Mode, check_mode


def _keep_dtype(a: Any, dtype: Any) -> Any:
    """A tangent in the dtype of the output it belongs to: some of autograd's rules promote (x / an
    int64 count, float32 -> float64). Only plain arrays are cast (autograd has no derivative of
    astype); results in x's structure are cast by the generic layer."""
    if dtype is None or not isinstance(a, (np.ndarray, np.generic)) or a.dtype == dtype:
        return a
    return a.astype(dtype)


T = TypeVar("T")


def _traced(make: Callable[[Callable], T], f: Callable) -> T:
    """``make(f)``, where `make` traces `f` once (``make_vjp``, ``make_jvp``), closing autograd's trace
    if `f` raises: ``TraceStack.new_trace`` increments ``trace_stack.top`` before `f` runs and decrements
    it after, without try/finally, so an exception from `f` would leave the counter one higher for good.
    (A decrement, not a restore of the old value, so that other threads' traces are left alone.)"""
    raised = False

    def body(z: Any) -> Any:
        nonlocal raised
        try:
            return f(z)
        except BaseException:
            raised = True
            raise

    try:
        return make(body)
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
    unsupported_dtypes: ClassVar[frozenset[str]] = frozenset({"bfloat16"})  # autograd knows NumPy's dtypes only
    mode: Mode = None

    def __post_init__(self) -> None:
        check_mode(self.mode)

    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        y, jv = _traced(lambda g: make_jvp(g, x)(v), f)
        return y, _keep_dtype(jv, getattr(y, "dtype", None))

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        vjp, y = _traced(lambda g: make_vjp(g, x), f)
        return y, vjp  # results in x's structure are cast to x's dtype by the generic layer (_call._like_x)

    def asarray(self, a: Any) -> Any:
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
