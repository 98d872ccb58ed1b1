"""The Backend base class, the name registry, and resolving ``backend=`` arguments."""

from __future__ import annotations

import collections
import contextlib
import importlib
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any, ClassVar, Literal

from . import _arrays, _errors

Mode = Literal["forward", "reverse"] | None
Array = Any
Pullback = Callable[[Array], Array]


class Backend:
    """Base of every differentiation engine: subclass it and define one or both primitives.

    ``pushforward(f, x, v) -> (f(x), J(x) v)`` and ``pullback(f, x) -> (f(x), w -> wᵀ J(x))`` work
    on the engine's own arrays. Everything else (gradients, Jacobians, Hessians, HVPs, lazy
    operators) is derived from them. The hooks below make a backend faster, never more correct.

    >>> import numpy as np, abstractad as ad
    >>> class Complex(ad.Backend):          # the complex-step method, in one function
    ...     name = "complex-step"
    ...     def pushforward(self, f, x, v):
    ...         y = f(x + 1e-20j * v)
    ...         return y.real, y.imag / 1e-20
    >>> ad.gradient(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend=Complex())
    array([ 3., 12.])
    """

    name: ClassVar[str] = "custom"
    # The modes in which this engine can differentiate a function bridged in by ``foreign``
    # (JAX's custom_vjp and TensorFlow's custom_gradient have no forward mode).
    bridge_modes: ClassVar[tuple[str, ...]] = ("forward", "reverse")
    # dtypes the engine cannot differentiate (bfloat16 on the NumPy engines): a TypeError up front.
    unsupported_dtypes: ClassVar[frozenset[str]] = frozenset()
    # Opt in to pytrees: the primitives (pushforward, pullback, value_and_gradient) then also take x and
    # seeds as a tuple of engine arrays (a pytree's leaves, each its own shape and dtype, never
    # concatenated), f may return a tuple, and results mirror those structures. False: the generic layer
    # ravels a pytree into one flat vector first (finite differences and authors' backends by default).
    takes_pytrees: ClassVar[bool] = False
    # Whether `pullback` can differentiate a function that itself applies one of its pullbacks (w -> pb(w)), as
    # engines that trace their own operations can (autograd, JAX, torch.func): where there is no pushforward,
    # J v is then the pullback of that linear map along v, two pullbacks, not a Jacobian's m rows. False (the
    # default, right for every backend) keeps the rows; True on a pullback that cannot be differentiated
    # (a NumPy callback) would give zeros or errors.
    nests_pullback: ClassVar[bool] = False
    mode: Mode = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Backend:
        if not (cls.has_pushforward() or cls.has_pullback()):
            raise _errors.no_primitive(cls)
        return super().__new__(cls)

    # ------------------------------------------------------------------ primitives
    def pushforward(self, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
        """``(f(x), J(x) v)``: forward mode."""
        raise NotImplementedError

    def pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        """``(f(x), w -> wᵀ J(x))``: reverse mode."""
        raise NotImplementedError

    @classmethod
    def has_pushforward(cls) -> bool:
        return cls.pushforward is not Backend.pushforward

    @classmethod
    def has_pullback(cls) -> bool:
        return cls.pullback is not Backend.pullback

    # ------------------------------------------------------------------ optional hooks
    def batched_pushforward(self, f: Callable, x: Array, vs: Array) -> tuple[Array, Array]:
        """``(f(x), [J v for v in vs])`` stacked on a leading axis; override with a vmap."""
        xp = self.namespace(x)
        y, first = self.pushforward(f, x, vs[0])
        rest = [self.pushforward(f, x, vs[i])[1] for i in range(1, int(vs.shape[0]))]
        return y, xp.stack([first, *rest])

    def batched_pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        """``(f(x), ws -> [wᵀ J for w in ws])`` stacked on a leading axis; override with a vmap."""
        y, pb = self.pullback(f, x)
        xp = self.namespace(x)

        def pullbacks(ws: Array) -> Array:
            return xp.stack([pb(ws[i]) for i in range(int(ws.shape[0]))])

        return y, pullbacks

    def transpose_pushforward(self, f: Callable, x: Array) -> tuple[Array, Pullback] | None:
        """Optional: ``(f(x), w -> wᵀ J(x))`` by transposing the linear map ``v -> J(x) v``, where the engine
        can (``jax.linear_transpose``): where there is no pullback, a vjp or gradient from O(1) pushforwards.
        None (the default, and where this `f` cannot be transposed): columns of pushforwards."""
        return None

    def namespace(self, x: Array) -> Any:
        """The Array API namespace of this engine's arrays."""
        return _arrays.array_namespace(x)

    def asarray(self, a: Any) -> Array:
        """Any library's array as this engine's array (dtype kept). Default: NumPy."""
        return _arrays.to_numpy(a) if _arrays.library_of(a) not in (None, "numpy", "autograd") else a

    def supports_dtype(self, dtype: str) -> bool:
        """Whether this backend can differentiate arrays of `dtype` (a name, "bfloat16")."""
        return dtype not in self.unsupported_dtypes

    def eye(self, like: Array, n: int, start: int = 0, stop: int | None = None) -> Array:
        """Rows ``start:stop`` of the n x n identity, in the dtype (and on the device) of `like`."""
        stop = n if stop is None else stop
        return self.namespace(like).eye(stop - start, n, k=start, dtype=like.dtype)

    def constant(self, like: Array, a: Any) -> Array:
        """The NumPy array `a` as this engine's array, in `a`'s dtype, on the device of `like`."""
        return self.namespace(like).asarray(a)

    def jacobian_sparsity(self, f: Callable, x: Array) -> Any:
        """Optional: the global Jacobian pattern of `f` at arrays like `x` (a boolean SciPy CSR), found
        the engine's way (JAX: its jaxpr); None: the generic index-set tracer finds it."""
        return None

    def hessian_sparsity(self, f: Callable, x: Array) -> Any:
        """Optional: the global Hessian pattern of scalar `f` at arrays like `x`; None: the tracer's."""
        return None

    def operator_hook(self, operator: str, key: Hashable) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
        """Optional: ``(derive, assemble)`` where the backend derives `operator` itself with results of
        its own kind (Sparse: sparse matrices); `key` names the function and shapes. None: derived."""
        return None

    @property
    def traces_python(self) -> bool:
        """Whether compile_operator traces Python code as it is (jax.jit, tf.function) rather than
        rewriting its bytecode (torch.compile): library code full of NumPy may then run inside it."""
        return True

    def linearize(self, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]]:
        """``(f(x), v -> J v)`` for many tangents at one point; override where the engine linearizes once."""
        from ._derive import pushforward

        y, _ = pushforward(self, f, x, self.namespace(x).zeros_like(x))
        return y, lambda v: pushforward(self, f, x, v)[1]

    def value_and_gradient(self, f: Callable, x: Array, check: Callable[[Array], None]) -> tuple[Array, Array] | None:
        """Optional: ``(f(x), ∇f(x))`` in the engine's cheapest way for a scalar `f` (`check` raises
        for a non-scalar ``f(x)`` before any backward work). None: derived from the pullback."""
        return None

    def output_shape(self, f: Callable, x: Array) -> tuple[int, ...] | None:
        """The shape of f(x) without running it, where the engine can tell cheaply; else None."""
        return None

    def scope(self, dtype: str) -> contextlib.AbstractContextManager:
        """A context entered around every operator call (e.g. JAX's float64 switch)."""
        return contextlib.nullcontext()

    def nest(self) -> contextlib.AbstractContextManager:
        """A context entered around second-order derivations (e.g. coarser finite-difference steps)."""
        return contextlib.nullcontext()

    def second_order(self, f: Callable, x: Array) -> tuple[Backend, Callable, Array, Callable[[Array], Array]]:
        """``(outer, gradient of f, x for outer, convert a seed for outer)``: what second order differentiates.

        By default the backend nests itself; SecondOrder returns another outer engine and a bridge.
        """
        from ._derive import inner_gradient

        return self, inner_gradient(self, f), x, lambda a: a

    def foreign(self, fn: Any) -> Callable[[Array], Array]:
        """A function on this engine's arrays that computes ``fn`` (an ``abstractad._bridge.Foreign``)
        and whose derivatives this engine takes from ``fn.jvp`` / ``fn.vjp``: the outer side of
        ``differentiate_with``. Engines that can be differentiated through override it."""
        raise TypeError(
            f"{type(self).__name__} cannot call a function computed by another backend inside its "
            "differentiated programs (it has no foreign-function hook)"
        )

    def compile_operator(self, fn: Callable) -> Callable | None:
        """Compile a derived operator ``fn(x, *seeds_and_constants)``; None means run it eagerly."""
        return None

    @property
    def compiles(self) -> bool:
        return bool(getattr(self, "compile", False))

    def place_like(self, r: Array, x: Array) -> Array:
        """Optional: a result `r` in x's structure placed as its leaf `x` is (a JAX sharding, a DTensor's
        placements), where the engine's own rules place it otherwise. Default: `r` as it is."""
        return r

    # Whether torch DTensors may be differentiated leaf by leaf in reverse mode (the torch backend).
    takes_dtensor: ClassVar[bool] = False

    # Whether derivatives are exact to rounding; False for approximations (finite differences), whose
    # Hessians the generic layer then makes exactly symmetric.
    exact: ClassVar[bool] = True
    # Whether the backend computes on arrays of x's own library (finite differences evaluate f on
    # them): the seeds and constants of a call are then brought to x's library and device too.
    follows_x: ClassVar[bool] = False

    def recording_context(self, arrays: Any) -> Callable[[], contextlib.AbstractContextManager] | None:
        """Optional: for a call some of whose `arrays` (x's, the seeds' and the constants' leaves) the
        caller's own engine records (torch tensors that require grad), a context factory around the
        call in which results keep that record, so that the caller differentiates them once more
        (double backward, gradient penalties, MAML). None (the default): results are plain."""
        return None

    def records(self, a: Any) -> bool:
        """Optional: whether `a`, one of this engine's arrays, is being traced or recorded by the engine
        (a JAX tracer, a torch tensor that requires grad, a tensor under a TensorFlow tape, an autograd
        box). An operator of another backend called on such an array becomes this engine's primitive
        (through `foreign`, as ``differentiate_with`` does), whose derivatives that backend computes.
        Default: False (an engine that cannot be differentiated through)."""
        return False

    def eager_advice(self) -> str | None:
        """Optional: what to switch to when the same function runs eagerly many times (JAX: eager calls
        trace `f` anew each time); None (the default) where eager calls are as fast as they get."""
        return None

    @property
    def takes_numpy(self) -> bool:
        """Whether compile_operator's result takes NumPy float arrays as they are and transfers them
        itself (``jax.jit`` does, in C++): a NumPy user's arrays then skip the conversion."""
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Wrapper(Backend):
    """A backend over another (SecondOrder, Sparse): primitives, batching and array handling are the
    wrapped backend's, through :attr:`wrapped`; subclasses override what they change."""

    @property
    def wrapped(self) -> Backend:
        raise NotImplementedError

    def pushforward(self, f: Callable, x: Array, v: Array) -> tuple[Array, Array]:
        from ._derive import pushforward

        return pushforward(self.wrapped, f, x, v)

    def pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        from ._derive import pullback

        return pullback(self.wrapped, f, x)

    def batched_pushforward(self, f: Callable, x: Array, vs: Array) -> tuple[Array, Array]:
        if self.wrapped.has_pushforward():
            return self.wrapped.batched_pushforward(f, x, vs)
        return super().batched_pushforward(f, x, vs)

    def batched_pullback(self, f: Callable, x: Array) -> tuple[Array, Pullback]:
        if self.wrapped.has_pullback():
            return self.wrapped.batched_pullback(f, x)
        return super().batched_pullback(f, x)

    def namespace(self, x: Array) -> Any:
        return self.wrapped.namespace(x)

    def asarray(self, a: Any) -> Array:
        return self.wrapped.asarray(a)

    def constant(self, like: Array, a: Any) -> Array:
        return self.wrapped.constant(like, a)

    def eye(self, like: Array, n: int, start: int = 0, stop: int | None = None) -> Array:
        return self.wrapped.eye(like, n, start, stop)

    def supports_dtype(self, dtype: str) -> bool:
        return self.wrapped.supports_dtype(dtype)


