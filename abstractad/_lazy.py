"""Lazy Jacobian and Hessian operators: products only, in the shape SciPy's solvers expect."""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from . import _arrays, _derive, _tree
from ._backend import Backend, BackendLike, LRUCache, resolve
from ._call import check_dtensors
from ._convert import native_like_x
from ._operators import apply, prepare, wrap
from ._structure import IN, OUT, Output, Point, flat_user, restore_result

# SciPy's LinearOperator is complex-linear; a derivative over complex numbers is only real-linear.
_REAL_ONLY = (
    "lazy operators need real x and f(x): over complex numbers a derivative is real-linear, which "
    "SciPy's (complex-linear) LinearOperator cannot represent. Use jvp, vjp and hvp, or pass the real "
    "and imaginary parts as separate real arrays."
)


class _LinearOperator:
    """Makes each operator an instance of SciPy's ``LinearOperator`` where SciPy is installed, so that
    every solver and ``minimize(hess=...)`` takes it as it is. The SciPy subclass is made on the first
    operator (importing SciPy costs a third of a second, which ``import abstractad`` does not pay);
    SciPy's own composite operators (``J * v``, ``H + H``, ``J.H``) call the products through the
    underscore methods below."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(_scipy_class(cls))

    def _matvec(self, v: Any) -> Any:
        return self.matvec(v)  # type: ignore[attr-defined]

    def _rmatvec(self, w: Any) -> Any:
        return self.rmatvec(w)  # type: ignore[attr-defined]

    def _matmat(self, v: Any) -> Any:
        return self.matmat(v)  # type: ignore[attr-defined]

    def _rmatmat(self, w: Any) -> Any:
        return self.rmatmat(w)  # type: ignore[attr-defined]

    def _adjoint(self) -> Any:
        return self.T  # type: ignore[attr-defined]  # real operators: the adjoint is the transpose

    def _transpose(self) -> Any:
        return self.T  # type: ignore[attr-defined]


_SCIPY_CLASSES: dict[type, type] = {}


def _scipy_class(cls: type) -> type:
    """`cls` with SciPy's LinearOperator as a second base (`cls` itself without SciPy); made once."""
    if cls not in _SCIPY_CLASSES:
        try:
            from scipy.sparse.linalg import LinearOperator
        except ImportError:
            return cls
        if issubclass(cls, LinearOperator):
            return cls
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        _SCIPY_CLASSES[cls] = type(cls.__name__, (cls, LinearOperator), namespace)
    return _SCIPY_CLASSES[cls]


def _real(y: Any, z: Any) -> Any:
    """`y`, refused if complex for a real `z` (a complex-step backend's complex `z` is its own business)."""
    if "complex" in _arrays.dtype_name(y) and "complex" not in _arrays.dtype_name(z):
        raise TypeError(_REAL_ONLY)
    return y


# The flat function (flat x in, flat f(x) out) whose products a compiling backend compiles, one per
# function, backend and structure of x: a new operator at a new point (a Newton step) reuses them.
_FLAT = LRUCache(64)


def _flat_function(f: Callable, b: Backend, point: Point, vector: bool) -> Callable:
    """`f` of the flat x; with `vector`, f(x) flat too (a Jacobian's rows), else as it is (a scalar)."""

    def build() -> Callable:
        shape, output = point.info.shape, Output(b)

        def g(z: Any, *args: Any) -> Any:
            xz = point.unravel(z) if point.layout is not None else _arrays.array_namespace(z).reshape(z, shape)
            y = _real(output(f(xz, *args)), z)
            return _arrays.array_namespace(y).reshape(y, (-1,)) if vector and len(_derive.shape(y)) != 1 else y

        return g

    return _FLAT.get_or_build((f, b, point.key, point.info.shape, point.info.dtype, vector), build)


class _Shared:
    """What the operators of one class, function, backend and signature of x share: the backend, the
    structures of x and f(x), the flat function, and the prepared products (see _Lazy._planned)."""

    def __init__(self, cls: type, f: Callable, x: Any, backend: BackendLike) -> None:
        self.point = point = Point(x)
        if "complex" in point.info.dtype:
            raise TypeError(_REAL_ONLY)
        self.b = resolve(backend, x if point.layout is None else _tree.flatten(x)[0][0])
        check_dtensors(cls.__name__, self.b, x, (), ())
        self.output = Output(self.b)
        self.n = math.prod(point.info.shape)
        self.g = _flat_function(f, self.b, point, cls._rows_kind == OUT)
        self.compiled = self.b.compiles
        self.products = LRUCache(16)


