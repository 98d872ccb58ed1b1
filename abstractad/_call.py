"""Running a derived operator: resolve the backend, check and convert the inputs, compile if asked,
and bring the results back to the user's library, dtype, device and structure.

A pytree `x` reaches the engine in one of two forms. Backends that take pytrees
(:attr:`Backend.takes_pytrees`) get the tuple of its leaves for the operators whose results have
x's or f(x)'s structure (jvp, vjp, gradient, hvp): nothing is concatenated, so each leaf keeps its
dtype, device and sharding. Everything that forms a matrix (Jacobians, Hessians, lazy operators,
Sparse), and backends that take one array only, get the leaves raveled into one flat vector.

A plan is built once per signature; a call then converts the arguments into one flat list of the
engine's arrays, runs the (compiled) operator on it, and converts the results back."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays, _bridge, _complex, _derive, _errors, _tree
from ._backend import COMPILED, Backend, Wrapper, cache_key, resolve
from ._tree import Layout

# What each result of an operator is shaped like: f(x)'s structure ("out"), x's ("in"), or a
# matrix of blocks, rows by the first and columns by the second ("out*in": Jacobian, "in*in": Hessian).
OUT, IN, JAC, HESS = "out", "in", "out*in", "in*in"
# Seeds stacked on a leading axis (lazy operators' matmat): tangents of x, cotangents of f(x).
BATCH_IN, BATCH_OUT = "in-batch", "out-batch"
# A backend's own structured result (a sparse matrix): passed through as it is, then assembled.
SPARSE = {JAC: "sparse-jacobian", HESS: "sparse-hessian"}
# The auxiliary data of an `f` that returns ``(output, aux)`` (has_aux=True): not differentiated.
AUX = "aux"


class _Wrapped:
    """A wrapper of the user's `f` that plans and compiled operators cache as `f` itself: equal (and
    hashed) by its type and `f`, so a fresh wrapper per call finds the plan the first one made."""

    __slots__ = ("f",)

    def __init__(self, f: Callable) -> None:
        self.f = f

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.f == self.f  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.f))

    @property
    def __name__(self) -> str:
        return getattr(self.f, "__name__", type(self.f).__name__)


class WithKeywords(_Wrapped):
    """``f(x, *args, **kwargs)`` called as ``g(x, *args, kwargs)``: keyword constants travel as one more
    constant (a dict: its arrays converted to the engine's, nothing of it differentiated)."""

    __slots__ = ()

    def __call__(self, x: Any, *args: Any) -> Any:
        *positional, kwargs = args
        return self.f(x, *positional, **kwargs)


class WithAux(_Wrapped):
    """An `f` that returns ``(output, aux)`` (has_aux=True): the operator differentiates the output and
    returns aux as it is, from one more evaluation of `f` at x outside the derivative (which a compiler
    such as XLA merges with the forward pass)."""

    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        return split_aux(self.f(*args))[0]


def split_aux(out: Any) -> tuple[Any, Any]:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            f"has_aux=True needs f to return a pair (output, aux), but it returned {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    return out[0], out[1]


def to_native(b: Backend, a: Any, info: _arrays.ArrayInfo | None = None) -> Any:
    """`a` (any library's array or a Python number) as the backend's array."""
    if not _arrays.is_array(a):
        a = np.asarray(a, dtype=info.dtype if info is not None and info.library == "python" else None)
    return b.asarray(a)


def _numpy_float(a: Any) -> bool:
    """A NumPy float array (float32 or wider) that a compiled operator taking NumPy gets as it is."""
    return type(a) is np.ndarray and a.dtype.kind == "f" and a.dtype.itemsize > 2


def to_argument(b: Backend, a: Any, info: _arrays.ArrayInfo | None = None) -> Any:
    """`a` as an argument of the backend's compiled operator: a NumPy array as it is where the
    compiled operator transfers it itself (``jax.jit``), else the backend's array."""
    if b.takes_numpy and _numpy_float(a):
        return a
    return to_native(b, a, info)


TREE_OPERATORS = ("jvp", "vjp", "gradient", "hvp")


def takes_tree(b: Backend, operator: str) -> bool:
    """Whether `operator` hands the backend a pytree's leaves as a tuple: where the backend takes
    pytrees and the operator runs on the primitive itself (jvp on a pushforward; vjp, gradient
    and hvp on a pullback), not on a Jacobian matrix or a basis of pushforwards."""
    if not b.takes_pytrees or operator not in TREE_OPERATORS:
        return False
    if operator == "jvp":
        return b.has_pushforward() and _derive.use_forward(b, True)
    return not _derive.use_forward(b, False)


class Point:
    """`x` as the operators see it: one array, a pytree raveled into one flat vector, or (``tree``)
    a pytree as the tuple of its leaves.

    ``info`` is how results that are not in x's structure come back (library, device, dtype);
    ``infos`` is each leaf's, for results in x's structure.
    """

    tree = False  # set by the plan where the backend takes the leaves as a tuple (takes_tree)

    def __init__(self, x: Any) -> None:
        if _tree.is_leaf(x):
            self.layout: Layout | None = None
            self.infos = [_arrays.describe(x)]
            self.info = self.infos[0]
            self.key: Any = None
            return
        leaves, spec = _tree.flatten(x)
        if not leaves:
            raise ValueError(f"x is a pytree without arrays in it: {spec}")
        self.infos = _tree.describe_leaves(x, leaves, "x")
        self.layout = Layout(spec, [i.shape for i in self.infos], [i.dtype for i in self.infos])
        self.info = dataclasses.replace(self.infos[0], dtype=self.layout.dtype, shape=(self.layout.size,))
        self.key = self.layout.key

    @property
    def first(self) -> Any:
        return self.infos[0]

    def native(self, b: Backend, x: Any) -> Any:
        """x as the backend's array: the flat vector of its leaves for a pytree (their tuple in tree form)."""
        if self.layout is None:
            return to_native(b, x, self.info)
        leaves = [to_native(b, leaf, info) for leaf, info in zip(_tree.flatten(x)[0], self.infos)]
        return tuple(leaves) if self.tree else self.layout.ravel(leaves, b.namespace(leaves[0]))

    def arguments(self, b: Backend, x: Any, convert: Callable[..., Any]) -> list[Any]:
        """x as the compiled operator's leading arguments: one array, or each leaf in tree form."""
        if self.layout is None:
            return [convert(b, x, self.info)]
        if self.tree:
            return [convert(b, leaf, info) for leaf, info in zip(_tree.flatten(x)[0], self.infos)]
        return [self.native(b, x)]

    def unravel(self, z: Any) -> Any:
        """The engine's `z` (one array, the flat vector or the tuple of leaves) as x's pytree, for `f`."""
        if self.layout is None:
            return z
        return self.layout.rebuild(z if self.tree else self.layout.unravel(z))


class Output:
    """The structure of ``f(x)``, learned when `f` runs: one array passes through, a pytree is
    raveled into one flat vector (in tree form: the tuple of its leaves). `expect` is the
    cotangent's layout (or "array") to check against.

    Inside traced code only plain Python data is recorded (a template, shapes, dtypes); the
    layout is built from it outside, on first use."""

    def __init__(self, b: Backend, expect: Layout | str | None = None, tree: bool = False) -> None:
        self.b = b
        self.expect = expect
        self.tree = tree
        self._raw: tuple | None = None
        self._layout: tuple[tuple, Layout] | None = None

    @property
    def layout(self) -> Layout | None:
        raw = self._raw
        if raw is None:
            return None
        if self._layout is None or self._layout[0] is not raw:
            self._layout = (raw, Layout(_tree.spec_of(raw[0]), raw[1], raw[2]))
        return self._layout[1]

    def __call__(self, y: Any) -> Any:
        if _tree.is_leaf(y):
            if not _arrays.is_array(y):
                raise (
                    _errors.python_number_output(y)
                    if isinstance(y, numbers.Number)
                    else _errors.bad_input_type(y, "f(x)")
                )
            if isinstance(self.expect, Layout):
                raise ValueError(
                    f"vjp: the cotangent w is a pytree ({self.expect.describe()}), but f(x) returned one array"
                )
            self._raw = None
            return y
        flat = _tree.py_flatten(y)
        leaves, structure = flat if flat is not None else _tree.flatten(y)
        if self.expect == "array":
            raise ValueError(
                f"vjp: f(x) returned a pytree ({_tree.spec_of(structure)}), so the cotangent w must be one "
                "of that structure"
            )
        leaves = self._natives(y, leaves)
        shapes = tuple(_arrays.shape_of(a) for a in leaves)
        dtypes = tuple(_arrays.dtype_name(a) for a in leaves)
        if isinstance(self.expect, Layout) and not self.expect.matches(structure, shapes):
            raise ValueError(
                f"vjp: the cotangent w must have the structure and shapes of f(x), {_tree.spec_of(structure)} "
                f"with leaf shapes {list(shapes)}, but it has {self.expect.describe()}"
            )
        self._raw = (structure, shapes, dtypes)
        if self.tree:
            return tuple(leaves)
        return _tree.ravel(
            leaves, _arrays.array_namespace(*leaves), _tree.common_dtype(dtypes) if dtypes else "float64"
        )

    def _natives(self, y: Any, leaves: list[Any]) -> list[Any]:
        """Leaves of f(x) as arrays of one library: constant NumPy arrays join the engine's."""
        engine = next((leaf for leaf in leaves if _arrays.library_of(leaf) not in (None, "numpy")), None)
        convert = engine is not None and _arrays.library_of(engine) != "autograd"
        out = []
        for i, leaf in enumerate(leaves):
            if not _arrays.is_array(leaf):
                raise _errors.python_number_output(leaf, _tree.paths(y, "f(x)")[i])
            name = _arrays.dtype_name(leaf)
            if not _arrays.is_float_dtype(name):
                where = _tree.paths(y, "f(x)")[i]
                raise TypeError(f"{where} has dtype {name}: only floating-point outputs can be differentiated")
            if convert and _arrays.library_of(leaf) == "numpy":
                leaf = self.b.asarray(leaf)
            out.append(leaf)
        return out


def _split(r: Any, kind: str, point: Point, output: Output) -> tuple[Any, ...]:
    """One native result as the tuple of its leaves (one leaf where nothing is a pytree)."""
    if (point.layout is None and output._raw is None) or kind.startswith("sparse"):
        return (r,)
    rows = output.layout if kind in (OUT, JAC) else point.layout
    if kind in (OUT, IN):
        if isinstance(r, tuple):  # tree form: the leaves themselves
            return r
        return (r,) if rows is None else tuple(rows.unravel(r))
    cols = point.layout
    if rows is None and cols is None:
        return (r,)
    if rows is None:  # one array out, a pytree in: columns are blocks
        return tuple(_tree.column_blocks(r, tuple(_shape(r)[:-1]), cols))
    return tuple(rows.blocks(r, cols, point.info.shape if cols is None else ()))


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in a.shape)


