"""differentiate_with: a function computed, and differentiated, by one backend, callable from any engine.

The engine that calls it (the *outer* engine) sees an opaque primitive; its derivative rules
call back into the *inner* backend. Each engine module supplies the rule-registration through
the ``Backend.foreign`` hook; this module holds what every engine shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _arrays, _derive
from ._backend import Backend, resolve

BackendLike = Backend | str | None


class Foreign:
    """`fn` on `backend`'s arrays, with its value, JVP and VJP callable on any library's arrays.

    The outer engine's hook (``Backend.foreign``) receives one of these. Inputs may be arrays of
    any library; they reach `backend` through DLPack where possible. Results are `backend`'s
    arrays: the hook converts them with ``_arrays.convert`` into its own.
    """

    def __init__(self, fn: Callable, backend: Backend, name: str = "f") -> None:
        self.fn, self.backend, self.name = fn, backend, name
        self._specs: dict[tuple[tuple[int, ...], str], tuple[tuple[int, ...], str]] = {}

    def _native(self, a: Any, dtype: str | None = None) -> Any:
        if not _arrays.is_array(a):
            a = np.asarray(a, dtype=dtype)
        return self.backend.asarray(a)

    def _scope(self, a: Any) -> Any:
        return self.backend.scope(_arrays.dtype_name(a))

    def value(self, x: Any) -> Any:
        with self._scope(x):
            return self.fn(self._native(x))

    def jvp(self, x: Any, v: Any) -> Any:
        with self._scope(x):
            return _derive.pushforward(self.backend, self.fn, self._native(x), self._native(v))[1]

    def vjp(self, x: Any, w: Any) -> Any:
        with self._scope(x):
            return _derive.pullback(self.backend, self.fn, self._native(x))[1](self._native(w))

    def vjp_hvp(self, x: Any, w: Any, u: Any) -> Any:
        """The derivative of ``x -> vjp(x, w)`` transposed along `u`: ``∇²⟨w, f⟩(x) u``, the inner
        backend's own HVP of the scalar ``z -> ⟨w, f(z)⟩``. With ``jvp(x, u)`` (the derivative in
        `w`) it is what an outer engine needs to differentiate the bridge's VJP: second order."""
        with self._scope(x):
            wn = self._native(w)

            def weighted(z: Any) -> Any:
                y = self.fn(z)
                return self.backend.namespace(y).sum(y * wn)

            return _derive.hvp(self.backend, weighted, self._native(x), self._native(u))

    def vjp_and_value(self, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        """``(f(x), w -> wᵀ J)`` with one forward pass of the inner backend."""
        with self._scope(x):
            y, pb = _derive.pullback(self.backend, self.fn, self._native(x))

        def pullback(w: Any) -> Any:
            with self._scope(x):
                return pb(self._native(w))

        return y, pullback

    def shape_dtype(self, x: Any) -> tuple[tuple[int, ...], str]:
        """The shape and dtype name of ``f(x)`` (by evaluating it where the backend cannot tell cheaply)."""
        with self._scope(x):
            xn = self._native(x)
            shape = self.backend.output_shape(self.fn, xn)
            if shape is not None:
                return tuple(shape), _arrays.dtype_name(x)
            y = self.fn(xn)
        return _arrays.shape_of(y), _arrays.dtype_name(y)

    def spec(self, shape: tuple[int, ...], dtype: str) -> tuple[tuple[int, ...], str]:
        """The shape and dtype name of ``f(x)`` for an `x` of this shape and dtype, without its values
        (for an outer engine that is tracing): the backend's shape hook, else `f` evaluated once at
        zeros. Cached per shape and dtype."""
        key = (tuple(shape), dtype)
        if key not in self._specs:
            self._specs[key] = self.shape_dtype(np.zeros(shape, dtype=dtype))
        return self._specs[key]

    def __repr__(self) -> str:
        return f"Foreign({self.name}, backend={self.backend!r})"


_OUTER_FOR_LIBRARY = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow", "autograd": "autograd"}


def outer_backend_for(x: Any) -> Backend | None:
    """The engine whose arrays `x` is (None for NumPy and Python numbers)."""
    name = _OUTER_FOR_LIBRARY.get(_arrays.library_of(x) or "")
    return resolve(name) if name is not None else None


def differentiate_with(f: Callable, backend: BackendLike) -> Callable:
    """A function that computes ``f(x)`` with `backend`, callable with any engine's arrays, whose
    derivatives, when another engine differentiates a program that calls it, `backend` computes.

    With NumPy arrays it simply returns ``f(x)`` as NumPy. With an engine's arrays (JAX arrays or
    tracers, torch tensors, TensorFlow tensors, autograd boxes) it is that engine's primitive, whose
    derivative rules call `backend`: a JAX program calling a PyTorch function, autograd code
    calling a black box differentiated by finite differences.

    >>> import numpy as np, autograd, abstractad as ad
    >>> cube = ad.differentiate_with(lambda x: x ** 3, "finitediff")
    >>> g = autograd.grad(lambda x: cube(x).sum())(np.array([1.0, 2.0]))
    >>> np.round(g, 6)
    array([ 3., 12.])
    """
    if not callable(f):
        raise TypeError(f"differentiate_with needs a callable f, not {type(f).__name__}")
    inner = resolve(backend)
    foreign = Foreign(f, inner, getattr(f, "__name__", "f"))
    hooks: dict[Any, Callable] = {}

    def g(x: Any) -> Any:
        info = _arrays.describe(x)  # a TypeError for integer, boolean or non-array x
        outer = outer_backend_for(x)
        if outer is None:
            return _arrays.restore_python(foreign.value(x), info)
        key = type(outer)
        if key is type(inner):
            # The caller's engine is the backend's own: it differentiates f natively, to the same
            # derivatives, without a bridge (and without a host callback inside its own graph).
            return f(x)
        if key not in hooks:
            hooks[key] = outer.foreign(foreign)
        return hooks[key](x)

    # f's name and docstring, but no __wrapped__, and no "<lambda>" name: TensorFlow's AutoGraph
    # would look for f's source instead of g's.
    name = getattr(f, "__name__", "f")
    if name.isidentifier():
        g.__name__ = name
    g.__doc__ = getattr(f, "__doc__", None)
    g.foreign = foreign  # type: ignore[attr-defined]
    return g
