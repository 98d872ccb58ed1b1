"""TensorFlow: ``GradientTape`` reverse, ``ForwardAccumulator`` forward, ``tf.function`` compilation.

The Array API adapter for TensorFlow tensors and the conversions are in ``_tensorflow_arrays``;
``namespace(x)``, here too, is what ``ad.array_namespace(tf_tensor)`` returns.

Disconnected outputs. TensorFlow answers "no path" (None) both for a function that is constant
in `x` and for one that computed part of its result outside TensorFlow (``x.numpy()``, a NumPy
or torch call) and so silently became a constant. The rule here:

* `f` must return a TensorFlow tensor; a NumPy array, a torch tensor or a Python number is a
  ``TypeError``.
* When no part of ``f(x)`` is connected to `x` on the tape, `f` is evaluated once more at a
  slightly moved `x` (eagerly only). If the output does not move, `f` is constant and the
  derivative is zero. If it moves, TensorFlow was blind to how it depends on `x`, and that is a
  ``ValueError`` that says how to fix it. An output cut off from `x` entirely by
  ``tf.stop_gradient`` or by ops without gradients (``tf.round``, integer casts) also lands
  there, as TensorFlow cannot tell it from the foreign case. Inside ``tf.function`` nothing can
  be evaluated, and a disconnected output gives zeros.
* An output only partly computed outside TensorFlow cannot be detected: its foreign part is
  treated as a constant.
* Pytrees (x, f(x) or both a tuple of tensors): the rule applies per leaf. In reverse mode the
  leaves of x with no path to any output are moved (the others stay) and every output compared; in
  forward mode every leaf of x is moved and the outputs with no path compared. The step is that of
  the coarsest floating dtype in play, so a float64 leaf read into a float32 output still moves it.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from abstractad import _arrays, _quiet
from abstractad._autograph import skip_autograph
from abstractad._backend import Backend, Mode, check_mode
from abstractad._fallback import Fallback

from ._tensorflow_arrays import _cast, _size, _to_tensor, namespace

Tensor = Any

# TensorFlow without its start-up notices on the user's terminal (see abstractad._quiet).
tf: Any = _quiet.import_tensorflow()
# No public API records one op on tapes and accumulators.
_tape_record = importlib.import_module("tensorflow.python.eager.record")


skip_autograph()
_ZERO = tf.UnconnectedGradients.ZERO
_NONE = tf.UnconnectedGradients.NONE

# Below this many seeds an eager batch runs as a Python loop over the tape; above it, one
# vectorized (pfor) pass, whose fixed cost is tracing the backward pass into a graph.
LOOP_LIMIT = 32


@dataclasses.dataclass(frozen=True)
class TensorFlow(Backend):
    """Differentiate with TensorFlow: ``GradientTape`` reverse, ``ForwardAccumulator`` forward.

    `f` receives TensorFlow tensors (eager, or symbolic inside ``tf.function``): write it with
    ``tf`` ops or with ``ad.array_namespace(x)``. Batches of seeds (Jacobians, Hessians) reuse one
    recorded forward pass. ``compile=True`` runs each derived operator as a ``tf.function`` traced
    once per function, shapes and dtypes; a function that cannot be traced runs eagerly after one
    warning. Derivatives of an output that depends on `x` only through NumPy or another library
    are an error, not a silent zero (see the module docstring).

    >>> import numpy as np, abstractad as ad
    >>> ad.gradient(lambda x: ad.array_namespace(x).sum(x ** 3), np.array([1.0, 2.0]), backend="tensorflow")
    array([ 3., 12.])
    """

    name: ClassVar[str] = "tensorflow"
    # Forward accumulators nested four deep fail inside TensorFlow (an IndexError in its backward
    # function): taylor above order 3 is a ValueError up front instead.
    max_nesting: ClassVar[int | None] = 3
    takes_pytrees: ClassVar[bool] = True
    bridge_modes: ClassVar[tuple[str, ...]] = ("reverse",)
    mode: Mode = None
    compile: bool = False

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if not isinstance(self.compile, bool):
            raise TypeError(f"TensorFlow(compile=...) takes True or False, not {self.compile!r}")

    # ------------------------------------------------------------------ primitives
    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        if isinstance(x, tuple):
            return _tuple_pushforward(f, x, v)
        x = tf.identity(x)  # a fresh tensor: a closed-over or constant `x` is not differentiated
        with tf.autodiff.ForwardAccumulator(x, _cast(v, x.dtype)) as acc:
            y = _check_output(f(x))
        if isinstance(y, tuple):
            return y, _tangents(f, x, y, acc)
        jv = acc.jvp(y, unconnected_gradients=_NONE)
        if jv is None:
            _disconnected(f, x, y)
            jv = tf.zeros_like(y)
        return y, jv

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        tape, x, y = _record(f, x)
        checked = _Once(f, x, y)
        if isinstance(x, tuple) or isinstance(y, tuple):
            return y, lambda w: _tuple_gradient(tape, x, y, w, checked)

        def pb(w: Tensor) -> Tensor:
            g = tape.gradient(y, x, output_gradients=_cast(w, y.dtype), unconnected_gradients=_NONE)
            if g is None:
                checked()
                return tf.zeros_like(x)
            return _dense(g)

        return y, pb

    # ------------------------------------------------------------------ batches of seeds
    def batched_pullback(self, f: Callable, x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        tape, x, y = _record(f, x)
        checked = _Once(f, x, y)

        def pbs(ws: Tensor) -> Tensor:
            out = _rows(tape, y, x, _cast(ws, y.dtype), checked)
            return out

        return y, pbs

    def batched_pushforward(self, f: Callable, x: Tensor, vs: Tensor) -> tuple[Tensor, Tensor]:
        vs = _cast(vs, x.dtype)
        if self.mode == "forward":
            return self._forward_batch(f, x, vs)
        tape, x, y = _record(f, x)
        checked = _Once(f, x, y)
        k, m, n = int(vs.shape[0]), _size(y), _size(x)
        if k >= m:
            # As many seeds as outputs: the m rows of J by reverse mode, then J v = rows @ v.
            rows = _rows(tape, y, x, tf.reshape(tf.eye(m, dtype=y.dtype), (m, *y.shape)), checked)
            jvs = tf.matmul(tf.reshape(vs, (k, n)), tf.reshape(rows, (m, n)), transpose_b=True)
            return y, tf.reshape(jvs, (k, *y.shape))
        # Fewer seeds: J v as the derivative of the linear map u -> uᵀJ, on the same tape.
        u = tf.zeros_like(y)
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as outer:
            outer.watch(u)
            g = tape.gradient(y, x, output_gradients=u, unconnected_gradients=_NONE)
        if g is None:
            checked()
            return y, tf.zeros((k, *y.shape), dtype=y.dtype)
        return y, _map(lambda v: outer.gradient(g, u, output_gradients=v, unconnected_gradients=_ZERO), vs)

    def _forward_batch(self, f: Callable, x: Tensor, vs: Tensor) -> tuple[Tensor, Tensor]:
        """Forward mode proper: one ForwardAccumulator per seed (f is evaluated per seed)."""
        y, first = self.pushforward(f, x, vs[0])
        rest = [self.pushforward(f, x, v)[1] for v in tf.unstack(vs[1:])]
        return y, tf.stack([first, *rest])

    # ------------------------------------------------------------------ arrays
    def namespace(self, x: Tensor) -> Any:
        return namespace(x)

    def asarray(self, a: Any) -> Tensor:
        return _to_tensor(a)

    def eye(self, like: Tensor, n: int, start: int = 0, stop: int | None = None) -> Tensor:
        if start == 0 and stop in (None, n):
            return tf.eye(n, dtype=like.dtype)
        return tf.one_hot(tf.range(start, n if stop is None else stop), n, dtype=like.dtype)

    def foreign(self, fn: Any) -> Callable[[Tensor], Tensor]:
        """An op computing ``fn`` whose gradient is ``fn.vjp``, itself an op whose gradient is
        ``fn.jvp`` (and so on to second order): ``GradientTape`` and ``ForwardAccumulator``, eager
        and inside ``tf.function`` (through ``tf.numpy_function``)."""
        return _foreign_function(fn)

    # ------------------------------------------------------------------ compilation
    def records(self, a: Any) -> bool:
        """Traced by ``tf.function``, or possibly watched: a GradientTape or ForwardAccumulator is open."""
        from tensorflow.python.eager import record

        return not tf.executing_eagerly() or not hasattr(a, "numpy") or record.could_possibly_record()

    def eager_advice(self) -> str | None:
        if self.compile:
            return None
        return (
            "Eager TensorFlow runs f and its tape op by op through Python on every call: for a hot loop pass "
            "backend=ad.backends.TensorFlow(compile=True) (one tf.function per operator and shapes), or use "
            "ad.prepare(...) with it; f's closed-over tensors are then read once, when it is traced."
        )

    def compile_operator(self, fn: Callable) -> Callable | None:
        return _Compiled(fn)

    def __repr__(self) -> str:
        return f"TensorFlow(mode={self.mode!r}, compile={self.compile!r})"


# ---------------------------------------------------------------------------- foreign functions


def _host(op: Callable[..., Any], inputs: list[Tensor], shape: Any, dtype: tf.DType) -> Tensor:
    """``op(*inputs)`` computed outside TensorFlow: directly when eager, through
    ``tf.numpy_function`` inside a graph; the result has `dtype` (and `shape` where known)."""
    if tf.executing_eagerly():
        y = _to_tensor(op(*inputs))
        return _cast(y, dtype)

    def call(*arrays: np.ndarray) -> np.ndarray:
        return np.asarray(_arrays.to_numpy(op(*arrays)), dtype=dtype.as_numpy_dtype)

    y = tf.numpy_function(call, inputs, dtype, stateful=False)
    y.set_shape(shape)
    return y


def _foreign_function(fn: Any) -> Callable[[Tensor], Tensor]:
    # Five ops, closed under differentiation as in the JAX bridge: the value f(x); the linear jvp
    # (x, v) -> J v and vjp (x, w) -> wᵀ J; their derivatives in x, the bilinear jvp_jvp (x, v, u) ->
    # f''(x)[v, u] and vjp_hvp (x, w, u) -> ∇²⟨w, f⟩ u. TensorFlow's forward mode transposes an op's
    # gradient, so each gradient below must itself be made of these ops. The gradients of the
    # bilinear ones in x (third order) are not defined: TensorFlow gets None (zero) there.
    def spec(x: Tensor) -> tuple[tf.TensorShape, tf.DType]:
        if not x.shape.is_fully_defined():
            return tf.TensorShape(None), x.dtype
        shape, dtype = fn.spec(tuple(int(d) for d in x.shape), x.dtype.name)
        return tf.TensorShape(shape), tf.as_dtype(dtype)

    def op(method: str, like_y: bool, grad: Callable[..., list[Tensor | None]]) -> Callable[..., Tensor]:
        @tf.custom_gradient
        def custom(*inputs: Tensor) -> tuple[Tensor, Callable[[Tensor], list[Tensor | None]]]:
            x = inputs[0]
            shape, dtype = spec(x) if like_y else (x.shape, x.dtype)
            y = _host(getattr(fn, method), list(inputs), shape, dtype)
            return y, lambda ct: grad(_cast(ct, y.dtype), *inputs)

        def call(*inputs: Tensor) -> Tensor:
            # tf.custom_gradient gives tf.gradients (a tf.function differentiated from outside) its
            # rule. Tapes and forward accumulators get it from record_operation, recorded once: inside
            # a graph, custom_gradient's own op (IdentityN) would first give the output a zero JVP
            # from the opaque host op, and an accumulator keeps the first JVP it sees.
            with _tape_record.stop_recording():
                y = custom(*inputs)
            _tape_record.record_operation(method, [y], list(inputs), lambda ct: grad(_cast(ct, y.dtype), *inputs))
            return y

        return call

    value = op("value", True, lambda c, x: [vjp(x, c)])
    jvp = op("jvp", True, lambda c, x, v: [vjp_hvp(x, c, v), vjp(x, c)])
    vjp = op("vjp", False, lambda c, x, w: [vjp_hvp(x, w, c), jvp(x, c)])
    # ⟨c, f''[v, u]⟩ = vᵀ ∇²⟨c, f⟩ u, and the Hessian of ⟨w, f⟩ is symmetric.
    jvp_jvp = op("jvp_jvp", True, lambda c, x, v, u: [None, vjp_hvp(x, c, u), vjp_hvp(x, c, v)])
    vjp_hvp = op("vjp_hvp", False, lambda c, x, w, u: [None, jvp_jvp(x, c, u), vjp_hvp(x, w, c)])

    @tf.autograph.experimental.do_not_convert
    def bridged(x: Any) -> Tensor:
        return value(tf.convert_to_tensor(x))

    return bridged


# ---------------------------------------------------------------------------- tapes


def _record(f: Callable, x: Any) -> tuple[tf.GradientTape, Any, Any]:
    """Run f(x) on a persistent tape watching a fresh copy of x (one tensor or a tuple of them): one
    forward pass, many pullbacks."""
    x = tuple([tf.identity(a) for a in x]) if isinstance(x, tuple) else tf.identity(x)
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(x)
        y = _check_output(f(x))
    return tape, x, y


# Pytrees reach the primitives as tuples of tensors (their leaves, each its own shape and dtype).


def _tuple_pushforward(f: Callable, x: tuple[Tensor, ...], v: tuple[Tensor, ...]) -> tuple[Any, Any]:
    """pushforward for a tuple x: one ForwardAccumulator over all the leaves."""
    x = tuple([tf.identity(a) for a in x])
    v = tuple([_cast(s, a.dtype) for s, a in zip(v, x, strict=True)])
    with tf.autodiff.ForwardAccumulator(x, v) as acc:
        y = _check_output(f(x))
    return y, _tangents(f, x, y, acc)


def _tangents(f: Callable, x: Any, y: Any, acc: tf.autodiff.ForwardAccumulator) -> Any:
    """The accumulator's tangents of `y` (one tensor or a tuple), zeros for outputs it has no path to
    (after the disconnected-output check on those outputs)."""
    ys = y if isinstance(y, tuple) else (y,)
    jvs = [acc.jvp(out, unconnected_gradients=_NONE) for out in ys]
    cut = [i for i, t in enumerate(jvs) if t is None]
    if cut:
        _disconnected(f, x, y, outputs=cut)
        jvs = [tf.zeros_like(out) if t is None else t for out, t in zip(ys, jvs)]
    return tuple(jvs) if isinstance(y, tuple) else jvs[0]


def _tuple_gradient(tape: tf.GradientTape, x: Any, y: Any, w: Any, checked: _Once) -> Any:
    """``wᵀ J`` from the tape where x, f(x) or both are tuples; zeros for the leaves of x that no
    output depends on (after the disconnected-output check on those leaves)."""
    ys, xs = (y if isinstance(y, tuple) else (y,)), (x if isinstance(x, tuple) else (x,))
    ws = w if isinstance(y, tuple) else (w,)
    ws = [_cast(s, out.dtype) for s, out in zip(ws, ys, strict=True)]
    gs = tape.gradient(list(ys), list(xs), output_gradients=ws, unconnected_gradients=_NONE)
    cut = [j for j, g in enumerate(gs) if g is None]
    if cut:
        checked(cut)
    gs = [tf.zeros_like(a) if g is None else _dense(g) for a, g in zip(xs, gs)]
    return tuple(gs) if isinstance(x, tuple) else gs[0]


def _dense(g: Any) -> Tensor:
    """A gradient as a dense tensor: the tape answers the gradient of tf.gather (an embedding lookup)
    as IndexedSlices, which the rest of the library does not take."""
    return tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g


def _rows(tape: tf.GradientTape, y: Tensor, x: Tensor, ws: Tensor, checked: _Once) -> Tensor:
    """``[wᵀ J for w in ws]`` from the tape's recorded forward pass."""
    cut: list[bool] = []

    def one(w: Tensor) -> Tensor:
        g = tape.gradient(y, x, output_gradients=w, unconnected_gradients=_NONE)
        if g is None:
            cut.append(True)
            return tf.zeros_like(x)
        return g

    out = _map(one, ws)
    if cut:
        checked()
    return out