def _build(leaves: Sequence[Any], kind: str, point: Point, output: Output) -> Any:
    """Results back in the user's libraries and devices, in the structure of their kind."""
    if kind == IN:
        if point.layout is None:
            return _arrays.restore_python(leaves[0], point.info)
        return point.layout.spec.unflatten([_arrays.restore_python(a, i) for a, i in zip(leaves, point.infos)])
    info = point.first
    restored = [_arrays.restore_python(a, info) for a in leaves]
    rows = output.layout if kind in (OUT, JAC) else point.layout
    if kind == OUT:
        return restored[0] if rows is None else rows.spec.unflatten(restored)
    cols = point.layout
    if cols is None:
        return restored[0] if rows is None else rows.spec.unflatten(restored)
    if rows is None:
        return cols.spec.unflatten(restored)
    k = len(cols.shapes)
    return rows.spec.unflatten([cols.spec.unflatten(restored[i : i + k]) for i in range(0, len(restored), k)])


def restore_result(native: Any, kind: str, point: Point, output: Output) -> Any:
    """One native result of `kind` back in the user's libraries and structure."""
    return _build(_split(native, kind, point, output), kind, point, output)


def flat_user(tree: Any, layout: Layout | None, what: str) -> Any:
    """A user's pytree of `layout`'s structure (one array where `layout` is None) as one flat vector,
    in the leaves' own library."""
    if layout is None:
        if not _arrays.is_array(tree):
            raise TypeError(f"{what} must be an array here, not {type(tree).__name__}")
        return _arrays.array_namespace(tree).reshape(tree, (-1,))
    leaves, spec = _tree.flatten(tree)
    if spec != layout.spec or tuple(_arrays.shape_of(a) for a in leaves) != layout.shapes:
        got = _tree.layout_of(spec, leaves).describe() if all(map(_tree.is_leaf, leaves)) else str(spec)
        raise ValueError(f"{what} must have the structure {layout.describe()}, not {got}")
    leaves = [a if _arrays.is_array(a) else np.asarray(a) for a in leaves]
    return layout.ravel(leaves, _arrays.array_namespace(*leaves))


