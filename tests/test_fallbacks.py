"""Wrong-mode fallbacks: a pullback-only backend's jvp and a pushforward-only backend's vjp in O(1) passes,
by transposition where the backend can (``nests_pullback``, ``transpose_pushforward``), else from a Jacobian.

The backends are written here as an author would write them, each over one real engine primitive, and count
their primitive calls ("pullback", "pushforward") and the products of their pullback closures ("product").
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _support import assert_close, installed

import abstractad as ad

RNG = np.random.default_rng(18)
A = RNG.standard_normal((200, 3))  # tall: f maps R^3 to R^200
X = RNG.standard_normal(3)
V = RNG.standard_normal(3)
W = RNG.standard_normal(200)
C = A.T / 4  # wide: g maps R^200 to R^3
Y = RNG.standard_normal(200)
U = RNG.standard_normal(200)
Z = RNG.standard_normal(3)
TOL = 1e-10


def tall(x: Any) -> Any:
    """f(x)_i = sin(a_i · x): J = cos(a x) a."""
    xp = ad.array_namespace(x)
    return xp.sin(xp.matmul(xp.asarray(A), x))


def tall_scalar(x: Any) -> Any:
    """s(x) = Σ sin(a_i · x): ∇s = aᵀ cos(a x), ∇²s = -aᵀ diag(sin(a x)) a."""
    return ad.array_namespace(x).sum(tall(x))


def wide(x: Any) -> Any:
    """g(x)_i = sin(c_i · x)."""
    xp = ad.array_namespace(x)
    return xp.sin(xp.matmul(xp.asarray(C), x))


def wide_scalar(x: Any) -> Any:
    return ad.array_namespace(x).sum(wide(x))


def jac(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.cos(m @ x)[:, None] * m


def grad(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    return m.T @ np.cos(m @ x)


def hvp(m: np.ndarray, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    return -m.T @ (np.sin(m @ x) * (m @ v))


def counting(calls: collections.Counter, pb: Callable) -> Callable:
    def product(w: Any) -> Any:
        calls["product"] += 1
        return pb(w)

    return product


# ------------------------------------------------------------------------------ pullback-only backends


class AutogradPullback(ad.Backend):
    """A pullback from HIPS autograd, which differentiates its own pullbacks."""

    name = "autograd-pullback"
    nests_pullback = True

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable]:
        from autograd.core import make_vjp

        self.calls["pullback"] += 1
        vjp, y = make_vjp(f, x)
        return y, counting(self.calls, vjp)


class TorchPullback(ad.Backend):
    """A pullback from ``torch.func.vjp``, whose closures torch.func transforms again."""

    name = "torch-pullback"
    nests_pullback = True

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable]:
        import torch

        self.calls["pullback"] += 1
        y, vjp = torch.func.vjp(f, x)
        return y, counting(self.calls, lambda w: vjp(w)[0])

    def asarray(self, a: Any) -> Any:
        import torch

        return a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))


class _JaxArrays:
    """JAX arrays in float64, without touching the global flag, and a cheap output shape."""

    def asarray(self, a: Any) -> Any:
        import jax.numpy as jnp

        return jnp.asarray(a)

    def namespace(self, x: Any) -> Any:
        import jax.numpy as jnp

        return jnp

    def scope(self, dtype: str) -> Any:
        import jax

        return jax.enable_x64(True)

    def output_shape(self, f: Callable, x: Any) -> tuple[int, ...]:
        import jax

        return tuple(jax.eval_shape(f, x).shape)


class JaxPullback(_JaxArrays, ad.Backend):
    """A pullback from ``jax.vjp``; with ``output_shape``, so the Jacobian's route is chosen before any pass."""

    name = "jax-pullback"
    nests_pullback = True

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable]:
        import jax

        self.calls["pullback"] += 1
        y, vjp = jax.vjp(f, x)
        return y, counting(self.calls, lambda w: vjp(w)[0])