def _map(fn: Callable[[Tensor], Tensor], seeds: Tensor) -> Tensor:
    """``stack([fn(s) for s in seeds])``: a loop for a few seeds eagerly, else one vectorized pass."""
    k = int(seeds.shape[0])
    if k == 0:
        return tf.zeros((0,), dtype=seeds.dtype)  # not reached: callers never batch zero seeds
    if k == 1:
        return fn(seeds[0])[None]
    if tf.executing_eagerly() and k <= LOOP_LIMIT:
        return tf.stack([fn(s) for s in tf.unstack(seeds)])
    return tf.vectorized_map(fn, seeds)


# ---------------------------------------------------------------------------- disconnected outputs


def _check_output(y: Any) -> Any:
    """f(x) must be one floating-point TensorFlow tensor, or a tuple of them (a pytree's leaves)."""
    return tuple([_check_leaf(a) for a in y]) if isinstance(y, tuple) else _check_leaf(y)


def _check_leaf(y: Any) -> Tensor:
    if isinstance(y, tf.Variable):
        y = tf.convert_to_tensor(y)
    if not isinstance(y, tf.Tensor):
        lib = _arrays.library_of(y) or type(y).__name__
        raise TypeError(
            f"backend='tensorflow': f returned a {type(y).__module__}.{type(y).__name__} ({lib}), not a "
            "TensorFlow tensor, so TensorFlow cannot differentiate it. Write f with TensorFlow "
            "operations (tf.* or xp = ad.array_namespace(x)) on the tensor it receives, without "
            "x.numpy(), NumPy or other libraries."
        )
    if not (y.dtype.is_floating or y.dtype.is_complex):
        raise TypeError(
            f"backend='tensorflow': f returned a tensor of dtype {y.dtype.name}, which has no derivative. "
            "Return a floating-point tensor (for example tf.cast(y, x.dtype))."
        )
    return y


