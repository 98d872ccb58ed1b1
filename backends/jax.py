"""JAX: ``jax.jvp`` forward, ``jax.vjp`` reverse, ``jax.vmap`` for batches, ``jax.jit`` when asked."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from abstractad import _arrays, _errors
from abstractad._backend import Backend, Mode, check_mode

_WIDE = ("float64", "complex128")

# What jax.jit raises when f needs concrete values (Python control flow on them, NumPy calls, int()).
UNTRACEABLE: tuple[type[Exception], ...] = (
    jax.errors.ConcretizationTypeError,  # TracerBoolConversionError is a subclass
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.NonConcreteBooleanIndexError,
)


class CompileFallbackWarning(UserWarning):
    """``Jax(compile=True)`` could not trace `f` and runs this operator eagerly instead."""


@dataclasses.dataclass(frozen=True)
class Jax(Backend):
    """Differentiate with JAX: ``jax.jvp`` forward, ``jax.vjp`` reverse, ``jax.vmap`` for batches.

    `f` receives JAX arrays or tracers: write it with ``jax.numpy`` or ``ad.array_namespace(x)``.
    float64 inputs are computed in float64 without touching the global ``jax_enable_x64`` flag.
    Every operator is traceable, so it can be called inside the user's own ``jax.jit``.
    ``compile=True`` jits each derived operator once per function, shapes and dtypes; where `f`
    cannot be traced it falls back to eager with one :class:`CompileFallbackWarning`.

    >>> import numpy as np, abstractad as ad
    >>> ad.hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend=ad.backends.Jax())
    array([[ 6.,  0.],
           [ 0., 12.]])
    """

    name: ClassVar[str] = "jax"
    bridge_modes: ClassVar[tuple[str, ...]] = ("reverse",)
    takes_pytrees: ClassVar[bool] = True  # jax.jvp / jax.vjp take the tuple of a pytree's leaves as it is
    mode: Mode = None
    compile: bool = False

    def __post_init__(self) -> None:
        check_mode(self.mode)

    # ------------------------------------------------------------------ primitives
    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        return jax.jvp(f, (x,), (v,))

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        y, vjp = jax.vjp(f, x)
        return y, lambda w: vjp(w)[0]

    # ------------------------------------------------------------------ hooks
    def value_and_gradient(self, f: Callable, x: Any, check: Callable[[Any], None]) -> tuple[Any, Any]:
        """``jax.value_and_grad``: JAX seeds the cotangent itself, with the output's sharding."""

        def checked(z: Any) -> Any:
            y = f(z)
            check(y)
            return y

        return jax.value_and_grad(checked)(x)

    def place_like(self, r: Any, x: Any) -> Any:
        """Eager JAX may return a sharded leaf's gradient gathered (a contraction over the sharded axis):
        put it back on the leaf's sharding. Tracers (jit) are left to XLA's own propagation."""
        if isinstance(r, jax.core.Tracer) or isinstance(x, jax.core.Tracer) or not isinstance(x, jax.Array):
            return r
        want = x.sharding
        if len(want.device_set) == 1 or r.sharding.is_equivalent_to(want, r.ndim):
            return r
        return jax.device_put(r, want)

    def linearize(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        if self.mode == "reverse":
            return super().linearize(f, x)
        y, linear = jax.linearize(f, x)  # one forward pass; every product after it is linear algebra
        return y, linear

    def batched_pushforward(self, f: Callable, x: Any, vs: Any) -> tuple[Any, Any]:
        # f(x) does not depend on the tangent: out_axes=None keeps it unbatched (as jax.jacfwd does).
        return jax.vmap(lambda v: jax.jvp(f, (x,), (v,)), out_axes=(None, 0))(vs)

    def batched_pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        y, vjp = jax.vjp(f, x)
        return y, jax.vmap(lambda w: vjp(w)[0])

    def namespace(self, x: Any) -> Any:
        return jnp

    def asarray(self, a: Any) -> Any:
        return _arrays.convert(a, "jax")  # JAX arrays and tracers pass through; DLPack where it can

    def jacobian_sparsity(self, f: Callable, x: Any) -> Any:
        from abstractad import _jaxpr

        return _jaxpr.jacobian_pattern(f, tuple(x.shape), x.dtype)

    def hessian_sparsity(self, f: Callable, x: Any) -> Any:
        from abstractad import _jaxpr

        return _jaxpr.hessian_pattern(f, tuple(x.shape), x.dtype)

    def output_shape(self, f: Callable, x: Any) -> tuple[int, ...] | None:
        try:
            out = jax.eval_shape(f, x)
        except Exception:  # f needs concrete values (or fails): the real call will tell
            return None
        shape = getattr(out, "shape", None)
        return tuple(shape) if shape is not None else None

    def scope(self, dtype: str) -> contextlib.AbstractContextManager:
        if dtype in _WIDE and not jax.config.jax_enable_x64:
            return jax.enable_x64(True)  # thread-local, restored on exit (also after an exception)
        return contextlib.nullcontext()

    def foreign(self, fn: Any) -> Callable[[Any], Any]:
        """A ``jax.custom_vjp`` function whose value and VJP are ``jax.pure_callback`` calls into
        ``fn``'s backend: it works under ``jax.grad`` / ``jax.vjp`` / ``jax.jacrev``, ``jax.jit`` and
        ``jax.vmap`` (one callback per batch element), not under forward mode (``jax.jvp``,
        ``jax.jacfwd``), which JAX refuses for ``custom_vjp`` functions."""
        return _foreign_function(fn)

    def compile_operator(self, fn: Callable) -> Callable | None:
        return _Jitted(fn) if self.compile else None

    def eager_advice(self) -> str | None:
        if self.compile:
            return None
        return (
            "Eager JAX traces f anew on every call (milliseconds each, where a compiled call takes "
            "microseconds): for a hot loop pass backend=ad.backends.Jax(compile=True), or use ad.prepare(...) "
            "with it; f's closed-over arrays are then read once, at the first call, as under jax.jit."
        )

    @property
    def takes_numpy(self) -> bool:
        return self.compile  # jax.jit transfers NumPy arguments itself, faster than any conversion of ours

    def __repr__(self) -> str:
        return f"Jax(mode={self.mode!r}, compile={self.compile!r})"


def _host(op: Callable[..., Any], out: jax.ShapeDtypeStruct) -> Callable[..., np.ndarray]:
    """`op` as a host callback: NumPy arrays in, a NumPy array of `out`'s shape and dtype back."""

    def call(*arrays: np.ndarray) -> np.ndarray:
        y = np.asarray(_arrays.to_numpy(op(*arrays)), dtype=out.dtype)
        if y.shape != out.shape:
            raise ValueError(f"a differentiate_with function returned shape {y.shape}, expected {out.shape}")
        return y

    return call


def _foreign_function(fn: Any) -> Callable[[Any], Any]:
    hosts: dict[tuple[str, Any], Callable[..., np.ndarray]] = {}

    def host(name: str, out: jax.ShapeDtypeStruct) -> Callable[..., np.ndarray]:
        # One callable per operation and output: eager pure_callback is compiled once per
        # callback object, so a fresh closure per call would recompile on every call.
        key = (name, out)
        if key not in hosts:
            hosts[key] = _host(getattr(fn, name), out)
        return hosts[key]

    def out_spec(x: Any) -> jax.ShapeDtypeStruct:
        shape, dtype = fn.spec(tuple(x.shape), str(x.dtype))
        return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(dtype))

    @jax.custom_vjp
    def call(x: Any) -> Any:
        out = out_spec(x)
        return jax.pure_callback(host("value", out), out, x, vmap_method="sequential")

    def fwd(x: Any) -> tuple[Any, Any]:
        return call(x), x

    # The VJP is itself a custom_vjp function, so reverse-over-reverse second order works through
    # the bridge (the inner backend's HVP in x, its JVP in w); its own derivative is not defined.
    @jax.custom_vjp
    def vjp(x: Any, w: Any) -> Any:
        out = jax.ShapeDtypeStruct(x.shape, x.dtype)
        return jax.pure_callback(host("vjp", out), out, x, w, vmap_method="sequential")

    def vjp_fwd(x: Any, w: Any) -> tuple[Any, Any]:
        return vjp(x, w), (x, w)

    def vjp_bwd(res: tuple[Any, Any], u: Any) -> tuple[Any, Any]:
        x, w = res
        dx, dw = jax.ShapeDtypeStruct(x.shape, x.dtype), jax.ShapeDtypeStruct(w.shape, w.dtype)
        return (
            jax.pure_callback(host("vjp_hvp", dx), dx, x, w, u, vmap_method="sequential"),
            jax.pure_callback(host("jvp", dw), dw, x, u, vmap_method="sequential"),
        )

    vjp.defvjp(vjp_fwd, vjp_bwd)

    def bwd(x: Any, w: Any) -> tuple[Any]:
        return (vjp(x, w),)

    call.defvjp(fwd, bwd)

    def bridged(x: Any) -> Any:
        return call(jnp.asarray(x))

    return bridged


class _Jitted:
    """``jax.jit(fn)``, falling back to `fn` for good (with one warning) if `fn` cannot be traced."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.jitted = jax.jit(fn)
        self.eager = False
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        if self.eager:
            return self.fn(*args)
        try:
            return self.jitted(*args)
        except UNTRACEABLE as e:
            reason = e
        out = self.fn(*args)  # eager; if it fails too, its own error propagates and nothing is remembered
        with self._lock:
            first, self.eager = not self.eager, True
        if first:
            warnings.warn(_fallback_message(reason), CompileFallbackWarning, stacklevel=_errors.user_stacklevel("jax"))
        return out


def _fallback_message(e: Exception) -> str:
    why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (
        f"Jax(compile=True) could not trace f ({type(e).__name__}: {why}), so this operator runs eagerly "
        "from now on. To compile it, make f traceable: replace Python `if`/`while` on array values with "
        "jnp.where or jax.lax.cond / jax.lax.while_loop, NumPy calls with jax.numpy, and int()/float() of "
        "arrays with array operations; or pass values that select code paths as constants (*args) that "
        "are not arrays. Use Jax() to run eagerly without this warning."
    )


_arrays.register_namespace("jax", lambda *arrays: jnp)
