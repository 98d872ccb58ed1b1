"""Pytrees: `x`, ``f(x)``, seeds and constants may be nested dicts, lists, tuples and namedtuples
of arrays (flattened with optree; JAX's registered nodes too when JAX is loaded).

The operators work on one flat vector: a :class:`Layout` says where each leaf of a pytree sits in
it, ravels leaves into it (one concatenation, in the common dtype) and unravels it (split, reshape,
each leaf back in its own dtype). Both run on the engine's arrays, so the engine differentiates
through them and a compiler fuses them.
"""

from __future__ import annotations

import collections
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optree

from . import _arrays


def is_leaf(x: Any) -> bool:
    """An array of a known library or a Python number: what the operators take without flattening."""
    return _arrays.is_array(x) or isinstance(x, numbers.Number)


def _plain(leaf: Any) -> bool:
    return leaf is None or is_leaf(leaf)


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """``(leaves, spec)`` of `tree`; ``spec.unflatten(leaves)`` rebuilds it.

    >>> leaves, spec = flatten({"b": [1.0, 2.0], "a": 3.0})
    >>> leaves, spec.unflatten([10.0, 20.0, 30.0])
    ([3.0, 1.0, 2.0], {'b': [20.0, 30.0], 'a': 10.0})
    """
    leaves, spec = optree.tree_flatten(tree, is_leaf=_arrays.is_array, none_is_leaf=False)
    if "jax" in sys.modules and not all(map(_plain, leaves)):
        # A container JAX knows and optree does not (a registered dataclass, a flax struct).
        import jax

        jleaves, jspec = jax.tree_util.tree_flatten(tree, is_leaf=_arrays.is_array)
        if all(map(_plain, jleaves)):
            return jleaves, jspec
    return leaves, spec


# ------------------------------------------------------------------ pure Python, for compilers
#
# Inside an operator that torch.compile traces, optree's C++ calls would break the graph, so the
# traced code flattens and rebuilds the builtin containers (dict, OrderedDict, list, tuple,
# namedtuple, None) in plain Python, in optree's leaf order. A "template" is the tree with each
# leaf replaced by its index; optree turns it into a real spec outside the traced code.


class _Other(Exception):
    """A container that only optree or JAX knows: the plain-Python path steps aside."""


def py_flatten(tree: Any) -> tuple[list[Any], Any] | None:
    """``(leaves, template)`` for a tree of builtin containers, or None for any other container."""
    leaves: list[Any] = []

    def walk(node: Any) -> Any:
        kind = type(node)
        if node is None:
            return None
        if kind is dict or kind is collections.OrderedDict:
            keys = list(node)
            order = keys
            if kind is dict:
                try:
                    order = sorted(keys)  # optree's order for a dict: sorted keys
                except TypeError:
                    order = keys
            children = {k: walk(node[k]) for k in order}
            return kind((k, children[k]) for k in keys)
        if kind is list:
            return [walk(c) for c in node]
        if kind is tuple:
            return tuple(walk(c) for c in node)
        if isinstance(node, tuple) and hasattr(kind, "_fields"):
            return kind(*[walk(c) for c in node])
        if is_leaf(node):
            leaves.append(node)
            return len(leaves) - 1
        raise _Other

    try:
        template = walk(tree)
    except _Other:
        return None
    return leaves, template


def same_template(a: Any, b: Any) -> bool:
    """Two templates of one structure: the same container types, keys and leaf positions."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_template(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_template(x, y) for x, y in zip(a, b))
    return a == b


def rebuilder(spec: Any) -> Callable[[Sequence[Any]], Any]:
    """``spec.unflatten`` in plain Python where the containers are builtin ones (traceable)."""
    template = spec.unflatten(list(range(spec.num_leaves)))
    if py_flatten(template) is None:
        return spec.unflatten

    def build(node: Any, leaves: Sequence[Any]) -> Any:
        kind = type(node)
        if node is None:
            return None
        if kind is int:
            return leaves[node]
        if kind is dict or kind is collections.OrderedDict:
            return kind((k, build(v, leaves)) for k, v in node.items())
        if kind is list:
            return [build(c, leaves) for c in node]
        if kind is tuple:
            return tuple(build(c, leaves) for c in node)
        return kind(*[build(c, leaves) for c in node])  # a namedtuple

    return lambda leaves: build(template, leaves)


def spec_of(structure: Any) -> Any:
    """A real spec from a template (or a spec, returned as it is)."""
    if isinstance(structure, optree.PyTreeSpec) or not isinstance(structure, (dict, list, tuple)):
        return structure
    return optree.tree_structure(structure, none_is_leaf=False)


def paths(tree: Any, name: str) -> list[str]:
    """Each leaf's place in `tree`, as Python would index it: ``x['w'][0]``."""
    try:
        keys = optree.tree_paths(tree, is_leaf=_arrays.is_array, none_is_leaf=False)
    except Exception:  # a JAX-only container: positions only
        return [f"{name} leaf {i}" for i in range(len(flatten(tree)[0]))]
    return [name + "".join(f"[{k!r}]" for k in key) for key in keys]


def describe_leaves(tree: Any, leaves: Sequence[Any], what: str) -> list[_arrays.ArrayInfo]:
    """`describe` every leaf; an error names the leaf by its path."""
    try:
        return [_arrays.describe(leaf, what) for leaf in leaves]
    except TypeError:
        pass
    return [_arrays.describe(leaf, where) for leaf, where in zip(leaves, paths(tree, what))]


def common_dtype(names: Sequence[str]) -> str:
    """The dtype every leaf is raveled into: the leaves' own when they agree, else NumPy's promotion."""
    first = names[0]
    if all(n == first for n in names):
        return first
    try:
        return np.result_type(*names).name
    except TypeError:  # bfloat16 and friends, unknown to NumPy
        return "float64" if "float64" in names else "float32"