class _Once:
    """Decide once per recorded pass whether a disconnected output is constant or foreign (which leaves
    of x have no path to f(x) is the same for every seed)."""

    def __init__(self, f: Callable, x: Any, y: Any) -> None:
        self.f, self.x, self.y, self.done = f, x, y, False

    def __call__(self, inputs: Sequence[int] | None = None) -> None:
        if not self.done:
            _disconnected(self.f, self.x, self.y, inputs=inputs)
            self.done = True


def _nudged(x: Tensor, step: float) -> Tensor:
    """`x` moved by a small, uneven relative `step`: enough to move any output that really depends on it."""
    if _size(x) == 0 or not (x.dtype.is_floating or x.dtype.is_complex):
        return x
    real = x.dtype.real_dtype
    pattern = tf.cast(1.0 + 0.5 * tf.sin(tf.range(_size(x), dtype=tf.float64) + 1.0), real)
    return x + step * (1.0 + tf.abs(x)) * tf.cast(tf.reshape(pattern, x.shape), x.dtype)


def _same(moved: Any, y: Tensor) -> bool:
    if _arrays.is_array(moved) and _arrays.shape_of(moved) == _arrays.shape_of(y):
        return bool(np.array_equal(_arrays.to_numpy(moved), y.numpy()))
    return False