# ---------------------------------------------------------------------------- compile cache


class LRUCache:
    """A small thread-safe LRU map: compiled operators, kept per function and shapes."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._data: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = build()
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def get(self, key: Hashable) -> Any:
        """The value for `key` (now the most recent), or None. Without the lock: each OrderedDict
        operation is atomic, and a key evicted by another thread in between is only not moved."""
        data = self._data
        value = data.get(key)
        if value is not None:
            try:
                data.move_to_end(key)
            except KeyError:
                pass
        return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


COMPILED = LRUCache()


def cache_key(value: Any) -> Hashable:
    """A hashable stand-in for an argument: shape and dtype for arrays, the value or id otherwise."""
    if _arrays.is_array(value):
        return ("array", _arrays.library_of(value), _arrays.shape_of(value), _arrays.dtype_name(value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return ("value", type(value), value)


# ---------------------------------------------------------------------------- registry

_REGISTRY: dict[str, type[Backend] | str] = {}
_ALIASES = {"tf": "tensorflow", "fd": "finitediff"}


def register_backend(name: str, cls: type[Backend] | str) -> None:
    """Make ``backend=name`` resolve to ``cls()`` (a class, or a "module:Class" string).

    >>> import abstractad as ad
    >>> class Mine(ad.Backend):
    ...     def pushforward(self, f, x, v):
    ...         return ad.backends.FiniteDiff().pushforward(f, x, v)
    >>> ad.register_backend("mine", Mine)
    >>> round(ad.derivative(lambda x: x ** 2, 3.0, backend="mine"), 6)
    6.0
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_backend needs a non-empty name, not {name!r}")
    if not isinstance(cls, str) and not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"register_backend needs a Backend subclass or a 'module:Class' string, not {cls!r}")
    _REGISTRY[name] = cls


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="abstractad.backends")}