class CallbackPullback(_JaxArrays, ad.Backend):
    """A pullback that hands NumPy arrays in and out (a host callback): it cannot be differentiated, so it
    does not claim to nest (the default)."""

    name = "callback-pullback"

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable]:
        import jax
        import jax.numpy as jnp

        self.calls["pullback"] += 1
        y, vjp = jax.vjp(f, jnp.asarray(x))
        return jnp.asarray(y), counting(self.calls, lambda w: jnp.asarray(np.asarray(vjp(jnp.asarray(w))[0])))


def _needs(module: str) -> Any:
    return pytest.mark.skipif(not installed(module), reason=f"needs {module}")


PULLBACK_ONLY = [
    pytest.param(AutogradPullback, id="autograd", marks=_needs("autograd")),
    pytest.param(TorchPullback, id="torch", marks=_needs("torch")),
    pytest.param(JaxPullback, id="jax", marks=_needs("jax")),
]


@pytest.mark.parametrize("make", PULLBACK_ONLY)
def test_pullback_only_values(make: Callable[[], ad.Backend]) -> None:
    b = make()
    assert_close(ad.jvp(tall, X, V, backend=b), jac(A, X) @ V, TOL)
    assert_close(ad.vjp(tall, X, W, backend=b), jac(A, X).T @ W, TOL)
    assert_close(ad.gradient(tall_scalar, X, backend=b), grad(A, X), TOL)
    assert_close(ad.jacobian(tall, X, backend=b), jac(A, X), TOL)
    assert_close(ad.jacobian(wide, Y, backend=b), jac(C, Y), TOL)
    assert_close(ad.hvp(tall_scalar, X, V, backend=b), hvp(A, X, V), TOL)
    assert_close(ad.hessian(tall_scalar, X, backend=b), -A.T @ (np.sin(A @ X)[:, None] * A), TOL)
    assert_close(
        ad.derivative(lambda t: t * ad.array_namespace(t).sin(t), 0.7, backend=b), np.sin(0.7) + 0.7 * np.cos(0.7), TOL
    )
    assert_close(ad.second_derivative(lambda t: t**3, 0.7, backend=b), 6 * 0.7, TOL)
    J = ad.lazy_jacobian(tall, X, backend=b)
    assert_close(J @ V, jac(A, X) @ V, TOL)
    assert_close(J.T @ W, jac(A, X).T @ W, TOL)
    assert_close(J.matmat(np.stack([V, 2 * V], axis=1)), jac(A, X) @ np.stack([V, 2 * V], axis=1), TOL)
    assert_close(J.matmat(np.eye(3)), jac(A, X), TOL)  # as many tangents as x has elements: columns
    assert_close(J.to_dense(), jac(A, X), TOL)


@pytest.mark.parametrize("make", PULLBACK_ONLY)
def test_pullback_only_jvp_takes_two_pullbacks(make: Callable[[], ad.Backend]) -> None:
    b = make()
    assert_close(ad.jvp(tall, X, V, backend=b), jac(A, X) @ V, TOL)
    # One pullback of f, one of w -> pb(w) (which applies pb once, traced), and one product of that: not 200.
    assert b.calls == {"pullback": 2, "product": 2}

    class Rows(make):  # the same backend, not claiming to nest: a Jacobian's 200 rows
        nests_pullback = False

    rows = Rows()
    assert_close(ad.jvp(tall, X, V, backend=rows), jac(A, X) @ V, TOL)
    assert rows.calls == {"pullback": 1, "product": 200}