def _disconnected(
    f: Callable, x: Any, y: Any, inputs: Sequence[int] | None = None, outputs: Sequence[int] | None = None
) -> None:
    """No path from x to f(x) on the tape: fine if f is constant, a ValueError if f(x) moves with x.

    For tuples: only the leaves `inputs` of x are moved (None: all) and only the leaves `outputs` of
    f(x) are compared (None: all); a tuple f(x) whose length changes has moved."""
    if not tf.executing_eagerly():
        return
    xs = x if isinstance(x, tuple) else (x,)
    moving = range(len(xs)) if inputs is None else inputs
    if all(_size(xs[j]) == 0 for j in moving):
        return
    # The step of the coarsest dtype in play: a float64 leaf read into a float32 output must move it.
    dtypes = [xs[j].dtype for j in moving] + [out.dtype for out in (y if isinstance(y, tuple) else (y,))]
    eps = max(float(np.finfo(d.real_dtype.as_numpy_dtype).eps) for d in dtypes if d.is_floating or d.is_complex)
    nudged = [_nudged(a, math.sqrt(eps)) if j in moving else a for j, a in enumerate(xs)]
    try:
        moved = f(tuple(nudged) if isinstance(x, tuple) else nudged[0])
    except Exception:  # f fails at the nearby point: nothing to say, keep the zeros
        return
    if not isinstance(y, tuple):
        if _same(moved, y):
            return
    elif isinstance(moved, tuple) and len(moved) == len(y):
        if all(_same(moved[i], y[i]) for i in (range(len(y)) if outputs is None else outputs)):
            return
    raise ValueError(
        "backend='tensorflow': f(x) changes with x, but TensorFlow recorded no path from x to it, so its "
        "derivative would silently be zero. Part of f runs outside TensorFlow: x.numpy(), np.asarray(x), "
        "a NumPy / SciPy / torch call, or tf.constant(...) of such a result (or the whole output goes "
        "through tf.stop_gradient or ops without gradients such as tf.round). Write f with TensorFlow "
        "operations (tf.* or xp = ad.array_namespace(x)) on the tensor it receives; if the result "
        "really does not depend on x for differentiation, return it with 0 * tf.reduce_sum(x) added."
    )