class Layout:
    """Where the leaves of one pytree sit in a flat vector: structure, shapes, dtypes, offsets."""

    __slots__ = ("dtype", "dtypes", "key", "offsets", "rebuild", "shapes", "size", "sizes", "spec", "template")

    def __init__(self, spec: Any, shapes: Sequence[tuple[int, ...]], dtypes: Sequence[str]) -> None:
        self.spec = spec
        self.shapes = tuple(tuple(s) for s in shapes)
        self.dtypes = tuple(dtypes)
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self.offsets = tuple(int(o) for o in np.cumsum((0, *self.sizes))[:-1])
        self.size = sum(self.sizes)
        self.dtype = common_dtype(self.dtypes) if self.dtypes else "float64"
        self.key = (spec, self.shapes, self.dtypes)
        self.rebuild = rebuilder(spec)
        self.template = spec.unflatten(list(range(spec.num_leaves)))

    def matches(self, structure: Any, shapes: Sequence[tuple[int, ...]]) -> bool:
        """Whether a template or spec and leaf shapes (seen inside traced code) are this layout's."""
        if tuple(shapes) != self.shapes:
            return False
        if isinstance(structure, optree.PyTreeSpec) or not isinstance(structure, (dict, list, tuple)):
            return structure == self.spec
        return same_template(structure, self.template)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def ravel(self, leaves: Sequence[Any], xp: Any, dtype: str | None = None) -> Any:
        """One flat vector from `leaves` (the engine's arrays), in `dtype` (default: the common dtype)."""
        return ravel(leaves, xp, dtype or self.dtype)

    def unravel(self, flat: Any) -> list[Any]:
        """The leaves of the flat vector `flat`, each in its shape, and in its own dtype where the leaves'
        dtypes differ (a complex `flat`, a complex-step's, stays complex)."""
        pieces = split(flat, self.sizes, self.offsets)
        xp = _arrays.array_namespace(flat) if pieces else None
        cast = any(d != self.dtype for d in self.dtypes) and not _arrays.dtype_name(flat).startswith("complex")
        return [
            _cast(xp, xp.reshape(p, shape), dtype) if cast else xp.reshape(p, shape)
            for p, shape, dtype in zip(pieces, self.shapes, self.dtypes)
        ]

    def blocks(self, matrix: Any, cols: Layout | None, col_shape: tuple[int, ...]) -> list[Any]:
        """Split `matrix` (rows raveled by this layout, columns by `cols`, or `col_shape` for one array)
        into its blocks, row-major, each of shape ``row_leaf.shape + col_leaf.shape``."""
        xp = _arrays.array_namespace(matrix)
        n = cols.size if cols is not None else math.prod(col_shape)
        matrix = xp.reshape(matrix, (self.size, n))
        col_parts = list(zip(cols.offsets, cols.sizes, cols.shapes)) if cols is not None else [(0, n, tuple(col_shape))]
        return [
            xp.reshape(matrix[r : r + m, c : c + k], (*rs, *cs))
            for r, m, rs in zip(self.offsets, self.sizes, self.shapes)
            for c, k, cs in col_parts
        ]

    def describe(self) -> str:
        return f"{self.spec} with leaf shapes {list(self.shapes)}"


def ravel(leaves: Sequence[Any], xp: Any, dtype: str) -> Any:
    """One flat vector of `dtype` from `leaves` (arrays of the namespace `xp`)."""
    parts = [xp.reshape(_cast(xp, leaf, dtype), (-1,)) for leaf in leaves]
    if not parts:
        return xp.zeros((0,), dtype=_dtype(xp, dtype))
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def column_blocks(matrix: Any, row_shape: tuple[int, ...], cols: Layout) -> list[Any]:
    """Split `matrix` (rows: one array of `row_shape`; columns raveled by `cols`) into its blocks."""
    xp = _arrays.array_namespace(matrix)
    m = math.prod(row_shape)
    matrix = xp.reshape(matrix, (m, cols.size))
    return [
        xp.reshape(matrix[:, c : c + k], (*row_shape, *cs)) for c, k, cs in zip(cols.offsets, cols.sizes, cols.shapes)
    ]


def split(flat: Any, sizes: Sequence[int], offsets: Sequence[int]) -> list[Any]:
    """`flat` cut into consecutive pieces of `sizes`. PyTorch and TensorFlow get their own split,
    whose derivative is one concatenation (a slice's would add a full-size zero tensor per leaf)."""
    if len(sizes) == 1:
        return [flat]
    lib = _arrays.library_of(flat)
    if lib == "torch":
        return list(flat.split(list(sizes)))
    if lib == "tensorflow":
        import tensorflow as tf

        return tf.split(flat, list(sizes))
    return [flat[o : o + s] for o, s in zip(offsets, sizes)]


def _dtype(xp: Any, name: str, like: Any = None) -> Any:
    """The dtype object called `name` in `xp`, or in the library of `like` (bfloat16 is no Array API name)."""
    dtype = getattr(xp, name, None)
    if dtype is None:
        dtype = _arrays.library_dtype(_arrays.library_of(like), name)
    return dtype if dtype is not None else np.dtype(name)


def _cast(xp: Any, a: Any, name: str) -> Any:
    if _arrays.dtype_name(a) == name or _arrays.library_of(a) == "autograd":
        return a  # autograd has no forward rule for astype: its boxes stay in the common dtype
    return xp.astype(a, _dtype(xp, name, a))


def layout_of(spec: Any, leaves: Sequence[Any]) -> Layout:
    return Layout(spec, [_arrays.shape_of(leaf) for leaf in leaves], [_arrays.dtype_name(leaf) for leaf in leaves])
