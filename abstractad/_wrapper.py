"""Backends over another backend (SecondOrder, Sparse): ``Wrapper`` takes the wrapped backend's
primitives (derived where it has only one), batching and array handling. It sits above the derivation
layer, which it calls, unlike ``Backend`` itself (the protocol the derivation layer calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _derive
from ._backend import Backend, Pullback

Array = Any


class Wrapper(Backend):
    """A backend over another (SecondOrder, Sparse): primitives, batching and array handling are the
    wrapped backend's, through :attr:`wrapped`; subclasses override what they change."""

    @property
    def wrapped(self) -> Backend:
        raise NotImplementedError

    # The wrapped backend's primitives, derived where it has none: what makes this a layer above _derive.
    def pushforward(self, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
        return _derive.pushforward(self.wrapped, f, x, v)

    def pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        return _derive.pullback(self.wrapped, f, x)

    def batched_pushforward(self, f: Callable, x: Array, vs: Array) -> tuple[Array, Array]:
        if self.wrapped.has_pushforward():
            return self.wrapped.batched_pushforward(f, x, vs)
        return super().batched_pushforward(f, x, vs)

    def batched_pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        if self.wrapped.has_pullback():
            return self.wrapped.batched_pullback(f, x)
        return super().batched_pullback(f, x)

    # The wrapped engine's own faster paths and contexts.
    def value_and_gradient(self, f: Callable, x: Array, check: Callable[[Array], None]) -> tuple[Array, Array] | None:
        return self.wrapped.value_and_gradient(f, x, check)

    def linearize(self, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]] | None:
        return self.wrapped.linearize(f, x)

    def output_shape(self, f: Callable, x: Array) -> tuple[int, ...] | None:
        return self.wrapped.output_shape(f, x)

    def scope(self, dtype: str) -> Any:
        return self.wrapped.scope(dtype)

    def has_scope(self, dtype: str) -> bool:
        return self.wrapped.has_scope(dtype)

    def nest(self) -> Any:
        return self.wrapped.nest()

    def second_order(self, f: Callable, x: Array) -> tuple[Any, Callable, Array, Callable[[Array], Array]] | None:
        return _derive.second_order(self.wrapped, f, x)

    def namespace(self, x: Array) -> Any:
        return self.wrapped.namespace(x)

    def asarray(self, a: Any) -> Array:
        return self.wrapped.asarray(a)

    def constant(self, like: Array, a: Any) -> Array:
        return self.wrapped.constant(like, a)

    def eye(self, like: Array, n: int, start: int = 0, stop: int | None = None) -> Array:
        return self.wrapped.eye(like, n, start, stop)

    def supports_dtype(self, dtype: str) -> bool:
        return self.wrapped.supports_dtype(dtype)
