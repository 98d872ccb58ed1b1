"""The structures of one operator call: x as the operators see it (:class:`Point`: one array, a
pytree raveled, or its leaves), f(x) (:class:`Output`, learned when `f` runs), the seeds (checked
against them), and the kinds of results: how a native result splits into leaves and how the leaves
come back in the user's structure, libraries and devices."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays, _complex, _errors, _tree
from ._backend import Backend
from ._convert import to_native
from ._tree import Layout

# What each result of an operator is shaped like: f(x)'s structure ("out"), x's ("in"), or a
# matrix of blocks, rows by the first and columns by the second ("out*in": Jacobian, "in*in": Hessian).
OUT, IN, JAC, HESS = "out", "in", "out*in", "in*in"
# Seeds stacked on a leading axis (lazy operators' matmat): tangents of x, cotangents of f(x).
BATCH_IN, BATCH_OUT = "in-batch", "out-batch"
# The auxiliary data of an `f` that returns ``(output, aux)`` (has_aux=True): not differentiated.
AUX = "aux"


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


def split_result(r: Any, kind: str, point: Point, output: Output) -> tuple[Any, ...]:
    """One native result as the tuple of its leaves (one leaf where nothing is a pytree), by its kind."""
    if point.layout is None and output._raw is None:
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


def build_result(leaves: Sequence[Any], kind: str, point: Point, output: Output) -> Any:
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
    return build_result(split_result(native, kind, point, output), kind, point, output)


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


def check_seed(operator: str, kind: str, seed: Any, point: Point) -> tuple[Any, Any]:
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


def like_x(b: Backend, r: Any, kind: str, xn: Any) -> Any:
    """A result in x's structure (gradient, vjp, hvp, Hessian) in x's dtype: an engine rule that
    promotes (autograd's mean divides by an int64 count) does not turn float32 into float64; and
    placed as x is (sharding, placements: the backend's place_like)."""
    if isinstance(r, tuple):  # tree form: leaf by leaf
        return tuple(like_x(b, a, kind, z) for a, z in zip(r, xn)) if kind == IN else r
    if kind == IN:
        r = b.place_like(r, xn)
    if kind not in (IN, HESS) or r.dtype == xn.dtype:
        return r
    name = _arrays.dtype_name(xn)
    if _arrays.dtype_name(r) == name:  # the same dtype in two libraries (an outer engine over an inner one)
        return r
    xp = _arrays.array_namespace(r)
    return xp.astype(r, getattr(xp, name)) if hasattr(xp, name) else r
