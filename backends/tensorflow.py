"""TensorFlow: ``GradientTape`` reverse, ``ForwardAccumulator`` forward, ``tf.function`` compilation.

Also the Array API adapter for TensorFlow tensors (array-api-compat does not cover TensorFlow):
``namespace(x)`` here is what ``ad.array_namespace(tf_tensor)`` returns.

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
import functools
import importlib
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from abstractad import _arrays, _errors, _quiet
from abstractad._autograph import skip_autograph
from abstractad._backend import Backend, Mode, check_mode

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


def _to_tensor(a: Any) -> Tensor:
    """Any library's array as a TensorFlow tensor, dtype kept; by DLPack (no copy) where it is safe.

    TensorFlow aborts the process on a buffer that is not 64-byte aligned, so DLPack is used only
    for contiguous, aligned CPU buffers of torch and JAX; anything else goes through NumPy.
    """
    if isinstance(a, (tf.Tensor, tf.Variable)):
        return a
    lib = _arrays.library_of(a)
    try:
        if lib == "torch":
            t = a.detach()
            plain = t.is_contiguous() and not (t.is_conj() or t.is_neg())
            if t.device.type == "cpu" and plain and _aligned(t.data_ptr()):
                return tf.experimental.dlpack.from_dlpack(t.__dlpack__())
        elif lib == "jax" and not _arrays._is_jax_tracer(a):
            if a.platform() == "cpu" if hasattr(a, "platform") else True:
                if _aligned(a.unsafe_buffer_pointer()):
                    return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    except Exception:  # DLPack refused (dtype, layout, device): copy through NumPy instead
        pass
    return tf.convert_to_tensor(_arrays.to_numpy(a))


def _aligned(pointer: int) -> bool:
    return pointer != 0 and pointer % 64 == 0


def _cast(a: Tensor, dtype: tf.DType) -> Tensor:
    return a if a.dtype == dtype else tf.cast(a, dtype)


def _size(a: Tensor) -> int:
    return math.prod(int(d) for d in a.shape)


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
        self.eager = False
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        if self.eager or not tf.executing_eagerly():  # already inside the user's tf.function: inline
            return self.fn(*args)
        if self.graph is None:
            with self.lock:
                if self.graph is None and not self.eager:
                    fallback = self._build(args)
                    if fallback is not None:
                        return fallback
            if self.eager:
                return self.fn(*args)
        return self.graph(*[a for a in args if a is not None])

    def _build(self, args: Sequence[Any]) -> Any:
        """Trace the tf.function; if that fails, run eagerly once, warn, and return that result."""
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
            concrete = graph.get_concrete_function()
        except Exception as e:
            out = self.fn(*args)  # a genuine error in f is raised here as it is eagerly, without a warning
            self.eager = True
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            warnings.warn(
                "TensorFlow(compile=True): f could not be traced by tf.function "
                f"({type(e).__name__}: {lines[-1] if lines else ''}); this operator runs eagerly instead.",
                _errors.CompileFallbackWarning,
                stacklevel=_errors.user_stacklevel(),
            )
            return out
        self.graph = concrete
        return None


# ---------------------------------------------------------------------------- Array API adapter


def _binary(name: str) -> staticmethod:
    """``tf.math.<name>`` on two operands of one dtype, as a namespace method (a staticmethod: a plain
    function in the class body would receive the namespace as its first operand)."""
    op = getattr(tf.math, name)

    def fn(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        return op(x1, x2)

    fn.__name__ = name
    return staticmethod(fn)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two operands with one dtype: a Python number takes the dtype of the tensor beside it."""
    a_t, b_t = isinstance(a, (tf.Tensor, tf.Variable)), isinstance(b, (tf.Tensor, tf.Variable))
    if a_t and not b_t:
        b = tf.constant(b, dtype=a.dtype) if isinstance(b, (int, float, complex, bool)) else tf.convert_to_tensor(b)
    elif b_t and not a_t:
        a = tf.constant(a, dtype=b.dtype) if isinstance(a, (int, float, complex, bool)) else tf.convert_to_tensor(a)
    elif not a_t and not b_t:
        a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if a.dtype != b.dtype:
        dtype = tf.as_dtype(np.result_type(a.dtype.as_numpy_dtype, b.dtype.as_numpy_dtype))
        a, b = _cast(a, dtype), _cast(b, dtype)
    return a, b


def _axis(axis: int | Sequence[int] | None) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis


