"""SecondOrder(outer, inner): Hessians and HVPs as `outer` differentiating `inner`'s gradient."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

from . import _arrays, _derive
from ._backend import Backend, LRUCache, entered, resolve
from ._bridge import Foreign
from ._wrapper import Wrapper

# (SecondOrder, f) -> (outer, bridged gradient): a lazy Hessian's products reuse one bridge, so an
# outer engine that traces it (JAX) traces it once, not per product.
_BRIDGES = LRUCache(64)


@dataclasses.dataclass(frozen=True)
class SecondOrder(Wrapper):
    """Second order as `outer` over `inner`: ``hessian`` and ``hvp`` differentiate `inner`'s
    gradient with `outer`; first-order operators use `inner`.

    The same engine twice nests natively (forward-over-reverse where both modes exist; force
    modes for reverse-over-reverse or reverse-over-forward). Two engines nest through a bridge:
    `outer` sees `inner`'s gradient as one primitive whose derivative (an HVP) `inner` computes.
    Finite differences work as `outer` or `inner`.

    >>> import numpy as np, abstractad as ad
    >>> b = ad.backends.SecondOrder("finitediff", "autograd")
    >>> np.round(ad.hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend=b), 6)
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    name: ClassVar[str] = "second-order"
    outer: Any = None
    inner: Any = None

    def __post_init__(self) -> None:
        if self.outer is None or self.inner is None:
            raise TypeError("SecondOrder needs an outer and an inner backend, e.g. SecondOrder('jax', 'torch')")
        object.__setattr__(self, "outer", resolve(self.outer))
        object.__setattr__(self, "inner", resolve(self.inner))

    @property
    def wrapped(self) -> Backend:
        return self.inner  # first order is the inner backend's

    def supports_dtype(self, dtype: str) -> bool:
        return self.outer.supports_dtype(dtype) and self.inner.supports_dtype(dtype)

    def scope(self, dtype: str) -> Any:
        return entered(self.inner.scope(dtype), self.outer.scope(dtype))

    def has_scope(self, dtype: str) -> bool:
        return self.inner.has_scope(dtype) or self.outer.has_scope(dtype)

    def second_order(self, f: Callable, x: Any) -> tuple[Backend, Callable, Any, Callable[[Any], Any]]:
        if self.same_engine:
            return self.outer, _derive.inner_gradient(self.inner, f), x, lambda a: a
        outer, bridged = _BRIDGES.get_or_build((self, f), lambda: self._bridge(f))
        library = _arrays.library_of(self.outer.asarray(_arrays.to_numpy(x) if _arrays.is_array(x) else x))

        def to_outer(a: Any) -> Any:
            return self.outer.asarray(_arrays.convert(a, library or "numpy"))

        return outer, bridged, to_outer(x), to_outer

    def _bridge(self, f: Callable) -> tuple[Backend, Callable]:
        """The outer engine (in a mode it can bridge in) and `inner`'s gradient of `f` as its primitive."""
        grad = Foreign(_derive.inner_gradient(self.inner, f), self.inner, "gradient")
        outer = self.outer
        if "forward" not in outer.bridge_modes:
            if outer.mode == "forward":
                raise ValueError(
                    f"{outer!r} cannot differentiate another engine's gradient in forward mode; "
                    "use mode=None or mode='reverse' for the outer backend"
                )
            outer = dataclasses.replace(outer, mode="reverse")
        return outer, outer.foreign(grad)

    @property
    def same_engine(self) -> bool:
        return type(self.outer) is type(self.inner)

    def nest(self) -> Any:
        # The inner backend nests too: across engines its own HVP is the bridge's derivative.
        return entered(self.outer.nest(), self.inner.nest())

    def __repr__(self) -> str:
        return f"SecondOrder(outer={self.outer!r}, inner={self.inner!r})"
