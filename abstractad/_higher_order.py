"""Higher-order operators: taylor (derivatives along a direction), laplacian (the trace of the Hessian)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._backend import BackendLike
from ._operators import apply, check_order


def taylor(
    f: Callable, x: Any, v: Any, *args: Any, order: int, backend: BackendLike = None, **kwargs: Any
) -> tuple[Any, ...]:
    """``(f(x), d/dt f(x + t v), …, dᵒʳᵈᵉʳ/dtᵒʳᵈᵉʳ f(x + t v))`` at t = 0: `order` + 1 results, each
    in f(x)'s structure. Nested pushforwards along `v` (JAX: ``jet``, where its rules cover `f`);
    finite differences go to order 2.

    >>> import numpy as np, abstractad as ad
    >>> ad.taylor(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 0.0]), order=3, backend="autograd")
    (array(9.), array(3.), array(6.), array(6.))
    """
    order = check_order("taylor", order)
    out = apply("taylor", f, x, (v,), args, backend, order, kwargs=kwargs)
    return (out,) if order == 0 else out


def laplacian(f: Callable, x: Any, *args: Any, backend: BackendLike = None, **kwargs: Any) -> Any:
    """``Σᵢ ∂²f/∂xᵢ²``, the trace of the Hessian, with the shape of ``f(x)`` (each output's Laplacian
    for an array-valued `f`), without forming the Hessian: memory O(n), not O(n²).

    >>> import numpy as np, abstractad as ad
    >>> ad.laplacian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend="autograd")
    array(18.)
    """
    return apply("laplacian", f, x, (), args, backend, kwargs=kwargs)