# Kept so that a new operator at a new point of the same signature (a Newton step) is one look-up.
_SHARED = LRUCache(64)


def _shared(cls: type, f: Callable, x: Any, backend: BackendLike) -> _Shared:
    try:
        key = (cls, f, backend, _x_key(x))
        shared = _SHARED.get(key)
    except TypeError:  # an unhashable f or backend (refused by resolve), or an x that is not arrays
        return _Shared(cls, f, x, backend)
    if shared is None:
        shared = _Shared(cls, f, x, backend)
        _SHARED.put(key, shared)
    return shared


def _x_key(x: Any) -> Hashable:
    """What the shared state depends on in x: each array's plan key (type, shape, dtype, and what its
    library adds), and a pytree's structure; a TypeError for anything else (Python numbers, lists)."""
    lib = _arrays.library_of(x)
    if lib is not None:
        return _arrays.plan_key(x, lib)
    if _tree.is_leaf(x):
        raise TypeError("not an array")
    leaves, spec = _tree.flatten(x)
    return (spec, tuple(map(_x_key, leaves)))


def _flat_x(x: Any, point: Point) -> Any:
    """x as the flat vector the products run at, in its own library (NumPy for Python values)."""
    if type(x) is np.ndarray and point.layout is None:
        return x if x.ndim == 1 else x.reshape(-1)
    flat = flat_user(x, point.layout, "x") if _arrays.is_array(x) or point.layout is not None else x
    return flat if _arrays.is_array(flat) else np.asarray(x, dtype=point.info.dtype).reshape(-1)


def _constants_key(args: tuple) -> Hashable | None:
    """What a prepared product depends on in the constants: the shape and dtype of NumPy arrays, the
    value of the others; None where it is not prepared: an unhashable value, or another library's
    array (another engine may be tracing it, which the unprepared call bridges)."""
    if not args:
        return ()
    leaves, spec = _tree.flatten(args)
    key: list[Hashable] = [spec]
    for a in leaves:
        if type(a) is np.ndarray:
            key.append((a.shape, a.dtype))
        elif _arrays.is_array(a):
            return None
        else:
            try:
                hash(a)
            except TypeError:
                return None
            key.append((type(a), a))
    return tuple(key)


