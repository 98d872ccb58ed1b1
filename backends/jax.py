"""JAX: ``jax.jvp`` forward, ``jax.vjp`` reverse, ``jax.vmap`` for batches, ``jax.jit`` when asked."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from abstractad import _arrays, _errors
from abstractad._backend import Backend, Mode, check_mode
from abstractad._fallback import Fallback

from . import _jax_arrays  # noqa: F401  (registers JAX's conversions and namespace)

_WIDE = ("float64", "complex128")
# The scope of an ordinary call: none (a nullcontext is reusable, and every direct call asks for one).
_NO_SCOPE = contextlib.nullcontext()

# What jax.jit raises when f needs concrete values (Python control flow on them, NumPy calls, int()).
UNTRACEABLE: tuple[type[Exception], ...] = (
    jax.errors.ConcretizationTypeError,  # TracerBoolConversionError is a subclass
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.NonConcreteBooleanIndexError,
)


CompileFallbackWarning = _errors.CompileFallbackWarning  # one class for every engine (also ad.CompileFallbackWarning)


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
    takes_pytrees: ClassVar[bool] = True  # jax.jvp / jax.vjp take the tuple of a pytree's leaves as it is
    mode: Mode = None
    compile: bool = False

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if not isinstance(self.compile, bool):
            raise TypeError(f"Jax(compile=...) takes True or False, not {self.compile!r}")

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

    def transpose_pushforward(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]] | None:
        """``jax.linear_transpose`` of the pushforward ``v -> J v``, linearized once: a vjp from one traced
        pushforward where forward mode is forced (or a pushforward-only backend over ``jax.jvp`` borrows this
        method); None where JAX cannot transpose it (a ``while_loop``)."""
        zeros = jax.tree.map(jnp.zeros_like, x)
        try:
            (y, _), linear = jax.linearize(lambda v: self.pushforward(f, x, v), zeros)
            transposed = jax.linear_transpose(lambda v: linear(v)[1], zeros)
            jax.eval_shape(transposed, y)  # transposes abstractly: fails here, not at the first product
        except Exception:  # f itself failing fails again, with its own error, on the columns route
            return None
        return y, lambda w: transposed(w)[0]

    def batched_pushforward(self, f: Callable, x: Any, vs: Any) -> tuple[Any, Any]:
        # f(x) does not depend on the tangent: out_axes=None keeps it unbatched (as jax.jacfwd does).
        return jax.vmap(lambda v: jax.jvp(f, (x,), (v,)), out_axes=(None, 0))(vs)

    def batched_pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        y, vjp = jax.vjp(f, x)
        return y, jax.vmap(lambda w: vjp(w)[0])

    def taylor(self, f: Callable, x: Any, v: Any, order: int) -> tuple[Any, ...] | None:
        """The series through ``jax.experimental.jet`` (whose terms are the derivatives along the path
        ``x + t v``); None where jet has no rule for a primitive of `f`: then nested jvps."""
        if order == 0 or isinstance(x, tuple):
            return None
        from jax.experimental.jet import jet

        zero = jnp.zeros_like(v)
        try:
            y, terms = jet(f, (x,), ([v] + [zero] * (order - 1),))
        except Exception:  # NotImplementedError for a primitive without a jet rule; f's own errors come back there
            return None
        return (y, *terms)

    def second_directionals(self, f: Callable, x: Any, vs: Any) -> Any:
        def along(v: Any) -> Any:
            return jax.jvp(lambda z: jax.jvp(f, (z,), (v,))[1], (x,), (v,))[1]

        return None if isinstance(x, tuple) else jax.vmap(along)(vs)

    def namespace(self, x: Any) -> Any:
        return jnp

    def asarray(self, a: Any) -> Any:
        return _arrays.convert(a, "jax")  # JAX arrays and tracers pass through; DLPack where it can

    def jacobian_sparsity(self, f: Callable, x: Any) -> Any:
        from abstractad._sparse import jaxpr as _jaxpr

        return _jaxpr.jacobian_pattern(f, tuple(x.shape), x.dtype)

    def hessian_sparsity(self, f: Callable, x: Any) -> Any:
        from abstractad._sparse import jaxpr as _jaxpr

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
        return _NO_SCOPE

    def has_scope(self, dtype: str) -> bool:
        return dtype in _WIDE  # the float64 switch only

    def foreign(self, fn: Any) -> Callable[[Any], Any]:
        """A JAX primitive computing ``fn``, with JVP and transpose rules whose products are
        ``jax.pure_callback`` calls into ``fn``'s backend: both modes (``jax.grad``, ``jax.jvp``,
        ``jax.linearize``, ``jax.jacfwd``, ``jax.hessian``) to second order, under ``jax.jit`` and
        ``jax.vmap`` (one callback per batch element)."""
        return _foreign_function(fn)

    def compile_operator(self, fn: Callable) -> Callable | None:
        return _jitted(fn) if self.compile else None

    def records(self, a: Any) -> bool:
        return isinstance(a, jax.core.Tracer)

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


# ---------------------------------------------------------------------------- foreign functions
#
# A bridged function is five JAX primitives, closed under JAX's transformations: its value
# ``f(x)``; the linear maps ``jvp (x, v) -> J v`` and ``vjp (x, w) -> wᵀ J``, each the other's
# transpose; and their derivatives in `x`, the bilinear ``jvp_jvp (x, v, u) -> f''(x)[v, u]`` and
# ``vjp_hvp (x, w, u) -> ∇²⟨w, f⟩(x) u``, which transpose into each other in turn. JVP rules that
# are linear in the tangents plus transpose rules give JAX both modes (a custom_vjp has no
# forward mode, and a pure_callback inside a custom_jvp rule cannot be transposed). Each one runs
# as a ``jax.pure_callback`` into the inner backend (``Foreign``'s method of the same name); a
# batch is looped over with ``lax.map``. Derivatives of the bilinear ones in `x` (third order)
# are not defined.

_LIKE_Y = ("value", "jvp", "jvp_jvp")  # these have f(x)'s shape and dtype; vjp and vjp_hvp have x's


class _Bridge:
    """The parameter of a bridged function's primitives: its ``Foreign`` and host callables."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self._hosts: dict[tuple[str, Any], Callable[..., np.ndarray]] = {}

    def out(self, method: str, x: Any) -> jax.ShapeDtypeStruct:
        if method not in _LIKE_Y:
            return jax.ShapeDtypeStruct(tuple(x.shape), x.dtype)
        shape, dtype = self.fn.spec(tuple(x.shape), str(x.dtype))
        return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(dtype))

    def host(self, method: str, out: jax.ShapeDtypeStruct) -> Callable[..., np.ndarray]:
        # One callable per operation and output: eager pure_callback is compiled once per
        # callback object, so a fresh closure per call would recompile on every call.
        key = (method, out)
        if key not in self._hosts:
            self._hosts[key] = _host(getattr(self.fn, method), out)
        return self._hosts[key]

    def __repr__(self) -> str:
        return repr(self.fn)


