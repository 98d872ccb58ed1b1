"""The Backend base class, the name registry, and resolving ``backend=`` arguments."""

from __future__ import annotations

import collections
import contextlib
import importlib
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any, ClassVar, Literal, final

from . import _arrays, _errors
from ._internal_hooks import InternalHooks

Mode = Literal["forward", "reverse"] | None
Array = Any
Pullback = Callable[[Array], Array]


class Backend(InternalHooks):
    """Base of every differentiation engine: subclass it and define one or both primitives.

    ``pushforward(f, x, v) -> (f(x), J(x) v)`` and ``pullback(f, x) -> (f(x), w -> wᵀ J(x))`` work
    on the engine's own arrays. Everything else (gradients, Jacobians, Hessians, HVPs, lazy
    operators) is derived from them. The optional hooks below make a backend faster, never more
    correct; the internal hooks (``InternalHooks``, the base) serve the built-in engines.

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

    @final
    @classmethod
    def has_pushforward(cls) -> bool:
        """Whether the class defines `pushforward` (not to be overridden)."""
        return cls.pushforward is not Backend.pushforward

    @final
    @classmethod
    def has_pullback(cls) -> bool:
        """Whether the class defines `pullback` (not to be overridden)."""
        return cls.pullback is not Backend.pullback

    # ------------------------------------------------------------------ optional hooks: faster, never more correct
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

    def value_and_gradient(self, f: Callable, x: Array, check: Callable[[Array], None]) -> tuple[Array, Array] | None:
        """Optional: ``(f(x), ∇f(x))`` in the engine's cheapest way for a scalar `f` (`check` raises
        for a non-scalar ``f(x)`` before any backward work). None: derived from the pullback."""
        return None

    def linearize(self, f: Callable, x: Array) -> tuple[Array, Callable[[Array], Array]] | None:
        """Optional: ``(f(x), v -> J v)`` for many tangents at one point, where the engine linearizes once
        (``jax.linearize``). None (the default): the derivation layer takes one pushforward per tangent."""
        return None

    def transpose_pushforward(self, f: Callable, x: Array) -> tuple[Array, Pullback] | None:
        """Optional: ``(f(x), w -> wᵀ J(x))`` by transposing the linear map ``v -> J(x) v``, where the engine
        can (``jax.linear_transpose``): where there is no pullback, a vjp or gradient from O(1) pushforwards.
        None (the default, and where this `f` cannot be transposed): columns of pushforwards."""
        return None

    def output_shape(self, f: Callable, x: Array) -> tuple[int, ...] | None:
        """The shape of f(x) without running it, where the engine can tell cheaply; else None."""
        return None

    def compile_operator(self, fn: Callable) -> Callable | None:
        """Compile a derived operator ``fn(x, *seeds_and_constants)``; None means run it eagerly."""
        return None

    # ------------------------------------------------------------------ arrays (an engine with arrays of its own)
    def namespace(self, x: Array) -> Any:
        """The Array API namespace of this engine's arrays."""
        return _arrays.array_namespace(x)

    def asarray(self, a: Any) -> Array:
        """Any library's array as this engine's array (dtype kept). Default: NumPy."""
        return _arrays.to_numpy(a) if _arrays.library_of(a) not in (None, "numpy", "autograd") else a

    def eye(self, like: Array, n: int, start: int = 0, stop: int | None = None) -> Array:
        """Rows ``start:stop`` of the n x n identity, in the dtype (and on the device) of `like`."""
        stop = n if stop is None else stop
        return self.namespace(like).eye(stop - start, n, k=start, dtype=like.dtype)

    def constant(self, like: Array, a: Any) -> Array:
        """The NumPy array `a` as this engine's array, in `a`'s dtype, on the device of `like`."""
        return self.namespace(like).asarray(a)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# What every public function's ``backend=`` takes: a backend, a name, or None (chosen from x's library).
BackendLike = Backend | str | None


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


# The built-in engine of each array library's arrays: backend=None's choice, and a bridge's outer engine.
ENGINE_FOR_LIBRARY = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow", "autograd": "autograd"}


def default_backend_name(x: Any) -> str:
    """backend=None: the engine of `x`'s library; for NumPy, the first installed of autograd, jax, torch."""
    lib = _arrays.library_of(x)
    if lib in ENGINE_FOR_LIBRARY:
        return ENGINE_FOR_LIBRARY[lib]
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


def resolve(backend: BackendLike, x: Any = None) -> Backend:
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