class _Lazy(_LinearOperator):
    """What both operators share: the backend, `f` with its constants bound, the native point.

    Products on a compiling backend (``compile=True``) run through plans of the flat function, so
    each is one call of a compiled jvp, vjp or hvp (and ``matmat`` one of a batched one); on an
    eager backend ``matvec`` reuses a linearization or a pullback's forward pass."""

    __array_ufunc__ = None  # so that NumPy's `w @ J` defers to J.__rmatmul__

    def __init__(self, f: Callable, x: Any, args: tuple, backend: BackendLike, kwargs: dict[str, Any]) -> None:
        if not callable(f):
            raise TypeError(f"lazy operators need a callable f, not {type(f).__name__}")
        if "has_aux" in kwargs:
            raise TypeError(f"{type(self).__name__} has no has_aux: its products differentiate f(x) itself")
        f, args = wrap(f, args, False, kwargs)  # keyword constants: one more constant, as for the operators
        self._shared = shared = _shared(type(self), f, x, backend)
        self._point, self._info, self._b, self._output = shared.point, shared.point.info, shared.b, shared.output
        self._n, self._g, self._compiled = shared.n, shared.g, shared.compiled
        if args:
            check_dtensors(type(self).__name__, self._b, x, (), args)
        self._lock = threading.Lock()
        self._user = (f, x)
        self._value: Any = None
        self._args = args
        self._xflat = _flat_x(x, shared.point)
        # Where x and the constants are NumPy's (SciPy's users): the key of their prepared products.
        self._prepared_key = _constants_key(args) if type(self._xflat) is np.ndarray else None

    @functools.cached_property
    def _eager(self) -> tuple[Any, Callable[[Any], Any]]:
        """``(x as the engine's array, f of it with its constants bound)``: what eager products, the value
        and the dense matrix use, converted on first use (a compiled product never needs them)."""
        f, x = self._user
        point, output = self._point, self._output
        leaves, spec = _tree.flatten(self._args)
        with self._b.scope(self._info.dtype):
            xn = point.native(self._b, x)
            consts = spec.unflatten(
                [native_like_x(self._b, a, self._info) if _arrays.is_array(a) else a for a in leaves]
            )
        return xn, lambda z: _real(output(f(point.unravel(z), *consts)), z)

    @property
    def _x(self) -> Any:
        return self._eager[0]

    @property
    def _f(self) -> Callable[[Any], Any]:
        return self._eager[1]

    @property
    def backend(self) -> Backend:
        return self._b

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._info.dtype)

    def _native_value(self) -> Any:
        if self._value is None:
            with self._b.scope(self._info.dtype):
                self._value = self._f(self._x)
        return self._value

    @property
    def value(self) -> Any:
        """``f(x)``, in the library and the structure of ``f(x)``."""
        return self._result(self._native_value(), OUT)

    def _result(self, native: Any, kind: str) -> Any:
        return restore_result(native, kind, self._point, self._output)

    # Pytrees: SciPy sees flat vectors; these map between them and the pytrees of x and f(x).

    def flatten(self, tree: Any) -> Any:
        """A pytree of x's structure as the flat vector the operator acts on (in the leaves' library).

        >>> import numpy as np, abstractad as ad
        >>> H = ad.lazy_hessian(lambda p: (p["a"] ** 2).sum() * p["b"], {"a": np.ones(2), "b": np.array(3.0)})
        >>> H.flatten({"a": np.array([1.0, 2.0]), "b": np.array(5.0)})
        array([1., 2., 5.])
        """
        return flat_user(tree, self._point.layout, "the vector")

    def unflatten(self, vector: Any) -> Any:
        """A flat vector (a solver's solution) as a pytree of x's structure, each leaf in its own library.

        >>> import numpy as np, abstractad as ad
        >>> H = ad.lazy_hessian(lambda p: (p["a"] ** 2).sum() * p["b"], {"a": np.ones(2), "b": np.array(3.0)})
        >>> H.unflatten(np.array([1.0, 2.0, 5.0]))
        {'a': array([1., 2.]), 'b': array(5.)}
        """
        return self._result(self._vector(vector, self._n), IN)

    def _vector(self, vector: Any, n: int) -> Any:
        if _arrays.shape_of(vector) != (n,):
            raise ValueError(
                f"{type(self).__name__}: expected a vector of length {n}, got shape {_arrays.shape_of(vector)}"
            )
        with self._b.scope(self._info.dtype):
            return native_like_x(self._b, vector, self._info)

    def _apply(self, product: Callable[[Any], Any], seed: Any, in_shape: tuple, out_shape: tuple) -> Any:
        """Apply `product` (native seed of `in_shape` -> native result of `out_shape`) to a flat seed
        (or a stack of them, as columns) and return it flat, in the library of the seed."""
        lib = _arrays.library_of(seed) or "numpy"
        info = _arrays.ArrayInfo(lib, self._info.dtype, (), _arrays.home_device(seed))
        size = int(np.prod(in_shape, dtype=np.int64))
        shape = _arrays.shape_of(seed)
        if shape not in ((size,), (size, 1)):
            raise ValueError(f"{type(self).__name__}: expected a vector of length {size}, got shape {shape}")
        with self._b.scope(self._info.dtype):
            native = native_like_x(self._b, seed, self._info)
            xp = self._b.namespace(native)
            out = product(xp.reshape(native, in_shape))
            # The product may be another engine's array (SecondOrder across engines): its own namespace.
            out = _arrays.array_namespace(out).reshape(out, (int(np.prod(out_shape, dtype=np.int64)), *shape[1:]))
        return _arrays.restore(out, info)

    def _planned(self, name: str, seed: Any) -> Any:
        """The product `name` (jvp, vjp, hvp; jvps, vjps, hvps for stacked seeds) of the flat function
        at the flat x, as an operator call: its plan is cached by signature, so operators built later at
        other points reuse it; the result in the library of x."""
        return apply(name, self._g, self._xflat, (seed,), self._args, self._b)

    def _prepared(self, name: str, seed: np.ndarray) -> Any:
        """`_planned` for a NumPy seed of a NumPy x (a SciPy solver's vector): a prepared operator
        (one check of the arrays, then the compiled call), shared by the operators of this signature."""
        key = (name, seed.shape, seed.dtype, self._prepared_key)
        product = self._shared.products.get(key)
        if product is None:
            product = prepare(name, self._g, self._xflat, seed, *self._args, backend=self._b)
            self._shared.products.put(key, product)
        return product(self._xflat, seed, *self._args)

    def _product(self, name: str, seed: Any, size: int, out_size: int) -> Any:
        """A planned product of a flat seed (or a column of one), flat, in the library of the seed."""
        if type(seed) is np.ndarray and seed.shape == (size,) and self._prepared_key is not None:
            return self._prepared(name, seed)
        shape = _arrays.shape_of(seed)
        if shape not in ((size,), (size, 1)):
            raise ValueError(f"{type(self).__name__}: expected a vector of length {size}, got shape {shape}")
        if not _arrays.is_array(seed):
            seed = np.asarray(seed)
        if len(shape) == 1:
            return self._like_seed(self._planned(name, seed), seed)
        out = self._planned(name, _arrays.array_namespace(seed).reshape(seed, (size,)))
        return self._like_seed(_arrays.array_namespace(out).reshape(out, (out_size, 1)), seed)

    def _like_seed(self, out: Any, seed: Any) -> Any:
        lib = _arrays.library_of(seed) or "numpy"
        if lib == (_arrays.library_of(out) or "numpy"):
            return out
        return _arrays.restore(out, _arrays.ArrayInfo(lib, self._info.dtype, (), _arrays.home_device(seed)))

    def _apply_columns(self, name: str, mat: Any, rows: int, out_rows: int) -> Any:
        """``name`` applied to each column of `mat` as one batched product (columns of the result)."""
        shape = _arrays.shape_of(mat)
        if len(shape) != 2 or shape[0] != rows:
            raise ValueError(f"{type(self).__name__}: expected a matrix with {rows} rows, got shape {shape}")
        if shape[1] == 0:
            return np.zeros((out_rows, 0), self.dtype)
        if not _arrays.is_array(mat):
            mat = np.asarray(mat)
        xp = _arrays.array_namespace(mat)
        seeds = xp.permute_dims(mat, (1, 0)) if hasattr(xp, "permute_dims") else mat.T
        if _arrays.library_of(seeds) == "numpy":
            seeds = np.ascontiguousarray(seeds)
        out = self._planned(name, seeds)  # (k, out_rows)
        oxp = _arrays.array_namespace(out)
        out = oxp.permute_dims(out, (1, 0)) if hasattr(oxp, "permute_dims") else out.T
        return self._like_seed(out, mat)

    def __matmul__(self, v: Any) -> Any:
        if type(v) is np.ndarray and v.ndim == 1:  # a SciPy solver's vector
            return self.matvec(v)
        if not _tree.is_leaf(v):  # a pytree of x's structure: the product in f(x)'s structure
            return self._tree_product(self.matvec, v, self._point.layout, self._rows_kind)
        if len(_arrays.shape_of(v)) == 2 and _arrays.shape_of(v)[1] != 1:
            return self.matmat(v)
        return self.matvec(v)

    _rows_kind = OUT

    def _tree_product(self, product: Callable[[Any], Any], tree: Any, layout: Any, kind: str) -> Any:
        """``product`` applied to a pytree (`layout`'s structure), the result in the structure of `kind`."""
        out = product(flat_user(tree, layout, "the operand"))
        return self._result(self._vector(out, _arrays.size_of(out)), kind)