def _host(op: Callable[..., Any], out: jax.ShapeDtypeStruct) -> Callable[..., np.ndarray]:
    """`op` as a host callback: NumPy arrays in, a NumPy array of `out`'s shape and dtype back."""

    def call(*arrays: np.ndarray) -> np.ndarray:
        y = np.asarray(_arrays.to_numpy(op(*arrays)), dtype=out.dtype)
        if y.shape != out.shape:
            raise ValueError(f"a differentiate_with function returned shape {y.shape}, expected {out.shape}")
        return y

    return call


def _primitive(method: str) -> Primitive:
    p = Primitive(f"foreign_{method}")

    def callback(*args: Any, bridge: _Bridge) -> Any:
        out = bridge.out(method, args[0])
        return jax.pure_callback(bridge.host(method, out), out, *args, vmap_method="sequential")

    def abstract(*args: Any, bridge: _Bridge) -> Any:
        out = bridge.out(method, args[0])
        return jax.core.ShapedArray(out.shape, out.dtype)

    def batch(args: list[Any], dims: list[int | None], *, bridge: _Bridge) -> tuple[Any, int]:
        # The inner backend sees one element at a time: a loop (lax.map) whose body binds p again, so
        # transformations under the vmap (jax.grad of a vmapped function) still see p.
        args = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
        mapped = [i for i, d in enumerate(dims) if d is not None]

        def one(rows: list[Any]) -> Any:
            full = list(args)
            for i, row in zip(mapped, rows):
                full[i] = row
            return p.bind(*full, bridge=bridge)

        return jax.lax.map(one, [args[i] for i in mapped]), 0

    p.def_impl(callback)
    p.def_abstract_eval(abstract)
    mlir.register_lowering(p, mlir.lower_fun(callback, multiple_results=False))
    batching.primitive_batchers[p] = batch
    return p


_VALUE, _JVP, _VJP, _JVP_JVP, _VJP_HVP = (_primitive(m) for m in ("value", "jvp", "vjp", "jvp_jvp", "vjp_hvp"))