@pytest.mark.parametrize("make", PULLBACK_ONLY)
def test_pullback_only_jacobian_takes_the_fewer_products(make: Callable[[], ad.Backend]) -> None:
    b = make()
    assert_close(ad.jacobian(tall, X, backend=b), jac(A, X), TOL)
    # 3 columns by transposition (plus the one traced product) where f has 200 outputs; without a cheap
    # output shape, one more pullback first learns f(x)'s size.
    probe = 0 if isinstance(b, JaxPullback) else 1
    assert b.calls == {"pullback": 2 + probe, "product": 4}
    b.calls.clear()
    assert_close(ad.jacobian(wide, Y, backend=b), jac(C, Y), TOL)
    assert b.calls == {"pullback": 1, "product": 3}  # 3 rows where x has 200 elements: m pullbacks remain right
    b.calls.clear()
    assert_close(ad.jvp(lambda x: tall(x)[:2], X, V, backend=b), (jac(A, X) @ V)[:2], TOL)
    assert b.calls == {"pullback": 1, "product": 2}  # two rows are cheaper than a transposition


@pytest.mark.parametrize("make", PULLBACK_ONLY)
def test_pullback_only_batched_tangents(make: Callable[[], ad.Backend]) -> None:
    b = make()
    vs = np.stack([V, -V], axis=1)
    J = ad.lazy_jacobian(tall, X, backend=b)
    _ = J.value  # f(x) first, so that the count below is the products'
    b.calls.clear()
    assert_close(J.matmat(vs), jac(A, X) @ vs, TOL)
    assert b.calls["product"] == 3  # two tangents through the transposed pullback (and its traced product)


def test_callback_pullback_keeps_the_jacobian_route() -> None:
    pytest.importorskip("jax")
    b = CallbackPullback()
    assert_close(ad.jvp(tall, X, V, backend=b), jac(A, X) @ V, TOL)
    assert b.calls == {"pullback": 1, "product": 200}
    assert_close(ad.vjp(tall, X, W, backend=b), jac(A, X).T @ W, TOL)
    assert_close(ad.gradient(tall_scalar, X, backend=b), grad(A, X), TOL)
    assert_close(ad.jacobian(tall, X, backend=b), jac(A, X), TOL)
    assert_close(ad.lazy_jacobian(tall, X, backend=b) @ V, jac(A, X) @ V, TOL)

    class Claims(CallbackPullback):
        nests_pullback = True

    import jax

    # Why the default is False: this pullback cannot be differentiated (a tracer reaches NumPy).
    with pytest.raises(jax.errors.TracerArrayConversionError):
        ad.jvp(tall, X, V, backend=Claims())


# ------------------------------------------------------------------------------ pushforward-only backends


class JaxPushforward(_JaxArrays, ad.Backend):
    """A pushforward from ``jax.jvp``, transposed by the JAX backend's own hook."""

    name = "jax-pushforward"

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        import jax

        self.calls["pushforward"] += 1
        return jax.jvp(f, (x,), (v,))

    def transpose_pushforward(self, f: Callable, x: Any) -> Any:
        # The JAX backend's own hook, run on this pushforward (docs: transpose_pushforward = Jax.transpose_pushforward).
        return ad.backends.Jax.transpose_pushforward(self, f, x)


class TorchPushforward(ad.Backend):
    """A pushforward from ``torch.func.jvp``: torch cannot transpose it, so vjps take columns."""

    name = "torch-pushforward"

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()

    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        import torch

        self.calls["pushforward"] += 1
        return torch.func.jvp(f, (x,), (v,))

    def asarray(self, a: Any) -> Any:
        import torch

        return a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))


PUSHFORWARD_ONLY = [
    pytest.param(JaxPushforward, id="jax", marks=_needs("jax")),
    pytest.param(TorchPushforward, id="torch", marks=_needs("torch")),
]


