"""Finite differences: the reference that needs no AD engine (pushforward only).

The differences are taken in NumPy; `f` is evaluated on arrays of x's own library (a torch `f` on
torch tensors, a JAX `f` on JAX arrays), so that any function can be checked against them."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import numpy as np

from abstractad import _arrays
from abstractad._backend import Backend, resolve

Method = Literal["central", "forward", "complex"]
_state = threading.local()


def _depth() -> int:
    return getattr(_state, "depth", 0)


def _nested() -> bool:
    return getattr(_state, "nested", 0) > 0


@contextlib.contextmanager
def _counter(attr: str) -> Iterator[None]:
    setattr(_state, attr, getattr(_state, attr, 0) + 1)
    try:
        yield
    finally:
        setattr(_state, attr, getattr(_state, attr) - 1)


@dataclasses.dataclass(frozen=True)
class FiniteDiff(Backend):
    """Differentiate by finite differences: ``central``, ``forward`` or ``complex`` step.

    Steps are relative to the size of `x` and chosen per method and dtype: ``eps**(1/3)`` for
    central, ``eps**(1/2)`` for forward, ``1e-20`` for the complex step (exact to rounding, but
    `f` must accept complex input and be real-analytic). For second order (Hessians, HVPs)
    central steps grow to ``eps**(1/4)``, which makes nested differences accurate to about
    ``sqrt(eps)`` of the Hessian's scale. ``step=`` fixes the step instead. ``vectorized=None``
    evaluates a batch of seeds in one call of `f` when a probe shows that `f` maps over a
    leading axis; True always does, False never does.

    >>> import numpy as np, abstractad as ad
    >>> g = ad.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]), backend=ad.backends.FiniteDiff())
    >>> np.allclose(g, [2.0, 4.0])
    True
    """

    name: ClassVar[str] = "finitediff"
    exact: ClassVar[bool] = False
    max_nesting: ClassVar[int | None] = 2  # stencils to order 2: taylor above order 2 is a ValueError
    follows_x: ClassVar[bool] = True
    unsupported_dtypes: ClassVar[frozenset[str]] = frozenset({"bfloat16"})  # NumPy has no bfloat16 arithmetic
    method: Method = "central"
    step: float | None = None
    vectorized: bool | None = None

    def __post_init__(self) -> None:
        if self.method not in ("central", "forward", "complex"):
            raise ValueError(f"FiniteDiff method must be 'central', 'forward' or 'complex', not {self.method!r}")
        if self.step is not None and not (float(self.step) > 0):
            raise ValueError(f"FiniteDiff step must be positive, not {self.step!r}")

    def supports_dtype(self, dtype: str) -> bool:
        # A complex step needs f analytic in real inputs; complex x enters as pairs of reals that
        # f recombines with conj / abs, which a complex step cannot differentiate.
        return super().supports_dtype(dtype) and not (self.method == "complex" and dtype.startswith("complex"))

    # ------------------------------------------------------------------ steps
    def _method(self) -> Method:
        # A complex step cannot be nested in itself: the outer level of a second-order
        # derivative differences the (exact) complex-step derivative centrally.
        if self.method == "complex" and _nested() and _depth() == 0:
            return "central"
        return self.method

    def _step(self, x: np.ndarray, v: np.ndarray, method: Method) -> float:
        if self.step is not None:
            return float(self.step)
        dtype = np.result_type(x.dtype, np.float32)
        eps = float(np.finfo(dtype).eps)
        if method == "complex":
            base = 1e-20
        elif method == "forward":
            base = eps ** (1 / 3) if _nested() else eps**0.5
        else:
            # Central over central (a second difference) wants eps**(1/4); central over an exact
            # complex-step derivative wants the first-order step.
            base = eps**0.25 if _nested() and self.method == "central" else eps ** (1 / 3)
        # NaN and inf in x stay in their own entries' derivatives, not in every step.
        finite = np.abs(x[np.isfinite(x)])
        scale = max(1.0, float(np.max(finite)) if finite.size else 1.0)
        vnorm = float(np.max(np.abs(v))) if v.size else 1.0
        return base * scale / (vnorm if vnorm > 0 else 1.0)

    # ------------------------------------------------------------------ arrays
    def asarray(self, a: Any) -> Any:
        """Arrays of the AD engines' libraries stay as they are (f is evaluated on them); others are NumPy."""
        if _arrays.has_own_arrays(_arrays.library_of(a)):
            return a
        return super().asarray(a)

    # ------------------------------------------------------------------ the primitive
    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        if _arrays.has_own_arrays(_arrays.library_of(x)):
            y, jvs = self.batched_pushforward(f, x, _arrays.array_namespace(v).reshape(v, (1, *v.shape)))
        else:
            y, jvs = self.batched_pushforward(f, x, np.asarray(v)[None])
        return y, jvs[0]

    def batched_pushforward(self, f: Callable, x: Any, vs: Any) -> tuple[Any, Any]:
        if _arrays.has_own_arrays(_arrays.library_of(x)):  # differences in NumPy, f and results in x's library
            info = _arrays.describe(x)
            # TensorFlow computes complex powers by exp and log, which loses a complex step of 1e-20
            # (x ** 3 at a negative x): there the complex step evaluates f on NumPy, as it always did.
            numpy_only = self._method() == "complex" and info.library == "tensorflow"
            g = f if numpy_only else _in_library(f, info)
            y, jvs = self._numpy_pushforward(g, _arrays.to_numpy(x), _arrays.to_numpy(vs))
            return _arrays.restore(y, info), _arrays.restore(jvs, info)
        return self._numpy_pushforward(f, x, vs)

    def _numpy_pushforward(self, f: Callable, x: np.ndarray, vs: np.ndarray) -> tuple[Any, Any]:
        x = np.asarray(x)
        if x.dtype == np.float16:  # half-precision differences have no correct digits: evaluate in float32
            y, jvs = self._numpy_pushforward(f, x.astype(np.float32), vs)
            return y.astype(np.float16), jvs.astype(np.float16)
        f = _read_only_arguments(f)
        vs = np.asarray(vs, dtype=x.dtype)
        # A JVP is linear in its tangent: a zero tangent gets an exact zero, not a difference of
        # rounding errors (torch's gradcheck asserts that backward is multiplied by grad_output).
        moving = np.any(vs.reshape(vs.shape[0], -1) != 0, axis=1)
        if not moving.all():
            return self._moving_pushforward(f, x, vs, moving)
        method = self._method()
        real = np.result_type(x.dtype, np.float32)
        hs = np.array([self._step(x, v, method) for v in vs], dtype=real).reshape((-1,) + (1,) * x.ndim)
        with _counter("depth"):
            if method == "complex":
                ctype = np.result_type(x.dtype, np.complex64)
                points = x.astype(ctype) + 1j * hs * vs
                y = np.asarray(f(x))
                out = self._evaluate(f, points, y.astype(ctype))
                jvs = out.imag / hs.reshape((-1,) + (1,) * y.ndim)
                return y, jvs.astype(y.dtype, copy=False)
            y = np.asarray(f(x))
            k = vs.shape[0]
            hy = hs.reshape((-1,) + (1,) * y.ndim)
            if method == "forward":
                out = self._evaluate(f, x + hs * vs, y)
                jvs = (out - y) / hy
            else:
                out = self._evaluate(f, np.concatenate([x + hs * vs, x - hs * vs]), y)
                jvs = (out[:k] - out[k:]) / (2 * hy)
        return y, jvs.astype(np.result_type(y.dtype, x.dtype), copy=False)

    def _moving_pushforward(self, f: Callable, x: np.ndarray, vs: np.ndarray, moving: np.ndarray) -> tuple[Any, Any]:
        """The JVPs when some tangents are zero: differences along the others only, zeros for those."""
        if moving.any():
            y, some = self._numpy_pushforward(f, x, vs[moving])
        else:
            with _counter("depth"):
                y = np.asarray(f(x))
            some = np.zeros((0, *y.shape), dtype=np.result_type(y.dtype, x.dtype))
        jvs = np.zeros((vs.shape[0], *some.shape[1:]), dtype=some.dtype)
        jvs[moving] = some
        return y, jvs

    def _evaluate(self, f: Callable, points: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``[f(p) for p in points]``, in one call of `f` when it maps over the leading axis."""
        if self.vectorized is not False and points.shape[0] > 1:
            out = self._try_batched(f, points, y)
            if out is not None:
                return out
        return np.stack([np.asarray(f(p)) for p in points])

    def _try_batched(self, f: Callable, points: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        if self.vectorized:
            return np.asarray(f(points))
        try:
            out = np.asarray(f(points))
        except Exception:  # f does not map over a batch axis: evaluate point by point
            return None
        if out.shape != (points.shape[0], *y.shape):
            return None
        # Probe: the last row must be what f gives on that point alone.
        probe = np.asarray(f(points[-1]))
        tol = 1e3 * np.finfo(np.result_type(probe.dtype, np.float32)).eps
        atol = tol * max(1.0, float(np.max(np.abs(probe), initial=0.0)))
        if probe.shape != y.shape or not np.allclose(out[-1], probe, rtol=tol, atol=atol):
            return None
        return out

    def foreign(self, fn: Any) -> Callable[[np.ndarray], np.ndarray]:
        """Finite differences only evaluate: a foreign function is called on NumPy arrays."""
        from abstractad import _arrays

        return lambda x: _arrays.convert(fn.value(x), "numpy")

    def nest(self) -> contextlib.AbstractContextManager:
        return _counter("nested")

    def __repr__(self) -> str:
        return f"FiniteDiff(method={self.method!r}, step={self.step!r}, vectorized={self.vectorized!r})"


def _in_library(f: Callable, info: _arrays.ArrayInfo) -> Callable:
    """`f` on NumPy points: each point (or batch of them) handed to `f` in the library, dtype and
    device of x (`info`), the result back as NumPy."""

    scope = resolve(info.library).scope  # the library's engine's own context (JAX's float64 switch)

    def evaluate(p: np.ndarray) -> np.ndarray:
        dtype = _arrays.dtype_name(p)
        with scope(dtype):
            point = _arrays.restore(p, dataclasses.replace(info, dtype=dtype, shape=p.shape))
            return np.asarray(_arrays.to_numpy(f(point)))

    return evaluate


def _read_only_arguments(f: Callable) -> Callable:
    """`f` called on read-only views: an `f` that writes into its input raises NumPy's error, as on
    the AD engines, instead of corrupting the shifted points (and the user's array)."""

    def frozen(p: np.ndarray) -> Any:
        if isinstance(p, np.ndarray) and p.flags.writeable:
            p = p.view()
            p.flags.writeable = False
        return f(p)

    return frozen