def _third_order(*args: Any, bridge: _Bridge) -> Any:
    raise NotImplementedError(
        f"third derivatives of a differentiate_with function ({bridge.fn.name}) are not defined: the bridge "
        "supplies first and second order. Differentiate the whole function with one engine instead."
    )


# JVP rules: one per argument, each linear in its tangent (JAX skips the symbolic zeros).
ad.defjvp(_VALUE, lambda dx, x, *, bridge: _JVP.bind(x, dx, bridge=bridge))
ad.defjvp(
    _JVP,
    lambda dx, x, v, *, bridge: _JVP_JVP.bind(x, v, dx, bridge=bridge),
    lambda dv, x, v, *, bridge: _JVP.bind(x, dv, bridge=bridge),
)
ad.defjvp(
    _VJP,
    lambda dx, x, w, *, bridge: _VJP_HVP.bind(x, w, dx, bridge=bridge),
    lambda dw, x, w, *, bridge: _VJP.bind(x, dw, bridge=bridge),
)
ad.defjvp(
    _JVP_JVP,
    _third_order,
    lambda dv, x, v, u, *, bridge: _JVP_JVP.bind(x, dv, u, bridge=bridge),
    lambda du, x, v, u, *, bridge: _JVP_JVP.bind(x, v, du, bridge=bridge),
)
ad.defjvp(
    _VJP_HVP,
    _third_order,
    lambda dw, x, w, u, *, bridge: _VJP_HVP.bind(x, dw, u, bridge=bridge),
    lambda du, x, w, u, *, bridge: _VJP_HVP.bind(x, w, du, bridge=bridge),
)


def _transpose(rule: Callable[..., Any]) -> Callable[..., list[Any]]:
    """A transpose rule from `rule(ct, x, *known, linear=i)`: the cotangent of the one linear argument
    (`x` enters every primitive nonlinearly, so it is never the linear one)."""

    def transpose(ct: Any, x: Any, *rest: Any, bridge: _Bridge) -> list[Any]:
        linear = [i for i, a in enumerate(rest) if ad.is_undefined_primal(a)]
        if ad.is_undefined_primal(x) or len(linear) != 1:
            raise NotImplementedError("a differentiate_with primitive is linear in exactly one argument, not x")
        out: list[Any] = [None] * (1 + len(rest))
        if type(ct) is not ad.Zero:
            out[1 + linear[0]] = rule(ct, x, *rest, linear=linear[0], bridge=bridge)
        return out

    return transpose


# jvp and vjp transpose into each other; jvp_jvp and vjp_hvp (in either linear argument) too, as
# ⟨c, f''[v, u]⟩ = vᵀ ∇²⟨c, f⟩ u and the Hessian of ⟨w, f⟩ is symmetric.
ad.primitive_transposes[_JVP] = _transpose(lambda c, x, v, *, linear, bridge: _VJP.bind(x, c, bridge=bridge))
ad.primitive_transposes[_VJP] = _transpose(lambda c, x, w, *, linear, bridge: _JVP.bind(x, c, bridge=bridge))
ad.primitive_transposes[_JVP_JVP] = _transpose(
    lambda c, x, v, u, *, linear, bridge: _VJP_HVP.bind(x, c, u if linear == 0 else v, bridge=bridge)
)
ad.primitive_transposes[_VJP_HVP] = _transpose(
    lambda c, x, w, u, *, linear, bridge: (
        _JVP_JVP.bind(x, c, u, bridge=bridge) if linear == 0 else _VJP_HVP.bind(x, w, c, bridge=bridge)
    )
)


def _foreign_function(fn: Any) -> Callable[[Any], Any]:
    bridge = _Bridge(fn)

    def bridged(x: Any) -> Any:
        return _VALUE.bind(jnp.asarray(x), bridge=bridge)

    return bridged


def _jitted(fn: Callable) -> Fallback:
    """``jax.jit(fn)``, falling back to `fn` for good (with one warning) if `fn` cannot be traced."""
    return Fallback(fn, jax.jit(fn), UNTRACEABLE, _fallback_message, skip=("jax",))


def _fallback_message(e: BaseException) -> str:
    why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (
        f"Jax(compile=True) could not trace f ({type(e).__name__}: {why}), so this operator runs eagerly "
        "from now on. To compile it, make f traceable: replace Python `if`/`while` on array values with "
        "jnp.where or jax.lax.cond / jax.lax.while_loop, NumPy calls with jax.numpy, and int()/float() of "
        "arrays with array operations; or pass values that select code paths as constants (*args) that "
        "are not arrays. Use Jax() to run eagerly without this warning."
    )