@pytest.mark.parametrize("make", PUSHFORWARD_ONLY)
def test_pushforward_only_values(make: Callable[[], ad.Backend]) -> None:
    b = make()
    assert_close(ad.jvp(wide, Y, U, backend=b), jac(C, Y) @ U, TOL)
    assert_close(ad.vjp(wide, Y, Z, backend=b), jac(C, Y).T @ Z, TOL)
    assert_close(ad.gradient(wide_scalar, Y, backend=b), grad(C, Y), TOL)
    assert_close(ad.jacobian(wide, Y, backend=b), jac(C, Y), TOL)
    assert_close(ad.jacobian(tall, X, backend=b), jac(A, X), TOL)
    assert_close(ad.hvp(wide_scalar, Y, U, backend=b), hvp(C, Y, U), TOL)
    assert_close(ad.hessian(tall_scalar, X, backend=b), -A.T @ (np.sin(A @ X)[:, None] * A), TOL)
    J = ad.lazy_jacobian(wide, Y, backend=b)
    assert_close(J.T @ Z, jac(C, Y).T @ Z, TOL)
    assert_close(J.rmatmat(np.stack([Z, -Z], axis=1)), jac(C, Y).T @ np.stack([Z, -Z], axis=1), TOL)
    assert_close(J.rmatmat(np.eye(3)), jac(C, Y).T, TOL)


def test_pushforward_only_jax_vjp_takes_one_pushforward() -> None:
    pytest.importorskip("jax")
    b = JaxPushforward()
    for operator, want in [
        (lambda: ad.vjp(wide, Y, Z, backend=b), jac(C, Y).T @ Z),
        (lambda: ad.gradient(wide_scalar, Y, backend=b), grad(C, Y)),
        (lambda: ad.jacobian(wide, Y, backend=b), jac(C, Y)),  # 3 rows of the transposed pushforward
        (
            lambda: ad.lazy_jacobian(wide, Y, backend=b).rmatmat(np.stack([Z, -Z], axis=1)),
            jac(C, Y).T @ np.stack([Z, -Z], axis=1),
        ),
    ]:
        b.calls.clear()
        assert_close(operator(), want, TOL)
        assert b.calls == {"pushforward": 1}  # traced once, then transposed: not 200
    b.calls.clear()
    assert_close(ad.hvp(wide_scalar, Y, U, backend=b), hvp(C, Y, U), TOL)
    assert b.calls == {"pushforward": 2}  # forward over the transposed gradient: not 1 + 200


def test_pushforward_only_torch_takes_columns() -> None:
    pytest.importorskip("torch")
    b = TorchPushforward()
    assert_close(ad.vjp(wide, Y, Z, backend=b), jac(C, Y).T @ Z, TOL)
    assert b.calls == {"pushforward": 200}  # no transposition in torch: one column per element of x


def test_jax_forward_mode_transposes_its_pushforward() -> None:
    jax = pytest.importorskip("jax")
    import dataclasses

    calls: collections.Counter = collections.Counter()

    @dataclasses.dataclass(frozen=True)
    class Spy(ad.backends.Jax):
        def pushforward(self, f: Callable, x: Any, v: Any) -> Any:
            calls["pushforward"] += 1
            return super().pushforward(f, x, v)

        def batched_pushforward(self, f: Callable, x: Any, vs: Any) -> Any:
            calls["batched_pushforward"] += 1
            return super().batched_pushforward(f, x, vs)

    b = Spy(mode="forward")
    assert_close(ad.vjp(wide, Y, Z, backend=b), jac(C, Y).T @ Z, TOL)
    assert_close(ad.gradient(wide_scalar, Y, backend=b), grad(C, Y), TOL)
    assert calls == {"pushforward": 2}
    # Inside the user's jit too.
    assert_close(jax.jit(lambda y: ad.vjp(wide, y, Z, backend=b))(Y), jac(C, Y).T @ Z, 1e-5)

    def looped(x: Any) -> Any:
        """JAX cannot transpose a while_loop's derivative: the hook says None, and columns are taken."""
        return jax.lax.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, wide(c[1]) @ C + x), (0, x))[1]

    assert ad.backends.Jax().transpose_pushforward(looped, jax.numpy.asarray(Y)) is None
    calls.clear()
    with jax.enable_x64(True):
        want = np.asarray(jax.jacfwd(looped)(jax.numpy.asarray(Y))).T @ U
    assert_close(ad.vjp(looped, Y, U, backend=b), want, TOL)
    assert calls["batched_pushforward"] == 1
