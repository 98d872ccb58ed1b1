"""First-order operators: jvp, vjp, derivative, gradient, jacobian and their value_and_ variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._backend import Backend
from ._operators import apply

BackendLike = Backend | str | None


def value_and_jvp(f: Callable, x: Any, v: Any, *args: Any, backend: BackendLike = None) -> tuple[Any, Any]:
    """``(f(x), J(x) v)``: one pushforward.

    >>> import numpy as np, abstractad as ad
    >>> y, t = ad.value_and_jvp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 0.0]), backend="autograd")
    >>> y, t
    (array([1., 4.]), array([2., 0.]))
    """
    return apply("value_and_jvp", f, x, (v,), args, backend)


def jvp(f: Callable, x: Any, v: Any, *args: Any, backend: BackendLike = None) -> Any:
    """``J(x) v``, with the shape of ``f(x)``: one pushforward.

    >>> import numpy as np, abstractad as ad
    >>> ad.jvp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="finitediff").round(6)
    array([2., 4.])
    """
    return apply("jvp", f, x, (v,), args, backend)


def value_and_vjp(f: Callable, x: Any, w: Any, *args: Any, backend: BackendLike = None) -> tuple[Any, Any]:
    """``(f(x), wᵀ J(x))``: one pullback; `w` has the shape of ``f(x)``.

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_vjp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="autograd")
    (array([1., 4.]), array([2., 4.]))
    """
    return apply("value_and_vjp", f, x, (w,), args, backend)


def vjp(f: Callable, x: Any, w: Any, *args: Any, backend: BackendLike = None) -> Any:
    """``wᵀ J(x)``, with the shape of `x`: one pullback.

    >>> import numpy as np, abstractad as ad
    >>> ad.vjp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="autograd")
    array([2., 4.])
    """
    return apply("vjp", f, x, (w,), args, backend)


def value_and_derivative(f: Callable, x: Any, *args: Any, backend: BackendLike = None) -> tuple[Any, Any]:
    """``(f(x), f'(x))`` for a scalar `x`.

    >>> import abstractad as ad
    >>> ad.value_and_derivative(lambda x: x ** 3, 2.0, backend="autograd")
    (8.0, 12.0)
    """
    return apply("value_and_derivative", f, x, (), args, backend)


def derivative(f: Callable, x: Any, *args: Any, backend: BackendLike = None) -> Any:
    """``f'(x)`` for a scalar `x`, with the shape of ``f(x)``.

    >>> import abstractad as ad
    >>> ad.derivative(lambda x: x ** 3, 2.0, backend="autograd")
    12.0
    """
    return apply("derivative", f, x, (), args, backend)


def value_and_gradient(f: Callable, x: Any, *args: Any, backend: BackendLike = None) -> tuple[Any, Any]:
    """``(f(x), ∇f(x))`` for a scalar-valued `f`.

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]), backend="autograd")
    (array(5.), array([2., 4.]))
    """
    return apply("value_and_gradient", f, x, (), args, backend)


def gradient(f: Callable, x: Any, *args: Any, backend: BackendLike = None) -> Any:
    """``∇f(x)``, with the shape of `x`; `f` must return a scalar (shape ``()``).

    >>> import numpy as np, abstractad as ad
    >>> ad.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]), backend="autograd")
    array([2., 4.])
    """
    return apply("gradient", f, x, (), args, backend)


def value_and_jacobian(
    f: Callable, x: Any, *args: Any, backend: BackendLike = None, chunk_size: int | None = None
) -> tuple[Any, Any]:
    """``(f(x), J)`` with J of shape ``f(x).shape + x.shape``.

    Columns of pushforwards when `x` is smaller than ``f(x)``, rows of pullbacks otherwise,
    batched in chunks of at most `chunk_size` seeds (default: as many as fit in a memory cap).

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_jacobian(lambda x: x ** 2, np.array([1.0, 2.0]), backend="autograd")
    (array([1., 4.]), array([[2., 0.],
           [0., 4.]]))
    """
    return apply("value_and_jacobian", f, x, (), args, backend, chunk_size)


def jacobian(f: Callable, x: Any, *args: Any, backend: BackendLike = None, chunk_size: int | None = None) -> Any:
    """The Jacobian of `f` at `x`, of shape ``f(x).shape + x.shape``.

    >>> import numpy as np, abstractad as ad
    >>> ad.jacobian(lambda x: x[:1] * x[1:], np.array([2.0, 3.0]), backend="autograd")
    array([[3., 2.]])
    """
    return apply("jacobian", f, x, (), args, backend, chunk_size)
