"""Second-order operators: hvp, hessian, value_gradient_and_hessian, second_derivative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._backend import BackendLike
from ._operators import apply


def hvp(
    f: Callable, x: Any, v: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> Any:
    """``∇²f(x) v``, with the shape of `x`, without forming the Hessian (forward-over-reverse).

    >>> import numpy as np, abstractad as ad
    >>> ad.hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="autograd")
    array([ 6., 12.])
    """
    return apply("hvp", f, x, (v,), args, backend, has_aux=has_aux, kwargs=kwargs)


def value_gradient_and_hessian(
    f: Callable,
    x: Any,
    *args: Any,
    backend: BackendLike = None,
    chunk_size: int | None = None,
    has_aux: bool = False,
    **kwargs: Any,
) -> tuple[Any, Any, Any]:
    """``(f(x), ∇f(x), ∇²f(x))``; the Hessian has shape ``x.shape + x.shape``.

    >>> import numpy as np, abstractad as ad
    >>> ad.value_gradient_and_hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend="autograd")
    (array(9.), array([ 3., 12.]), array([[ 6.,  0.],
           [ 0., 12.]]))
    """
    return apply("value_gradient_and_hessian", f, x, (), args, backend, chunk_size, has_aux, kwargs)


def hessian(
    f: Callable,
    x: Any,
    *args: Any,
    backend: BackendLike = None,
    chunk_size: int | None = None,
    has_aux: bool = False,
    **kwargs: Any,
) -> Any:
    """The Hessian of scalar-valued `f` at `x`, of shape ``x.shape + x.shape``.

    >>> import numpy as np, abstractad as ad
    >>> ad.hessian(lambda x: x[0] * x[1] ** 2, np.array([1.0, 2.0]), backend="autograd")
    array([[0., 4.],
           [4., 2.]])
    """
    return apply("hessian", f, x, (), args, backend, chunk_size, has_aux, kwargs)


def second_derivative(
    f: Callable, x: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> Any:
    """``f''(x)`` for a scalar `x`, with the shape of ``f(x)``.

    >>> import abstractad as ad
    >>> ad.second_derivative(lambda x: x ** 3, 2.0, backend="autograd")
    12.0
    """
    return apply("second_derivative", f, x, (), args, backend, has_aux=has_aux, kwargs=kwargs)
