"""First-order operators: jvp, vjp, derivative, gradient, jacobian and their value_and_ variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._backend import BackendLike
from ._operators import apply


def value_and_jvp(
    f: Callable, x: Any, v: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> tuple[Any, Any]:
    """``(f(x), J(x) v)``: one pushforward.

    >>> import numpy as np, abstractad as ad
    >>> y, t = ad.value_and_jvp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 0.0]), backend="autograd")
    >>> y, t
    (array([1., 4.]), array([2., 0.]))
    """
    return apply("value_and_jvp", f, x, (v,), args, backend, has_aux=has_aux, kwargs=kwargs)


def jvp(
    f: Callable, x: Any, v: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> Any:
    """``J(x) v``, with the shape of ``f(x)``: one pushforward.

    >>> import numpy as np, abstractad as ad
    >>> ad.jvp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="finitediff").round(6)
    array([2., 4.])
    """
    return apply("jvp", f, x, (v,), args, backend, has_aux=has_aux, kwargs=kwargs)


def value_and_vjp(
    f: Callable, x: Any, w: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> tuple[Any, Any]:
    """``(f(x), wᵀ J(x))``: one pullback; `w` has the shape of ``f(x)``.

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_vjp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="autograd")
    (array([1., 4.]), array([2., 4.]))
    """
    return apply("value_and_vjp", f, x, (w,), args, backend, has_aux=has_aux, kwargs=kwargs)


def vjp(
    f: Callable, x: Any, w: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> Any:
    """``wᵀ J(x)``, with the shape of `x`: one pullback.

    >>> import numpy as np, abstractad as ad
    >>> ad.vjp(lambda x: x ** 2, np.array([1.0, 2.0]), np.array([1.0, 1.0]), backend="autograd")
    array([2., 4.])
    """
    return apply("vjp", f, x, (w,), args, backend, has_aux=has_aux, kwargs=kwargs)


def value_and_derivative(
    f: Callable, x: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> tuple[Any, Any]:
    """``(f(x), f'(x))`` for a scalar `x`.

    >>> import abstractad as ad
    >>> ad.value_and_derivative(lambda x: x ** 3, 2.0, backend="autograd")
    (8.0, 12.0)
    """
    return apply("value_and_derivative", f, x, (), args, backend, has_aux=has_aux, kwargs=kwargs)


def derivative(
    f: Callable, x: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> Any:
    """``f'(x)`` for a scalar `x`, with the shape of ``f(x)``.

    >>> import abstractad as ad
    >>> ad.derivative(lambda x: x ** 3, 2.0, backend="autograd")
    12.0
    """
    return apply("derivative", f, x, (), args, backend, has_aux=has_aux, kwargs=kwargs)


def value_and_gradient(
    f: Callable, x: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any
) -> tuple[Any, Any]:
    """``(f(x), ∇f(x))`` for a scalar-valued `f`.

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]), backend="autograd")
    (array(5.), array([2., 4.]))
    """
    return apply("value_and_gradient", f, x, (), args, backend, has_aux=has_aux, kwargs=kwargs)


def gradient(f: Callable, x: Any, *args: Any, backend: BackendLike = None, has_aux: bool = False, **kwargs: Any) -> Any:
    """``∇f(x)``, with the shape of `x`; `f` must return a scalar (shape ``()``).

    >>> import numpy as np, abstractad as ad
    >>> ad.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]), backend="autograd")
    array([2., 4.])
    """
    return apply("gradient", f, x, (), args, backend, has_aux=has_aux, kwargs=kwargs)


def value_and_jacobian(
    f: Callable,
    x: Any,
    *args: Any,
    backend: BackendLike = None,
    chunk_size: int | None = None,
    has_aux: bool = False,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """``(f(x), J)`` with J of shape ``f(x).shape + x.shape``.

    Columns of pushforwards when `x` is smaller than ``f(x)``, rows of pullbacks otherwise,
    batched in chunks of at most `chunk_size` seeds (default: as many as fit in a memory cap).

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_jacobian(lambda x: x ** 2, np.array([1.0, 2.0]), backend="autograd")
    (array([1., 4.]), array([[2., 0.],
           [0., 4.]]))
    """
    return apply("value_and_jacobian", f, x, (), args, backend, chunk_size, has_aux, kwargs)


def jacobian(
    f: Callable,
    x: Any,
    *args: Any,
    backend: BackendLike = None,
    chunk_size: int | None = None,
    has_aux: bool = False,
    **kwargs: Any,
) -> Any:
    """The Jacobian of `f` at `x`, of shape ``f(x).shape + x.shape``.

    >>> import numpy as np, abstractad as ad
    >>> ad.jacobian(lambda x: x[:1] * x[1:], np.array([2.0, 3.0]), backend="autograd")
    array([[3., 2.]])
    """
    return apply("jacobian", f, x, (), args, backend, chunk_size, has_aux, kwargs)


def grad(f: Callable, backend: BackendLike = None, has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of `f` as a function of ``(x, *args, **kwargs)``, as ``jax.grad`` and
    ``torch.func.grad`` give it: ``ad.grad(f)(x)`` is ``ad.gradient(f, x)``.

    >>> import numpy as np, abstractad as ad
    >>> df = ad.grad(lambda x, scale=1.0: scale * (x ** 2).sum(), backend="autograd")
    >>> df(np.array([1.0, 2.0]), scale=3.0)
    array([ 6., 12.])
    >>> loss_and_aux = lambda x: ((x ** 2).sum(), {"norm": np.sqrt((x ** 2).sum())})
    >>> g, aux = ad.grad(loss_and_aux, backend="autograd", has_aux=True)(np.array([3.0, 4.0]))
    >>> g, aux["norm"]
    (array([6., 8.]), array(5.))
    """
    _check_callable("grad", f)

    def gradient_of_f(x: Any, *args: Any, **kwargs: Any) -> Any:
        return gradient(f, x, *args, backend=backend, has_aux=has_aux, **kwargs)

    _name_after(gradient_of_f, "grad", f)
    return gradient_of_f


def value_and_grad(f: Callable, backend: BackendLike = None, has_aux: bool = False) -> Callable[..., Any]:
    """``(f(x), ∇f(x))`` as a function of ``(x, *args, **kwargs)``, as ``jax.value_and_grad`` gives it
    (with has_aux: ``((f(x), aux), ∇f(x))``).

    >>> import numpy as np, abstractad as ad
    >>> ad.value_and_grad(lambda x: (x ** 2).sum(), backend="autograd")(np.array([1.0, 2.0]))
    (array(5.), array([2., 4.]))
    """
    _check_callable("value_and_grad", f)

    def value_and_gradient_of_f(x: Any, *args: Any, **kwargs: Any) -> Any:
        return value_and_gradient(f, x, *args, backend=backend, has_aux=has_aux, **kwargs)

    _name_after(value_and_gradient_of_f, "value_and_grad", f)
    return value_and_gradient_of_f


def _check_callable(transform: str, f: Any) -> None:
    if not callable(f):
        raise TypeError(f"{transform} needs a callable f, not {type(f).__name__}")


def _name_after(g: Callable, transform: str, f: Callable) -> None:
    name = getattr(f, "__name__", type(f).__name__)
    g.__name__ = g.__qualname__ = f"{transform}({name})"
    g.__doc__ = f"The {transform} of {name} (see abstractad.{transform})."