def _seed(operator: str, kind: str, seed: Any, point: Point) -> tuple[Any, Any]:
    """Check a seed and return ``(seed leaves, layout)``: `v` ("in") has x's structure and shapes,
    `w` ("out") f(x)'s, checked when f runs."""
    name = "tangent v" if kind in (IN, BATCH_IN) else "cotangent w"
    if kind in (BATCH_IN, BATCH_OUT):  # one array, (k, *x.shape) for tangents; f(x)'s shape is checked later
        shape = _arrays.shape_of(seed)
        if kind == BATCH_IN and shape[1:] != point.info.shape:
            raise _errors.bad_seed(name, operator, shape[1:], point.info.shape, "x")
        return [seed], None
    if _tree.is_leaf(seed):
        if not (_arrays.is_array(seed) or isinstance(seed, (float, int))):
            raise _errors.bad_input_type(seed, f"the {name}")
        if _arrays.is_array(seed):
            _arrays.check_differentiable(seed, f"the {name}")
        if kind == IN and _complex.is_complex(_arrays.dtype_name(seed)) and not _complex.is_complex(point.info.dtype):
            raise TypeError(f"{operator}: the {name} is complex, but x is real: pass a real {name}")
        if kind == IN:
            if point.layout is not None:
                raise ValueError(
                    f"{operator}: x is a pytree, so the {name} must be one of its structure and shapes "
                    f"({point.layout.describe()}), not one array"
                )
            if _arrays.shape_of(seed) != point.info.shape:
                raise _errors.bad_seed(name, operator, _arrays.shape_of(seed), point.info.shape, "x")
        return [seed], None
    leaves, spec = _tree.flatten(seed)
    where = _tree.paths(seed, name.split()[-1])
    for leaf, path in zip(leaves, where):
        if not _arrays.is_array(leaf) and not isinstance(leaf, float):
            raise _errors.bad_input_type(leaf, path)
        if _arrays.is_array(leaf):
            _arrays.check_differentiable(leaf, path)
    layout = _tree.layout_of(spec, leaves)
    if kind == IN:
        if point.layout is None or spec != point.layout.spec:
            want = point.layout.describe() if point.layout is not None else f"one array of shape {point.info.shape}"
            raise ValueError(f"{operator}: the {name} must have the structure of x, {want}, but it is {spec}")
        for leaf, path, shape in zip(leaves, where, point.layout.shapes):
            if _arrays.shape_of(leaf) != shape:
                raise _errors.bad_seed(name, operator, _arrays.shape_of(leaf), shape, f"x's leaf at {path}")
    return leaves, layout


