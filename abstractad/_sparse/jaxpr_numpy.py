"""JAX primitives applied in NumPy to concrete arrays, for the jaxpr interpreter (:mod:`.jaxpr`).

Data movement is applied to arrays of element ids (:func:`ids`), and small index arithmetic to the
concrete values of indices and loop counters: both are faster in NumPy than dispatched to XLA, which
compiles every new shape. Each function of :data:`MOVES` and :data:`VALUES` takes the primitive's
params and its operands, and returns its outputs. Needs NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import deps as _deps


def ids(shape: tuple[int, ...], offset: int = 0) -> np.ndarray:
    """Element ids counted from ``offset + 1``: 0 (and the fill of out-of-bounds reads) is 'no element'."""
    return _deps.element_ids(shape) + (offset + 1)


def pad(a: np.ndarray, value: Any, config: Sequence[tuple[int, int, int]]) -> np.ndarray:
    for axis, (lo, hi, interior) in enumerate(config):
        lo, hi, interior = int(lo), int(hi), int(interior)
        if interior > 0 and a.shape[axis] > 1:
            length = a.shape[axis] + (a.shape[axis] - 1) * interior
            spaced = np.full((*a.shape[:axis], length, *a.shape[axis + 1 :]), value, dtype=a.dtype)
            spaced[(slice(None),) * axis + (slice(None, None, interior + 1),)] = a
            a = spaced
        if lo < 0:
            a = a[(slice(None),) * axis + (slice(-lo, None),)]
        if hi < 0:
            a = a[(slice(None),) * axis + (slice(None, a.shape[axis] + hi),)]
        widths = [(0, 0)] * a.ndim
        widths[axis] = (max(lo, 0), max(hi, 0))
        if lo > 0 or hi > 0:
            a = np.pad(a, widths, constant_values=np.asarray(value, dtype=a.dtype))
    return a


def _np_broadcast_in_dim(p: dict[str, Any], a: np.ndarray, *_: Any) -> list[np.ndarray]:
    shape = tuple(p["shape"])
    expanded = [1] * len(shape)
    for i, dim in enumerate(p["broadcast_dimensions"]):
        expanded[dim] = a.shape[i]
    return [np.broadcast_to(a.reshape(expanded), shape)]


def _np_reshape(p: dict[str, Any], a: np.ndarray, *_: Any) -> list[np.ndarray]:
    if p.get("dimensions") is not None:
        a = np.transpose(a, p["dimensions"])
    return [a.reshape(tuple(p["new_sizes"]))]


def _np_slice(p: dict[str, Any], a: np.ndarray) -> list[np.ndarray]:
    strides = p.get("strides") or (1,) * a.ndim
    return [a[tuple(slice(s, e, k) for s, e, k in zip(p["start_indices"], p["limit_indices"], strides))]]


def _clamped_starts(starts: Sequence[Any], shape: Sequence[int], sizes: Sequence[int]) -> list[int]:
    return [int(np.clip(int(np.asarray(s)), 0, d - k)) for s, d, k in zip(starts, shape, sizes)]


def _np_dynamic_slice(p: dict[str, Any], a: np.ndarray, *starts: Any) -> list[np.ndarray]:
    sizes = tuple(p["slice_sizes"])
    begin = _clamped_starts(starts, a.shape, sizes)
    return [a[tuple(slice(b, b + k) for b, k in zip(begin, sizes))]]


def _np_dynamic_update_slice(p: dict[str, Any], a: np.ndarray, update: np.ndarray, *starts: Any) -> list[np.ndarray]:
    begin = _clamped_starts(starts, a.shape, update.shape)
    out = np.array(a, copy=True)
    out[tuple(slice(b, b + k) for b, k in zip(begin, update.shape))] = update
    return [out]


def _np_select_n(p: dict[str, Any], which: np.ndarray, *cases: np.ndarray) -> list[np.ndarray]:
    which = np.asarray(which).astype(np.int64)
    out = np.broadcast_to(cases[0], np.broadcast_shapes(which.shape, *(c.shape for c in cases)))
    for i, case in enumerate(cases[1:], start=1):
        out = np.where(which == i, case, out)
    return [np.asarray(out)]


def _np_split(p: dict[str, Any], a: np.ndarray) -> list[np.ndarray]:
    return np.split(a, np.cumsum(p["sizes"])[:-1], axis=p["axis"])


MOVES: dict[str, Callable[..., list[np.ndarray]]] = {
    "slice": _np_slice,
    "reshape": _np_reshape,
    "broadcast_in_dim": _np_broadcast_in_dim,
    "transpose": lambda p, a: [np.transpose(a, p["permutation"])],
    "squeeze": lambda p, a: [np.squeeze(a, axis=tuple(p["dimensions"]))],
    "expand_dims": lambda p, a: [np.expand_dims(a, tuple(p["dimensions"]))],
    "rev": lambda p, a: [np.flip(a, axis=tuple(p["dimensions"])) if p["dimensions"] else a],
    "concatenate": lambda p, *a: [np.concatenate(a, axis=p["dimension"])],
    "stack": lambda p, *a: [np.stack(a, axis=p["axis"])],
    "split": _np_split,
    "tile": lambda p, a: [np.tile(a, p["reps"])],
    "pad": lambda p, a, v: [pad(a, v, p["padding_config"])],
    "dynamic_slice": _np_dynamic_slice,
    "dynamic_update_slice": _np_dynamic_update_slice,
    "select_n": _np_select_n,
    "copy": lambda p, a: [a],
    "copy_p": lambda p, a: [a],
}

# Cheap elementwise arithmetic on concrete (index) values, the same in NumPy as in XLA.
VALUES: dict[str, Callable[..., list[np.ndarray]]] = {
    "add": lambda p, a, b: [a + b],
    "sub": lambda p, a, b: [a - b],
    "mul": lambda p, a, b: [a * b],
    "neg": lambda p, a: [-a],
    "max": lambda p, a, b: [np.maximum(a, b)],
    "min": lambda p, a, b: [np.minimum(a, b)],
    "eq": lambda p, a, b: [a == b],
    "ne": lambda p, a, b: [a != b],
    "lt": lambda p, a, b: [a < b],
    "le": lambda p, a, b: [a <= b],
    "gt": lambda p, a, b: [a > b],
    "ge": lambda p, a, b: [a >= b],
    "and": lambda p, a, b: [a & b],
    "or": lambda p, a, b: [a | b],
    "not": lambda p, a: [~a],
    "rem": lambda p, a, b: [np.fmod(a, b)],
    "convert_element_type": lambda p, a: [a.astype(np.dtype(p["new_dtype"]))],
    "iota": lambda p: [
        np.broadcast_to(
            np.arange(p["shape"][p["dimension"]]).reshape(
                [-1 if i == p["dimension"] else 1 for i in range(len(p["shape"]))]
            ),
            tuple(p["shape"]),
        )
    ],
}


def windows(
    shape: tuple[int, ...],
    window: Sequence[int],
    strides: Sequence[int],
    padding: Sequence[tuple[int, int]],
    base_dilation: Sequence[int],
    window_dilation: Sequence[int],
) -> np.ndarray:
    """For each output position of a windowed operation over an array of `shape`, the 1-based ids of the
    elements in its window (0: padding), as an array of the output shape plus one axis over the window."""
    padded = pad(ids(shape), 0, [(lo, hi, b - 1) for (lo, hi), b in zip(padding, base_dilation)])
    out_shape = [
        max((p - (w - 1) * wd - 1) // s + 1, 0) for p, w, wd, s in zip(padded.shape, window, window_dilation, strides)
    ]
    views = []
    for offset in np.ndindex(*window):
        index = tuple(
            slice(o * wd, o * wd + (k - 1) * s + 1, s) if k else slice(0, 0)
            for o, wd, k, s in zip(offset, window_dilation, out_shape, strides)
        )
        views.append(padded[index])
    return np.stack(views, axis=-1) if views else np.zeros((*out_shape, 0), dtype=np.int64)