class TensorFlowNamespace:
    """The Python Array API on TensorFlow tensors (eager and symbolic), for `f` written once.

    >>> import tensorflow as tf
    >>> xp = namespace(tf.constant([1.0, 4.0]))
    >>> xp.sum(xp.sqrt(xp.asarray([1.0, 4.0], dtype=xp.float64))).numpy()
    np.float64(3.0)
    """

    __name__ = "abstractad.backends.tensorflow.namespace"

    float16, float32, float64 = tf.float16, tf.float32, tf.float64
    bfloat16 = tf.bfloat16
    complex64, complex128 = tf.complex64, tf.complex128
    int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
    uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
    bool = tf.bool
    e, pi, inf, nan = math.e, math.pi, math.inf, math.nan
    newaxis = None

    # elementwise, one argument
    abs = staticmethod(tf.math.abs)
    acos, acosh = staticmethod(tf.math.acos), staticmethod(tf.math.acosh)
    asin, asinh = staticmethod(tf.math.asin), staticmethod(tf.math.asinh)
    atan, atanh = staticmethod(tf.math.atan), staticmethod(tf.math.atanh)
    ceil, floor = staticmethod(tf.math.ceil), staticmethod(tf.math.floor)
    conj = staticmethod(tf.math.conj)
    cos, cosh = staticmethod(tf.math.cos), staticmethod(tf.math.cosh)
    exp, expm1 = staticmethod(tf.math.exp), staticmethod(tf.math.expm1)
    imag, real = staticmethod(tf.math.imag), staticmethod(tf.math.real)
    isfinite, isinf, isnan = staticmethod(tf.math.is_finite), staticmethod(tf.math.is_inf), staticmethod(tf.math.is_nan)
    log, log1p = staticmethod(tf.math.log), staticmethod(tf.math.log1p)
    logical_not = staticmethod(tf.math.logical_not)
    negative = staticmethod(tf.math.negative)
    round = staticmethod(tf.math.round)
    sign = staticmethod(tf.math.sign)
    sin, sinh = staticmethod(tf.math.sin), staticmethod(tf.math.sinh)
    sqrt, square = staticmethod(tf.math.sqrt), staticmethod(tf.math.square)
    tan, tanh = staticmethod(tf.math.tan), staticmethod(tf.math.tanh)

    # elementwise, two arguments
    add, subtract = _binary("add"), _binary("subtract")
    multiply, divide = _binary("multiply"), _binary("truediv")
    pow = _binary("pow")
    maximum, minimum = _binary("maximum"), _binary("minimum")
    atan2 = _binary("atan2")
    floor_divide, remainder = _binary("floordiv"), _binary("floormod")
    equal, not_equal = _binary("equal"), _binary("not_equal")
    greater, greater_equal = _binary("greater"), _binary("greater_equal")
    less, less_equal = _binary("less"), _binary("less_equal")
    logical_and, logical_or, logical_xor = _binary("logical_and"), _binary("logical_or"), _binary("logical_xor")

    @staticmethod
    def positive(x: Tensor) -> Tensor:
        return tf.identity(x)

    @staticmethod
    def trunc(x: Tensor) -> Tensor:
        return tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))

    @staticmethod
    def log2(x: Tensor) -> Tensor:
        return tf.math.log(x) / tf.math.log(tf.constant(2.0, dtype=x.dtype))

    @staticmethod
    def log10(x: Tensor) -> Tensor:
        return tf.math.log(x) / tf.math.log(tf.constant(10.0, dtype=x.dtype))

    @staticmethod
    def logaddexp(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        x1, x2 = x1 + tf.zeros_like(x2), x2 + tf.zeros_like(x1)  # broadcast: tf.stack needs one shape
        return tf.math.reduce_logsumexp(tf.stack([x1, x2]), axis=0)

    @staticmethod
    def hypot(x1: Any, x2: Any) -> Tensor:
        x1, x2 = _pair(x1, x2)
        return tf.math.sqrt(x1 * x1 + x2 * x2)

    @staticmethod
    def clip(x: Tensor, /, min: Any = None, max: Any = None) -> Tensor:
        if min is not None:
            x = tf.math.maximum(*_pair(x, min))
        if max is not None:
            x = tf.math.minimum(*_pair(x, max))
        return x

    # reductions
    @staticmethod
    def sum(x: Tensor, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_sum(x if dtype is None else tf.cast(x, dtype), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def prod(x: Tensor, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_prod(x if dtype is None else tf.cast(x, dtype), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def mean(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_mean(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def max(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def min(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_min(x, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def var(x: Tensor, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False) -> Tensor:
        mean = tf.reduce_mean(x, axis=_axis(axis), keepdims=True)
        sq = tf.reduce_sum(tf.math.square(tf.math.abs(x - mean)), axis=_axis(axis), keepdims=keepdims)
        count = _size(x) if axis is None else math.prod(int(x.shape[a]) for a in np.atleast_1d(axis))
        return sq / tf.cast(count - correction, sq.dtype)

    @classmethod
    def std(cls, x: Tensor, /, *, axis: Any = None, correction: float = 0.0, keepdims: bool = False) -> Tensor:
        return tf.math.sqrt(cls.var(x, axis=axis, correction=correction, keepdims=keepdims))

    @staticmethod
    def all(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def any(x: Tensor, /, *, axis: Any = None, keepdims: bool = False) -> Tensor:
        return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def argmax(x: Tensor, /, *, axis: int | None = None, keepdims: bool = False) -> Tensor:
        out = tf.math.argmax(tf.reshape(x, (-1,)) if axis is None else x, axis=0 if axis is None else axis)
        if keepdims:
            return tf.reshape(out, [1] * len(x.shape)) if axis is None else tf.expand_dims(out, axis)
        return out

    @staticmethod
    def argmin(x: Tensor, /, *, axis: int | None = None, keepdims: bool = False) -> Tensor:
        out = tf.math.argmin(tf.reshape(x, (-1,)) if axis is None else x, axis=0 if axis is None else axis)
        if keepdims:
            return tf.reshape(out, [1] * len(x.shape)) if axis is None else tf.expand_dims(out, axis)
        return out

    @staticmethod
    def cumulative_sum(x: Tensor, /, *, axis: int | None = None, include_initial: bool = False) -> Tensor:
        out = tf.math.cumsum(x, axis=0 if axis is None else axis)
        if include_initial:
            ax = 0 if axis is None else axis
            out = tf.concat([tf.zeros_like(tf.gather(out, [0], axis=ax)), out], axis=ax)
        return out

    # linear algebra
    @staticmethod
    def matmul(x1: Tensor, x2: Tensor, /) -> Tensor:
        if len(x1.shape) == 1 and len(x2.shape) == 1:
            return tf.tensordot(x1, x2, 1)
        if len(x1.shape) == 1:
            return tf.squeeze(tf.matmul(x1[None, :], x2), -2)
        if len(x2.shape) == 1:
            return tf.linalg.matvec(x1, x2)
        return tf.matmul(x1, x2)

    @staticmethod
    def tensordot(x1: Tensor, x2: Tensor, /, *, axes: Any = 2) -> Tensor:
        return tf.tensordot(x1, x2, axes)

    @staticmethod
    def vecdot(x1: Tensor, x2: Tensor, /, *, axis: int = -1) -> Tensor:
        return tf.reduce_sum(tf.math.conj(x1) * x2, axis=axis)

    @staticmethod
    def matrix_transpose(x: Tensor, /) -> Tensor:
        return tf.linalg.matrix_transpose(x)

    einsum = staticmethod(tf.einsum)

    # manipulation
    @staticmethod
    def reshape(x: Tensor, /, shape: Sequence[int], *, copy: Any = None) -> Tensor:
        return tf.reshape(x, tuple(shape))

    @staticmethod
    def permute_dims(x: Tensor, /, axes: Sequence[int]) -> Tensor:
        return tf.transpose(x, perm=list(axes))

    @staticmethod
    def expand_dims(x: Tensor, /, *, axis: int = 0) -> Tensor:
        return tf.expand_dims(x, axis)

    @staticmethod
    def squeeze(x: Tensor, /, axis: int | Sequence[int]) -> Tensor:
        return tf.squeeze(x, axis=_axis(axis))

    @staticmethod
    def flip(x: Tensor, /, *, axis: Any = None) -> Tensor:
        axes = list(range(len(x.shape))) if axis is None else list(np.atleast_1d(axis))
        return tf.reverse(x, axis=axes)

    @staticmethod
    def roll(x: Tensor, /, shift: Any, *, axis: Any = None) -> Tensor:
        if axis is None:
            return tf.reshape(tf.roll(tf.reshape(x, (-1,)), shift, 0), tf.shape(x))
        return tf.roll(x, shift, axis)

    @staticmethod
    def stack(arrays: Sequence[Tensor], /, *, axis: int = 0) -> Tensor:
        return tf.stack(list(arrays), axis=axis)

    @staticmethod
    def concat(arrays: Sequence[Tensor], /, *, axis: int | None = 0) -> Tensor:
        if axis is None:
            return tf.concat([tf.reshape(a, (-1,)) for a in arrays], 0)
        return tf.concat(list(arrays), axis=axis)

    @staticmethod
    def take(x: Tensor, indices: Tensor, /, *, axis: int | None = None) -> Tensor:
        if axis is None:
            if len(x.shape) != 1:
                raise ValueError("take: axis is required for arrays of more than one dimension")
            axis = 0
        return tf.gather(x, indices, axis=axis)

    @staticmethod
    def unstack(x: Tensor, /, *, axis: int = 0) -> tuple[Tensor, ...]:
        return tuple(tf.unstack(x, axis=axis))

    @staticmethod
    def broadcast_to(x: Tensor, /, shape: Sequence[int]) -> Tensor:
        return tf.broadcast_to(x, tuple(shape))

    @staticmethod
    def broadcast_arrays(*arrays: Tensor) -> list[Tensor]:
        shape = functools.reduce(tf.broadcast_static_shape, [a.shape for a in arrays])
        return [tf.broadcast_to(a, shape) for a in arrays]

    @staticmethod
    def moveaxis(x: Tensor, source: int, destination: int, /) -> Tensor:
        return tf.experimental.numpy.moveaxis(x, source, destination)

    @staticmethod
    def tile(x: Tensor, repetitions: Sequence[int], /) -> Tensor:
        return tf.tile(x, list(repetitions))

    @staticmethod
    def where(condition: Tensor, x1: Any, x2: Any, /) -> Tensor:
        return tf.where(condition, *_pair(x1, x2))

    @staticmethod
    def sort(x: Tensor, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
        return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")

    @staticmethod
    def argsort(x: Tensor, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
        out = tf.argsort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING", stable=stable)
        return tf.cast(out, tf.int64)  # the index dtype of argmax and arange (TensorFlow's argsort gives int32)

    @staticmethod
    def tril(x: Tensor, /, *, k: int = 0) -> Tensor:
        return tf.experimental.numpy.tril(x, k)

    @staticmethod
    def triu(x: Tensor, /, *, k: int = 0) -> Tensor:
        return tf.experimental.numpy.triu(x, k)

    # creation (device= is accepted and ignored: tensors go where TensorFlow places them)
    @staticmethod
    def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Tensor:
        if isinstance(obj, (tf.Tensor, tf.Variable)):
            return obj if dtype is None else _cast(tf.convert_to_tensor(obj), tf.as_dtype(dtype))
        if dtype is None and _arrays.is_array(obj):
            return _arrays.convert(obj, "tensorflow")
        if dtype is None and isinstance(obj, float):
            dtype = tf.float64  # the Array API's default floating dtype for a Python float, as NumPy
        return tf.convert_to_tensor(np.asarray(obj, dtype=None if dtype is None else tf.as_dtype(dtype).as_numpy_dtype))

    @staticmethod
    def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros(shape, dtype=dtype or tf.float64)

    @staticmethod
    def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.ones(shape, dtype=dtype or tf.float64)

    @staticmethod
    def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros(shape, dtype=dtype or tf.float64)

    @staticmethod
    def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        if dtype is None:
            dtype = {float: tf.float64, int: tf.int64}.get(type(fill_value)) or tf.convert_to_tensor(fill_value).dtype
        return tf.fill(shape if isinstance(shape, (tuple, list)) else (shape,), tf.constant(fill_value, dtype=dtype))

    @staticmethod
    def zeros_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def ones_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.ones_like(x, dtype=dtype)

    @staticmethod
    def empty_like(x: Tensor, /, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.zeros_like(x, dtype=dtype)

    @staticmethod
    def full_like(x: Tensor, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
        return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype or x.dtype))

    @staticmethod
    def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None) -> Tensor:
        dtype = dtype or tf.float64
        if k == 0:
            return tf.eye(n_rows, n_cols, dtype=dtype)
        return tf.convert_to_tensor(np.eye(n_rows, n_cols, k=k, dtype=tf.as_dtype(dtype).as_numpy_dtype))

    @staticmethod
    def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Tensor:
        if stop is None:
            start, stop = 0, start
        if dtype is None:
            ints = all(isinstance(a, int) for a in (start, stop, step))
            dtype = tf.int64 if ints else tf.float64
        return tf.range(start, stop, step, dtype=dtype)

    @staticmethod
    def linspace(
        start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None, endpoint: bool = True
    ) -> Tensor:
        dtype = dtype or tf.float64
        if endpoint:
            return tf.cast(tf.linspace(tf.cast(start, tf.float64), tf.cast(stop, tf.float64), num), dtype)
        return tf.cast(tf.linspace(tf.cast(start, tf.float64), tf.cast(stop, tf.float64), num + 1)[:-1], dtype)

    @staticmethod
    def meshgrid(*arrays: Tensor, indexing: str = "xy") -> list[Tensor]:
        return tf.meshgrid(*arrays, indexing=indexing)

    # dtypes
    @staticmethod
    def astype(x: Tensor, dtype: Any, /, *, copy: bool = True, device: Any = None) -> Tensor:
        return tf.cast(x, dtype)

    @staticmethod
    def result_type(*arrays_and_dtypes: Any) -> tf.DType:
        dtypes = [a.as_numpy_dtype if isinstance(a, tf.DType) else getattr(a, "dtype", a) for a in arrays_and_dtypes]
        dtypes = [d.as_numpy_dtype if isinstance(d, tf.DType) else d for d in dtypes]
        return tf.as_dtype(np.result_type(*dtypes))

    @staticmethod
    def finfo(type: Any, /) -> Any:
        return np.finfo(tf.as_dtype(getattr(type, "dtype", type)).as_numpy_dtype)

    @staticmethod
    def iinfo(type: Any, /) -> Any:
        return np.iinfo(tf.as_dtype(getattr(type, "dtype", type)).as_numpy_dtype)

    @staticmethod
    def isdtype(dtype: Any, kind: Any) -> bool:
        dtype = tf.as_dtype(dtype)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        for k in kinds:
            if isinstance(k, str):
                ok = {
                    "bool": dtype == tf.bool,
                    "signed integer": dtype.is_integer and not dtype.is_unsigned,
                    "unsigned integer": dtype.is_integer and dtype.is_unsigned,
                    "integral": dtype.is_integer,
                    "real floating": dtype.is_floating,
                    "complex floating": dtype.is_complex,
                    "numeric": dtype.is_integer or dtype.is_floating or dtype.is_complex,
                }.get(k)
                if ok is None:
                    raise ValueError(f"isdtype: unknown kind {k!r}")
            else:
                ok = dtype == tf.as_dtype(k)
            if ok:
                return True
        return False

    @property
    def linalg(self) -> Any:
        return _TensorFlowLinalg

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"the abstractad Array API namespace for tensorflow has no function {name!r}; "
            "use the tf.* operation directly, or ask for it to be added"
        )

    def __repr__(self) -> str:
        return "<abstractad Array API namespace for tensorflow>"


class _TensorFlowLinalg:
    """The Array API's ``linalg`` extension, the part TensorFlow maps directly."""

    @staticmethod
    def vector_norm(x: Tensor, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Tensor:
        return tf.norm(x, ord=ord, axis=_axis(axis), keepdims=keepdims)

    @staticmethod
    def matrix_norm(x: Tensor, /, *, keepdims: bool = False, ord: Any = "fro") -> Tensor:
        return tf.norm(x, ord=ord, axis=[-2, -1], keepdims=keepdims)

    matmul = staticmethod(tf.linalg.matmul)
    det = staticmethod(tf.linalg.det)
    inv = staticmethod(tf.linalg.inv)
    cholesky = staticmethod(tf.linalg.cholesky)
    trace = staticmethod(tf.linalg.trace)

    @staticmethod
    def diagonal(x: Tensor, /, *, offset: int = 0) -> Tensor:
        return tf.linalg.diag_part(x, k=offset)


_NAMESPACE = TensorFlowNamespace()


def namespace(*arrays: Any) -> TensorFlowNamespace:
    """The Array API namespace for TensorFlow tensors (eager or symbolic): ``ad.array_namespace``'s answer.

    >>> import tensorflow as tf
    >>> namespace(tf.constant([1.0, 2.0])).sum(tf.constant([1.0, 2.0])).numpy()
    np.float32(3.0)
    """
    return _NAMESPACE


_arrays.register_namespace("tensorflow", namespace)