class JacobianOperator(_Lazy):
    """The Jacobian of `f` at `x` as a linear operator: ``J @ v`` is a pushforward, ``J.T @ w`` a pullback.

    It works on the flattened vectors: ``shape == (f(x).size, x.size)``. The pullback's forward pass
    (and, where the engine can, a linearization) is computed once and reused for every product.
    ``scipy.sparse.linalg.aslinearoperator(J)`` accepts it, and so do ``lsqr``, ``gmres``, ``cg``.

    >>> import numpy as np, abstractad as ad
    >>> J = ad.lazy_jacobian(lambda x: x ** 2, np.array([1.0, 2.0]), backend="autograd")
    >>> J.shape, J @ np.array([1.0, 1.0]), J.T @ np.array([1.0, 0.0])
    ((2, 2), array([2., 4.]), array([2., 0.]))
    """

    def __init__(self, f: Callable, x: Any, *args: Any, backend: BackendLike = None, **kwargs: Any) -> None:
        super().__init__(f, x, args, backend, kwargs)
        self._pullback: Callable | None = None
        self._linear: Callable | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (_derive.size(self._native_value()), self._n)

    def _linearized(self) -> Callable:
        with self._lock, self._b.scope(self._info.dtype):
            if self._linear is None:
                y, self._linear = _derive.linearize(self._b, self._f, self._x)
                self._value = y if self._value is None else self._value
        return self._linear

    def _pulled_back(self) -> Callable:
        with self._lock, self._b.scope(self._info.dtype):
            if self._pullback is None:
                y, self._pullback = _derive.pullback(self._b, self._f, self._x)
                self._value = y if self._value is None else self._value
        return self._pullback

    def matvec(self, v: Any) -> Any:
        """``J v`` for a vector of length ``x.size``: one pushforward (compiled with the backend; eagerly,
        a linearization where the engine has one)."""
        if self._compiled:
            return self._product("jvp", v, self.shape[1], self.shape[0])
        jvp = self._linearized()
        return self._apply(jvp, v, _arrays.shape_of(self._x), _derive.shape(self._native_value()))

    def rmatvec(self, w: Any) -> Any:
        """``Jᵀ w`` for a vector of length ``f(x).size``: one pullback (compiled with the backend; eagerly,
        reusing the forward pass)."""
        if self._compiled:
            return self._product("vjp", w, self.shape[0], self.shape[1])
        vjp = self._pulled_back()
        return self._apply(vjp, w, _derive.shape(self._native_value()), _arrays.shape_of(self._x))

    def matmat(self, v: Any) -> Any:
        """``J V`` for a matrix whose columns are tangents: one batched pushforward."""
        return self._apply_columns("jvps", v, self.shape[1], self.shape[0])

    def rmatmat(self, w: Any) -> Any:
        """``Jᵀ W`` for a matrix whose columns are cotangents: one batched pullback."""
        return self._apply_columns("vjps", w, self.shape[0], self.shape[1])

    def __rmatmul__(self, w: Any) -> Any:
        if not _tree.is_leaf(w):  # a pytree of f(x)'s structure: the pullback in x's structure
            self._native_value()
            return self._tree_product(self.rmatvec, w, self._output.layout, IN)
        return self.rmatvec(w)

    def unflatten_output(self, vector: Any) -> Any:
        """A flat vector of length ``f(x).size`` as a pytree of f(x)'s structure."""
        return self._result(self._vector(vector, self.shape[0]), OUT)

    def flatten_output(self, tree: Any) -> Any:
        """A pytree of f(x)'s structure as a flat vector of length ``f(x).size``."""
        self._native_value()
        return flat_user(tree, self._output.layout, "the vector")

    @property
    def T(self) -> _Transposed:
        return _Transposed(self)

    def to_dense(self) -> Any:
        """The whole Jacobian as a 2-D array ``(f(x).size, x.size)``, in the library of `x`."""
        with self._b.scope(self._info.dtype):
            _, jac = _derive.jacobian(self._b, self._f, self._x)
            jac = self._b.namespace(jac).reshape(jac, self.shape)
        return _arrays.restore(jac, self._info)

    def __repr__(self) -> str:
        return f"JacobianOperator(shape={self.shape}, dtype={self.dtype}, backend={self._b!r})"