# ---------------------------------------------------------------------------- compilation


class _Compiled:
    """A derived operator as a ``tf.function`` traced once with a fixed input signature.

    Constants arrive as tensors (traced arguments), so new values never retrace. If tracing
    fails, the operator runs eagerly from then on, after one warning that says why.
    """

    def __init__(self, fn: Callable) -> None:
        self.fn = fn
        self.graph: Callable | None = None
        self.lock = threading.Lock()
        self.run = Fallback(fn, self._graph, (_Untraced,), _fallback_message)

    def __call__(self, *args: Any) -> Any:
        if not tf.executing_eagerly():  # already inside the user's tf.function: inline
            return self.fn(*args)
        return self.run(*args)

    def _graph(self, *args: Any) -> Any:
        if self.graph is None:
            with self.lock:
                if self.graph is None:
                    self.graph = self._build(args)
        return self.graph(*[a for a in args if a is not None])

    def _build(self, args: Sequence[Any]) -> Callable:
        """Trace the tf.function; an `_Untraced` if that fails."""
        slots = [i for i, a in enumerate(args) if a is not None]
        signature = [tf.TensorSpec(args[i].shape, args[i].dtype) for i in slots]
        fn, n = self.fn, len(args)

        def run(*tensors: Tensor) -> Any:
            full: list[Any] = [None] * n
            for i, t in zip(slots, tensors):
                full[i] = t
            return fn(*full)

        graph = tf.function(run, input_signature=signature)
        try:
            # The concrete function itself: calling it skips tf.function's signature matching.
            return graph.get_concrete_function()
        except Exception as e:
            raise _Untraced(e) from e


class _Untraced(Exception):
    """tf.function could not trace f (`error` says why): the operator falls back to eager."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _fallback_message(e: BaseException) -> str:
    error = e.error if isinstance(e, _Untraced) else e
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (
        "TensorFlow(compile=True): f could not be traced by tf.function "
        f"({type(error).__name__}: {lines[-1] if lines else ''}); this operator runs eagerly instead."
    )