class Plan:
    """Everything about one operator call that does not depend on the values: the backend, the
    structures of x, the seeds and the constants, and the (compiled) operator. ``call`` then only
    converts, runs and converts back. Unprepared calls keep plans in a bounded cache; ``prepare`` keeps one.

    The operator takes one flat list of the engine's arrays (x, or its leaves in tree form; each seed,
    or its leaves; the array constants) and returns, per result, the tuple of its leaves."""

    def __init__(
        self,
        operator: str,
        derive: Callable[..., Any],
        f: Callable,
        x: Any,
        seeds: Sequence[Any],
        args: Sequence[Any],
        backend: Backend | str | None,
        *,
        results: Sequence[str],
        seed_kinds: Sequence[str] = (),
        static: tuple = (),
        keep: int | None = None,
    ) -> None:
        if not callable(f):
            raise TypeError(f"{operator} needs a callable f, not {type(f).__name__}")
        self.operator = operator
        self.point = point = Point(x)
        _complex.check_x(operator, point.info.dtype, point.layout is not None)
        if point.layout is not None and operator in ("derivative", "second_derivative"):
            raise ValueError(f"{operator} needs a scalar x, not a pytree; use jacobian (or hessian) for pytrees")
        checked = [_seed(operator, kind, s, point) for s, kind in zip(seeds, seed_kinds)]
        self.seed_layouts = [layout for _, layout in checked]
        self.seed_kinds = tuple(seed_kinds)
        arg_leaves, self.arg_spec = _tree.flatten(tuple(args))
        self.slots = [i for i, a in enumerate(arg_leaves) if _arrays.is_array(a)]
        self.b = b = resolve(backend, x if point.layout is None else _tree.flatten(x)[0][0])
        _check_dtensors(operator, b, x, seeds, arg_leaves)
        # Other engines' arrays among the arguments, by library: where one is traced or recorded by its
        # engine (see Backend.records), the call becomes that engine's primitive (see recorded).
        own, engine = _arrays.library_of(b.asarray(np.zeros(1, dtype=np.float32))), _engine(b)
        others = {_arrays.library_of(a): a for a in _leaves(x, seeds, arg_leaves)}
        self.outers = {
            lib: outer
            for lib, a in others.items()
            if lib not in (None, "numpy", own)
            and (outer := _bridge.outer_backend_for(a)) is not None
            and type(outer) is not engine  # autograd's boxes are its own arrays
        }
        for info in point.infos:
            if not b.supports_dtype(info.dtype):
                raise _errors.unsupported_dtype(b, info.dtype)
        self.kinds = tuple(results) if keep is None else (results[keep],)
        self.assemble: Callable[..., Any] | None = None
        hook = b.operator_hook(
            operator,
            (f, point.key, point.info.shape, point.info.dtype, self.arg_spec, tuple(map(cache_key, arg_leaves))),
        )
        if hook is not None and _complex.is_complex(point.info.dtype):
            raise TypeError(f"{b!r}: sparse {operator} needs a real x")
        if hook is not None:  # the backend derives this operator itself (Sparse): its results are its own
            derive, self.assemble = hook
            self.kinds = tuple(SPARSE.get(kind, kind) for kind in self.kinds)
        self.tree = hook is None and not _complex.is_complex(point.info.dtype) and takes_tree(b, operator)
        self.has_aux = isinstance(f, WithAux)
        if self.has_aux:
            self.kinds = (*self.kinds, AUX)
            self.aux_spec: list[Any] = []  # the structure of aux, learned when the operator runs
        point.tree = self.tree and point.layout is not None
        expect: Layout | str | None = None
        for layout, kind in zip(self.seed_layouts, seed_kinds):
            if kind == OUT:
                expect = "array" if layout is None else layout
        # How many arrays each argument takes in the flat list: None for one array.
        self.x_count = len(point.infos) if point.tree else None
        self.seed_counts = tuple(
            len(layout.shapes) if self.tree and layout is not None else None for layout in self.seed_layouts
        )
        # The compiled operator takes NumPy arrays as they are where the backend says so (jax.jit).
        self.convert = to_argument if b.compiles else to_native
        traced = _Traced(self, derive, f, arg_leaves, static, keep, hook is not None)

        # Set after the first call where every argument is already the engine's (see learn_fast).
        self.fast: Callable[..., Any] | bool | None = None
        # Eager calls of an engine whose eager calls are slow are counted, for one note (see counted).
        self.f, self.calls, self.advice = f, 0, b.eager_advice()
        native = self.native_signature((x, *seeds, *args))
        self.native = native is not None
        # The arguments that a direct call converts itself: NumPy arrays, where the engine does not take them.
        self.to_engine = (
            () if native is None or b.takes_numpy else tuple(i for i, sig in enumerate(native) if sig[0] is np.ndarray)
        )
        # Arguments that the caller's own engine may record (torch tensors that require grad): calls run in
        # the backend's `recording_context`, where results keep that record (double backward). Plain
        # arguments (a native signature): the plain `call`, no cost.
        self.recording = None if type(b).recording_context is Backend.recording_context else b.recording_context
        if native is None and self.recording is not None and self.recording(_leaves(x, seeds, arg_leaves)):
            self.call = self._recording_call  # type: ignore[method-assign]
        if b.compiles:
            self.key = (
                b,
                operator,
                keep,
                f,
                point.key,
                self.tree,
                point.info.shape,
                point.info.dtype,
                tuple(_signature(leaves) for leaves, _ in checked),
                expect.key if isinstance(expect, Layout) else expect,
                self.arg_spec,
                tuple(cache_key(a) for a in arg_leaves),
                static,
            )

            def compiled() -> tuple[Callable, Output, Callable]:
                op, output = traced.build(expect)
                return b.compile_operator(op) or op, output, op

            self.fn, self.output, self.op = COMPILED.get_or_build(self.key, compiled)
        else:
            self.fn, self.output = traced.build(expect)
            self.op = self.fn

    def recorded(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> bool:
        """Whether another engine traces or records one of the arguments (a JAX tracer given to
        backend="torch"): then the call must be that engine's primitive, not a conversion."""
        outers = self.outers
        return any(
            outers[lib].records(a)
            for a in _leaves(x, seeds, _tree.flatten(tuple(args))[0])
            if (lib := _arrays.library_of(a)) in outers
        )

    def counted(self) -> None:
        """Count an eager call; the EAGER_NOTE_AFTER-th tells the user, once per function and process,
        what to switch to (as TensorFlow's own retracing warning does)."""
        self.calls += 1
        if self.calls != EAGER_NOTE_AFTER or not _first_note(self.f):
            return
        warnings.warn(
            _errors.eager_note(self.operator, self.f, self.b, self.calls, self.advice or ""),
            _errors.EagerWarning,
            stacklevel=_errors.user_stacklevel(),
        )

    def arguments(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> list[Any]:
        """The operator's flat list of arguments: x, the seeds and the array constants as the engine's arrays."""
        b, point, convert = self.b, self.point, self.convert
        flat = point.arguments(b, x, convert)
        for s, layout, kind, count in zip(seeds, self.seed_layouts, self.seed_kinds, self.seed_counts):
            if layout is None:
                flat.append(convert(b, s, point.info))
            elif count is not None:  # tree form: each leaf (v's in its x leaf's library and dtype)
                leaves = _tree.flatten(s)[0]
                infos = point.infos if kind == IN else [None] * len(leaves)
                flat.extend(convert(b, a, i) for a, i in zip(leaves, infos))
            else:
                flat.append(_ravel_seed(b, _tree.flatten(s)[0], layout, point.info.dtype))
        if self.slots:
            leaves = _tree.flatten(tuple(args))[0]
            flat.extend(convert(b, leaves[i]) for i in self.slots)
        if b.follows_x:  # seeds and constants in x's library (see Backend.follows_x)
            count = self.x_count or 1
            flat[count:] = [_follow(a, point.info) for a in flat[count:]]
        return flat

    def native_signature(self, values: Sequence[Any]) -> tuple | None:
        """``(type, shape, dtype, device)`` of each argument when every one is an array of the engine's
        own library (on the backend's device): results then need no conversion."""
        b = self.b
        lib = _arrays.library_of(b.asarray(np.zeros(1, dtype=np.float32)))
        # NumPy float arrays go straight in (jax.jit), or through the backend's asarray (zero copy on torch).
        numpy = self.assemble is None and lib != "numpy"
        out = []
        for a in values:
            if numpy and _numpy_float(a):
                out.append((np.ndarray, a.shape, a.dtype, None))
                continue
            if _arrays.library_of(a) != lib or lib == "numpy" or not hasattr(a, "shape"):
                return None
            device = getattr(a, "device", None) if lib == "torch" else None
            if device is not None and (device != b.asarray(a).device or not _plain_tensor(a)):
                return None
            out.append((type(a), a.shape, a.dtype, device))
        return tuple(out)

    def learn_fast(self) -> None:
        """After a call: the direct operator, inside the backend's scope where it has one."""
        if self.fast is not None:
            return
        direct = None if self.has_aux else self.direct()
        if direct is None:
            self.fast = False
            return
        numpy_out = self.point.info.library == "numpy"
        if self.to_engine == (0,) and numpy_out and len(self.kinds) == 1:
            # The SciPy user's call (one NumPy x, one NumPy result): one closure.
            fn, asarray, info = self.fn, self.b.asarray, self.point.info
            restore = _arrays.restore_python

            def direct(x: Any, *args: Any) -> Any:
                return restore(fn(asarray(x), *args)[0][0], info)

            numpy_out = False
        elif self.to_engine:  # NumPy arguments of an engine that does not take them: its asarray, one each
            engine, slots, asarray = direct, self.to_engine, self.b.asarray

            def direct(*args: Any) -> Any:
                values = list(args)
                for i in slots:
                    values[i] = asarray(values[i])
                return engine(*values)

        if numpy_out:  # NumPy in, NumPy out, writable (JAX's buffers are read-only)
            inner, one, info = direct, len(self.kinds) == 1, self.point.info
            back = np.array if self.b.takes_numpy else functools.partial(_arrays.restore_python, info=info)

            def direct(*args: Any) -> Any:
                out = inner(*args)
                return back(out) if one else tuple(back(r) for r in out)

        scope, dtype = self.b.scope, self.point.info.dtype
        if type(self.b).scope is Backend.scope:
            self.fast = direct
            return

        def scoped(*args: Any) -> Any:
            # Asked on every call: the scope follows the engine's state (torch's inference mode, JAX's x64 flag).
            context = scope(dtype)
            if type(context) is contextlib.nullcontext:
                return direct(*args)
            with context:
                return direct(*args)

        self.fast = scoped

    def direct(self) -> Callable[..., Any] | None:
        """The (compiled) operator returning its results as they are (one array each), for arguments
        already in the engine's library and on its device (or NumPy ones it takes, see takes_numpy);
        None where a result is a pytree. Valid once a call has taught the plan f(x)'s structure."""
        if self.output.layout is not None or self.point.layout is not None:
            return None
        fn = self.fn
        if self.assemble is not None:  # the backend's own results: values in x's library, assembled
            assemble, info, kinds = self.assemble, self.point.info, self.kinds

            def assembled(*args: Any) -> tuple[Any, ...]:
                return tuple(
                    assemble(r[0], info, kind.removeprefix("sparse-")) if kind.startswith("sparse") else r[0]
                    for r, kind in zip(fn(*args), kinds)
                )

            return (lambda *args: assembled(*args)[0]) if len(kinds) == 1 else assembled
        if len(self.kinds) == 1:
            return lambda *args: fn(*args)[0][0]
        return lambda *args: tuple(r[0] for r in fn(*args))

    def call(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """The operator at `x` (of the planned structure), with these seeds and constants."""
        with self.b.scope(self.point.info.dtype):
            out = self.fn(*self.arguments(x, seeds, args))
        point, output = self.point, self.output
        results = tuple(
            self._assemble(leaves[0], kind)
            if kind.startswith("sparse")
            else self._aux(leaves)
            if kind == AUX
            else _build(leaves, kind, point, output)
            for leaves, kind in zip(out, self.kinds)
        )
        if self.native and self.fast is None:
            self.learn_fast()
        return results

    def _recording_call(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """`call` for a plan built for arguments that the caller's engine records: inside the backend's
        recording context where this call's arguments are recorded (a prepared plan may get plain ones)."""
        assert self.recording is not None
        context = self.recording(_leaves(x, seeds, _tree.flatten(tuple(args))[0]))
        if context is None:
            return Plan.call(self, x, seeds, args)
        with context():  # first: it reads the caller's grad mode, before the backend's scope changes it
            return Plan.call(self, x, seeds, args)

    def _aux(self, leaves: Sequence[Any]) -> Any:
        """aux in its structure, each array leaf back in x's library and device, other leaves as they are."""
        info, (spec, fixed) = self.point.first, self.aux_spec
        arrays = iter([_arrays.restore_python(a, info) for a in leaves])
        return spec.unflatten([next(arrays) if a is None else a for a in fixed])

    def _assemble(self, values: Any, kind: str) -> Any:
        assert self.assemble is not None
        info = self.point.info
        return self.assemble(
            _arrays.restore_python(values, dataclasses.replace(info, scalar=False)), info, kind.removeprefix("sparse-")
        )


class _Traced:
    """The operator that an engine runs (and a compiler traces) for one plan: the flat list of
    arguments split into x, seeds and constants, `f` with its constants and structures, the
    derivation, and its results split into leaves. It holds plain values only, not the plan: a
    compiled operator outlives the plan that built it in the compiled cache."""

    def __init__(
        self,
        plan: Plan,
        derive: Callable[..., Any],
        f: Callable,
        arg_leaves: Sequence[Any],
        static: tuple,
        keep: int | None,
        hooked: bool,
    ) -> None:
        kinds = plan.kinds[:-1] if plan.has_aux else plan.kinds
        self.plan_values = (plan.operator, plan.b, plan.point, kinds, plan.seed_kinds)
        self.aux_spec = plan.aux_spec if plan.has_aux else None
        self.counts = (plan.x_count, plan.seed_counts)
        self.constants = (list(arg_leaves), plan.slots, _tree.rebuilder(plan.arg_spec))
        self.derive, self.f, self.static, self.keep, self.hooked, self.tree = derive, f, static, keep, hooked, plan.tree

    def build(self, expect: Layout | str | None) -> tuple[Callable[..., Any], Output]:
        operator, b, point, kinds, seed_kinds = self.plan_values
        x_count, seed_counts = self.counts
        arg_leaves, slots, rebuild_args = self.constants
        derive, f, static, keep, hooked = self.derive, self.f, self.static, self.keep, self.hooked
        output = Output(b, expect, self.tree)
        complex_x, x_ndim = _complex.is_complex(point.info.dtype), len(point.info.shape)
        unravel = point.unravel
        # Eager calls of one real array x skip the checks of f(x) once its type and dtype have passed
        # them (one real array): a compiled operator runs them once, when it is traced.
        lean = not (b.compiles or hooked or complex_x or point.layout is not None)
        checked_outputs: set = set()

        aux_spec = self.aux_spec

        def unpack(flat: Sequence[Any]) -> tuple[Any, list[Any], tuple]:
            """The flat arguments as (x, the seeds, the constants with their arrays filled in)."""
            if x_count is None:
                xn, pos = flat[0], 1
            else:
                xn, pos = tuple(flat[:x_count]), x_count
            seeds = []
            for count in seed_counts:
                if count is None:
                    seeds.append(flat[pos])
                    pos += 1
                else:
                    seeds.append(tuple(flat[pos : pos + count]))
                    pos += count
            if not arg_leaves:
                return xn, seeds, ()
            leaves = list(arg_leaves)
            for slot, value in zip(slots, flat[pos:]):
                leaves[slot] = value
            return xn, seeds, rebuild_args(leaves)

        def op(*flat: Any) -> tuple[tuple[Any, ...], ...]:
            if aux_spec is None:
                return derived(*flat)
            # has_aux: the derivatives of the output, then aux from one more evaluation at x.
            xn, _, full = unpack(flat)
            aux = split_aux(f.f(unravel(xn), *full))[1]
            leaves_of_aux, spec = _tree.flatten(aux)
            # Arrays are the operator's results; other leaves (strings, numbers) are kept as they are (a
            # compiled operator returns arrays only: its other leaves are those of the trace).
            arrays = tuple(a for a in leaves_of_aux if _arrays.is_array(a))
            aux_spec[:] = [spec, [None if _arrays.is_array(a) else a for a in leaves_of_aux]]
            return (*derived(*flat), arrays)

        def derived(*flat: Any) -> tuple[tuple[Any, ...], ...]:
            xn, seeds, full = unpack(flat)

            def fx(z: Any) -> Any:
                return output(f(unravel(z), *full))

            if hooked:
                out = derive(b, fx, xn, *seeds, *static)
                out = out if keep is None else (out[keep],)
                return tuple(_split(r, kind, point, output) for r, kind in zip(out, kinds))
            # Complex x, seeds and f(x) travel as pairs of reals (see _complex): one convention.
            cx = _complex.Pairs(operator, complex_x, seed_kinds)
            seeds = cx.seeds(seeds)
            if lean and not cx.complex_w:
                missed: list[bool] = []

                def known(z: Any) -> Any:
                    y = f(z, *full)
                    try:
                        if (type(y), y.dtype) in checked_outputs:
                            return y
                    except (AttributeError, TypeError):
                        pass
                    missed.append(True)
                    if _complex.is_complex(_arrays.dtype_name(z)):  # a complex step (see Pairs.function)
                        return output(y)
                    r = cx.real_output(output(y))
                    if r is y and output._raw is None:
                        checked_outputs.add((type(y), y.dtype))
                    return r

                out = derive(b, known, xn, *seeds, *static)
                out = out if keep is None else (out[keep],)
                if not missed:  # f(x) is one real array: nothing to put back together
                    return tuple((_like_x(b, r, kind, xn) if kind in (IN, HESS) else r,) for r, kind in zip(out, kinds))
            else:
                out = derive(b, cx.function(fx), _complex.pairs(xn) if complex_x else xn, *seeds, *static)
                out = out if keep is None else (out[keep],)
            results = (_like_x(b, cx.result(r, kind, x_ndim), kind, xn) for r, kind in zip(out, kinds))
            return tuple(_split(r, kind, point, output) for r, kind in zip(results, kinds))

        return op, output


def _like_x(b: Backend, r: Any, kind: str, xn: Any) -> Any:
    """A result in x's structure (gradient, vjp, hvp, Hessian) in x's dtype: an engine rule that
    promotes (autograd's mean divides by an int64 count) does not turn float32 into float64; and
    placed as x is (sharding, placements: the backend's place_like)."""
    if isinstance(r, tuple):  # tree form: leaf by leaf
        return tuple(_like_x(b, a, kind, z) for a, z in zip(r, xn)) if kind == IN else r
    if kind == IN:
        r = b.place_like(r, xn)
    if kind not in (IN, HESS) or r.dtype == xn.dtype:
        return r
    name = _arrays.dtype_name(xn)
    if _arrays.dtype_name(r) == name:  # the same dtype in two libraries (an outer engine over an inner one)
        return r
    xp = _arrays.array_namespace(r)
    return xp.astype(r, getattr(xp, name)) if hasattr(xp, name) else r


def _check_dtensors(operator: str, b: Backend, x: Any, seeds: Sequence[Any], constants: Sequence[Any]) -> None:
    """Refuse torch DTensors, before any engine work, wherever their shards would be joined: anything
    but reverse mode leaf by leaf on a backend that takes them (DLPack would hand another library only
    the local shard, torch's forward mode has no sharding rules, a matrix joins every leaf)."""
    named = [("x", leaf) for leaf in _tree.flatten(x)[0]]
    named += [("a seed", leaf) for s in seeds for leaf in _tree.flatten(s)[0]]
    named += [("a constant", leaf) for leaf in constants]
    found = next(((where, a) for where, a in named if _arrays.is_dtensor(a)), None)
    if found is None:
        return
    where, a = found
    reverse = operator in ("gradient", "vjp") or (operator == "hvp" and b.mode == "reverse")
    if not b.takes_dtensor:
        reason = f"backend {b!r} would convert it to another library (DLPack exports only the local shard)"
    elif operator in ("jvp", "derivative", "second_derivative") or (reverse and _derive.use_forward(b, False)):
        reason = "torch's forward mode (torch.func.jvp, forward_ad) does not support DTensors"
    elif not reverse:
        reason = f"{operator} forms one matrix over all of x's leaves (or runs forward mode), which shards cannot make"
    else:
        return
    raise _errors.dtensor_refused(operator, where, tuple(a.placements), reason)


# Eager calls of one plan before the note; the functions already told about (weakly held).
EAGER_NOTE_AFTER = 100
_NOTED: weakref.WeakSet = weakref.WeakSet()
_NOTED_IDS: set[int] = set()


def _first_note(f: Callable) -> bool:
    """Whether `f` has not been noted yet (and now is)."""
    try:
        if f in _NOTED:
            return False
        _NOTED.add(f)
    except TypeError:  # not weakly referenceable (a builtin): by id
        if id(f) in _NOTED_IDS:
            return False
        _NOTED_IDS.add(id(f))
    return True


def native_like_x(b: Backend, a: Any, info: _arrays.ArrayInfo) -> Any:
    """`a` as the backend's array for an operator at an x described by `info`: its asarray, and in
    x's library where the backend computes on x's own (see Backend.follows_x)."""
    native = to_native(b, a)
    return _follow(native, info) if b.follows_x else native


def _follow(a: Any, info: _arrays.ArrayInfo) -> Any:
    """`a` in the library and on the device that `info` (x's) says, in its own dtype and shape."""
    if _arrays.library_of(a) == ("numpy" if info.library == "python" else info.library):
        return a
    return _arrays.restore(a, dataclasses.replace(info, dtype=_arrays.dtype_name(a), shape=_arrays.shape_of(a)))


def _engine(b: Backend) -> type:
    """The class of the engine under wrappers (Sparse, SecondOrder: their first-order backend)."""
    while isinstance(b, Wrapper):
        b = b.wrapped
    return type(b)


def _leaves(x: Any, seeds: Sequence[Any], constants: Sequence[Any]) -> list[Any]:
    return [*_tree.flatten(x)[0], *(leaf for s in seeds for leaf in _tree.flatten(s)[0]), *constants]


def _plain_tensor(a: Any) -> bool:
    """A torch tensor the operator may take as it is: no autograd history wanted, not an inference
    tensor (the backend's asarray detaches and clones those)."""
    return not a.requires_grad and not a.is_inference()


def _ravel_seed(b: Backend, leaves: Sequence[Any], layout: Layout, dtype: str) -> Any:
    natives = [to_native(b, leaf) for leaf in leaves]
    return layout.ravel(natives, b.namespace(natives[0]), dtype)


def _signature(leaves: Sequence[Any]) -> tuple:
    return tuple((_arrays.shape_of(a), _arrays.dtype_name(a)) for a in leaves)