class _Transposed(_LinearOperator):
    """``J.T``: products swap pushforwards and pullbacks."""

    __array_ufunc__ = None

    def __init__(self, op: JacobianOperator) -> None:
        self._op = op
        self.dtype = op.dtype

    @property
    def T(self) -> JacobianOperator:
        return self._op

    @property
    def shape(self) -> tuple[int, int]:
        return self.T.shape[::-1]

    def matvec(self, w: Any) -> Any:
        return self.T.rmatvec(w)

    def rmatvec(self, v: Any) -> Any:
        return self.T.matvec(v)

    def matmat(self, w: Any) -> Any:
        return self.T.rmatmat(w)

    def rmatmat(self, v: Any) -> Any:
        return self.T.matmat(v)

    def __matmul__(self, w: Any) -> Any:
        if not _tree.is_leaf(w):
            return self.T.__rmatmul__(w)
        return self.T.rmatmat(w) if len(_arrays.shape_of(w)) == 2 and _arrays.shape_of(w)[1] != 1 else self.matvec(w)

    def to_dense(self) -> Any:
        dense = self.T.to_dense()
        return dense.T if hasattr(dense, "T") else _arrays.array_namespace(dense).permute_dims(dense, (1, 0))


class HessianOperator(_Lazy):
    """The Hessian of scalar-valued `f` at `x` as a symmetric linear operator: ``H @ v`` is an HVP.

    ``shape == (x.size, x.size)``; the Hessian is never formed. ``H.T`` is ``H``.
    ``scipy.sparse.linalg.cg(H, b)`` and ``eigsh(H)`` accept it.

    >>> import numpy as np, abstractad as ad
    >>> H = ad.lazy_hessian(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backend="autograd")
    >>> H @ np.array([1.0, 1.0])
    array([ 6., 12.])
    """

    _rows_kind = IN

    def __init__(self, f: Callable, x: Any, *args: Any, backend: BackendLike = None, **kwargs: Any) -> None:
        super().__init__(f, x, args, backend, kwargs)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, self._n)

    @property
    def T(self) -> HessianOperator:
        return self

    def _hvp(self, v: Any) -> Any:
        return _derive.hvp(self._b, self._f, self._x, v)

    def matvec(self, v: Any) -> Any:
        """``H v``: one Hessian-vector product (compiled with the backend)."""
        if self._compiled:
            return self._product("hvp", v, self._n, self._n)
        return self._apply(self._hvp, v, _arrays.shape_of(self._x), _arrays.shape_of(self._x))

    rmatvec = matvec

    def matmat(self, v: Any) -> Any:
        """``H V`` for a matrix whose columns are tangents: one batched Hessian-vector product."""
        return self._apply_columns("hvps", v, self._n, self._n)

    rmatmat = matmat

    def __rmatmul__(self, w: Any) -> Any:
        return self @ w

    def gradient(self) -> Any:
        """``∇f(x)``, in the library and the structure of `x`."""
        with self._b.scope(self._info.dtype):
            g = _derive.gradient(self._b, self._f, self._x)
        return self._result(g, IN)

    def to_dense(self) -> Any:
        """The whole Hessian as a 2-D array ``(x.size, x.size)``, in the library of `x`."""
        with self._b.scope(self._info.dtype):
            _, hess = _derive.gradient_and_hessian(self._b, self._f, self._x)
            hess = self._b.namespace(hess).reshape(hess, self.shape)
        return _arrays.restore(hess, self._info)

    def __repr__(self) -> str:
        return f"HessianOperator(shape={self.shape}, dtype={self.dtype}, backend={self._b!r})"


