"""differentiate_with: a function computed, and differentiated, by one backend, callable from any engine.

The engine that calls it (the *outer* engine) sees an opaque primitive; its derivative rules
call back into the *inner* backend. Each engine module supplies the rule-registration through
the ``Backend.foreign`` hook; this module holds what every engine shares.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from . import _arrays, _derive, _tree
from ._backend import ENGINE_FOR_LIBRARY as _OUTER_FOR_LIBRARY
from ._backend import Backend, BackendLike, LRUCache, resolve
from ._tree import Layout


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
        if self.backend.follows_x:  # finite differences: f on NumPy, whatever the calling engine
            return _arrays.to_numpy(a)
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

    def jvp_jvp(self, x: Any, v: Any, u: Any) -> Any:
        """The derivative of ``x -> jvp(x, v)`` along `u`: ``f''(x)[v, u]``, with the shape of ``f(x)``,
        the inner backend's pushforward of its own pushforward (forward over forward). With
        ``vjp_hvp`` (its transpose in `u`) it is what an outer engine needs for forward over forward."""
        with self._scope(x), self.backend.nest():
            vn = self._native(v)

            def tangent(z: Any) -> Any:
                return _derive.pushforward(self.backend, self.fn, z, vn)[1]

            return _derive.pushforward(self.backend, tangent, self._native(x), self._native(u))[1]

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


def outer_backend_for(x: Any) -> Backend | None:
    """The engine whose arrays `x` is (None for NumPy and Python numbers)."""
    name = _OUTER_FOR_LIBRARY.get(_arrays.library_of(x) or "")
    return resolve(name) if name is not None else None


def _outer_of(leaves: list[Any]) -> Backend | None:
    """The one engine whose arrays are among `leaves` (None where all are NumPy or Python numbers)."""
    outers = {type(b): b for b in map(outer_backend_for, leaves) if b is not None}
    if len(outers) > 1:
        names = sorted(b.name for b in outers.values())
        raise TypeError(
            f"a differentiate_with function got arrays of several engines ({', '.join(names)}): pass the "
            "arrays of one engine (the one differentiating the program), and NumPy arrays for constants"
        )
    return next(iter(outers.values()), None)


class _Flat:
    """``f(*args, **kwargs)`` as a function of one flat vector: the positional pytrees' leaves raveled
    by `layout` (in the inner engine's arrays), its pytree result raveled too. The result's layout is
    learned on the first evaluation (the outer engine's first call, or its shape query)."""

    def __init__(self, f: Callable, backend: Backend, layout: Layout, kwargs: dict[str, Any]) -> None:
        self.f, self.backend, self.layout, self.kwargs = f, backend, layout, kwargs
        self.out: Layout | None = None
        self.__name__ = getattr(f, "__name__", "f")

    def __call__(self, z: Any) -> Any:
        args = self.layout.spec.unflatten(self.layout.unravel(z))
        y = self.f(*args, **self.kwargs)
        leaves, spec = _tree.flatten(y)
        leaves = [
            self.backend.asarray(np.asarray(a)) if _arrays.library_of(a) in (None, "numpy") else a for a in leaves
        ]
        for leaf, where in zip(leaves, _tree.paths(y, "f(...)")):
            if not _arrays.is_float_dtype(_arrays.dtype_name(leaf)):
                raise TypeError(
                    f"a differentiate_with function's result {where} has dtype {_arrays.dtype_name(leaf)}: "
                    "only floating-point results cross a bridge"
                )
        if not leaves:
            raise ValueError(f"a differentiate_with function returned no arrays: {spec}")
        out = _tree.layout_of(spec, leaves)
        if self.out is not None and self.out != out:
            raise ValueError(
                f"a differentiate_with function returned {out.describe()}, but before {self.out.describe()} "
                "for arguments of the same structure"
            )
        self.out = out
        return out.ravel(leaves, self.backend.namespace(leaves[0]))


def constant_key(value: Any) -> Hashable:
    """A keyword constant as part of a cache key: its value where hashable, else its identity."""
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return ("value", type(value), value)


def _writable(a: Any) -> np.ndarray:
    a = np.asarray(a)
    return a if a.flags.writeable else a.copy()


class _Structured:
    """The bridges of one `differentiate_with` function for pytree arguments and keyword constants:
    one one-array bridge over a `_Flat` function per outer engine, argument layout and constants."""

    def __init__(self, f: Callable, inner: Backend, name: str) -> None:
        self.f, self.inner, self.name = f, inner, name
        self._bridges = LRUCache(64)

    def __call__(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        leaves, spec = _tree.flatten(args)
        paths = _tree.paths(args, "args")
        infos = [_arrays.describe(leaf, where) for leaf, where in zip(leaves, paths)]
        outer = _outer_of(leaves)
        if outer is None:  # NumPy in: f on the inner engine's arrays, its results as NumPy
            natives = [self.inner.asarray(np.asarray(a)) for a in leaves]
            with self.inner.scope(_tree.common_dtype([i.dtype for i in infos])):
                y = self.f(*spec.unflatten(natives), **kwargs)
            out, out_spec = _tree.flatten(y)
            return out_spec.unflatten([_writable(_arrays.to_numpy(a)) for a in out])
        if type(outer) is type(self.inner):  # the caller's engine is the backend's own: no bridge
            return self.f(*args, **kwargs)
        layout = Layout(spec, [i.shape for i in infos], [i.dtype for i in infos])
        key = (type(outer), layout.key, tuple((k, constant_key(v)) for k, v in sorted(kwargs.items())))
        flat, bridge = self._bridges.get_or_build(key, lambda: self._build(outer, layout, kwargs))
        xp = outer.namespace(next(a for a in leaves if outer_backend_for(a) is not None))
        z = layout.ravel([a if outer_backend_for(a) is not None else outer.asarray(np.asarray(a)) for a in leaves], xp)
        y = bridge(z)
        assert flat.out is not None  # learned by the bridge's first evaluation of f (or of its shape)
        return flat.out.spec.unflatten(flat.out.unravel(y))

    def _build(self, outer: Backend, layout: Layout, kwargs: dict[str, Any]) -> tuple[_Flat, Callable]:
        flat = _Flat(self.f, self.inner, layout, dict(kwargs))
        return flat, outer.foreign(Foreign(flat, self.inner, self.name))


def differentiate_with(f: Callable, backend: BackendLike) -> Callable:
    """A function that computes ``f(*args, **kwargs)`` with `backend`, callable with any engine's
    arrays, whose derivatives, when another engine differentiates a program that calls it, `backend`
    computes.

    Every positional argument is an array or a pytree of float arrays (differentiated); keyword
    arguments are constants passed to `f` unchanged (numbers, strings, NumPy or `backend`'s arrays,
    not differentiated); `f` may return an array or a pytree of them. With NumPy arrays it simply
    returns ``f(...)`` as NumPy. With an engine's arrays (JAX arrays or tracers, torch tensors,
    TensorFlow tensors, autograd boxes) it is that engine's primitive, whose derivative rules call
    `backend`: a JAX program calling a PyTorch simulator, autograd code calling a black box
    differentiated by finite differences. Pytrees cross as one flat vector each way (raveled by the
    outer engine, so its own derivatives of the concatenation apply).

    >>> import numpy as np, autograd, abstractad as ad
    >>> cube = ad.differentiate_with(lambda x: x ** 3, "finitediff")
    >>> g = autograd.grad(lambda x: cube(x).sum())(np.array([1.0, 2.0]))
    >>> np.round(g, 6)
    array([ 3., 12.])
    >>> sim = ad.differentiate_with(lambda p, s, dt=1.0: {"s": s + dt * p["k"] * s}, "autograd")
    >>> sim({"k": np.array(2.0)}, np.array([1.0, 3.0]), dt=0.5)["s"]
    array([2., 6.])
    """
    if not callable(f):
        raise TypeError(f"differentiate_with needs a callable f, not {type(f).__name__}")
    inner = resolve(backend)
    name = getattr(f, "__name__", "f")
    foreign = Foreign(f, inner, name)
    structured = _Structured(f, inner, name)
    hooks: dict[Any, Callable] = {}

    def g(*args: Any, **kwargs: Any) -> Any:
        if len(args) != 1 or kwargs or not _tree.is_leaf(args[0]):
            if not args:
                raise TypeError(f"{name} (a differentiate_with function) needs at least one array argument")
            return structured(args, kwargs)
        (x,) = args
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
    if name.isidentifier():
        g.__name__ = name
    g.__doc__ = getattr(f, "__doc__", None)
    g.foreign = foreign  # type: ignore[attr-defined]
    return g