def known_backends() -> list[str]:
    """Every name ``backend=`` accepts: built in, registered, and from entry points."""
    from abstractad.backends import BUILTIN

    return sorted({*BUILTIN, *_ALIASES, *_REGISTRY, *_entry_points()})


def installed_backends() -> list[str]:
    """The built-in backends whose engines are installed, AD engines first, finite differences last.

    >>> import abstractad as ad
    >>> ad.installed_backends()[-1]
    'finitediff'
    """
    import importlib.util

    from abstractad.backends import BUILTIN

    out = []
    for name, (module, _, engine) in BUILTIN.items():
        if engine is None or importlib.util.find_spec(engine) is None:
            continue
        if importlib.util.find_spec(f"abstractad.backends.{module}") is not None:
            out.append(name)
    return [*out, "finitediff"]


def backend_class(name: str) -> type[Backend]:
    """The class behind a backend name; an ImportError naming the pip extra if its engine is missing."""
    from abstractad.backends import BUILTIN, load

    name = _ALIASES.get(name, name)
    if name in _REGISTRY:
        target = _REGISTRY[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return target
    if name in BUILTIN:
        return load(name)
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    raise _errors.unknown_backend(name, known_backends())


_DEFAULT_FOR_LIBRARY = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow", "autograd": "autograd"}


def default_backend_name(x: Any) -> str:
    """backend=None: the engine of `x`'s library; for NumPy, the first installed of autograd, jax, torch."""
    lib = _arrays.library_of(x)
    if lib in _DEFAULT_FOR_LIBRARY:
        return _DEFAULT_FOR_LIBRARY[lib]
    import importlib.util

    for name in ("autograd", "jax", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    _note_finite_difference_default()
    return "finitediff"


_FD_NOTED: list[bool] = []


def _note_finite_difference_default() -> None:
    """Say once per process that the default is finite differences (approximate), and how to get AD."""
    if _FD_NOTED:
        return
    _FD_NOTED.append(True)
    import warnings

    warnings.warn(
        "abstractad: no AD engine is installed (autograd, jax, torch), so backend=None differentiates NumPy "
        "input by finite differences, which are approximate (about 1e-6 relative for first order, 1e-4 for "
        'second). Install one for exact derivatives: pip install "abstractad[autograd]" (or [jax], [torch]).',
        _errors.FiniteDifferenceDefaultWarning,
        stacklevel=_errors.user_stacklevel(),
    )


def resolve(backend: Backend | str | None, x: Any = None) -> Backend:
    """A Backend instance from a name, an instance, or None (chosen from `x`'s library)."""
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        backend = default_backend_name(x)
    if isinstance(backend, str):
        return backend_class(backend)()
    if isinstance(backend, type) and issubclass(backend, Backend):
        return backend()
    raise _errors.bad_backend_argument(backend)


def check_mode(mode: Any) -> None:
    if mode not in (None, "forward", "reverse"):
        raise _errors.bad_mode(mode)


@contextlib.contextmanager
def entered(*contexts: contextlib.AbstractContextManager) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for c in contexts:
            stack.enter_context(c)
        yield