def lazy_jacobian(f: Callable, x: Any, *args: Any, backend: BackendLike = None, **kwargs: Any) -> JacobianOperator:
    """The Jacobian of `f` at `x` as a lazy linear operator (see :class:`JacobianOperator`).

    >>> import numpy as np, abstractad as ad
    >>> from scipy.sparse.linalg import lsqr
    >>> A = np.array([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0]])
    >>> J = ad.lazy_jacobian(lambda x, A: A @ x, np.zeros(2), A, backend="autograd")
    >>> np.round(lsqr(J, A @ np.array([1.0, -1.0]))[0], 6)
    array([ 1., -1.])
    """
    return JacobianOperator(f, x, *args, backend=backend, **kwargs)


def lazy_hessian(f: Callable, x: Any, *args: Any, backend: BackendLike = None, **kwargs: Any) -> HessianOperator:
    """The Hessian of scalar-valued `f` at `x` as a lazy symmetric operator (see :class:`HessianOperator`).

    >>> import numpy as np, abstractad as ad
    >>> from scipy.sparse.linalg import cg
    >>> H = ad.lazy_hessian(lambda x: (x ** 2).sum() + x[0] * x[1], np.zeros(2), backend="autograd")
    >>> np.round(cg(H, np.array([3.0, 3.0]))[0], 6)
    array([1., 1.])
    """
    return HessianOperator(f, x, *args, backend=backend, **kwargs)
