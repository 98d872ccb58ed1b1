"""Rules of the jaxpr interpreter for data movement: reshapes, slices, gathers, scatters, sorts.

Data movement is exact: the primitive itself is applied to arrays of element ids, so whatever it
does to data it does to the ids, and the ids that come out say where each element came from. An
index that depends on the input makes the result depend on every element it could select.

JAX is imported inside the functions that need it only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import deps as _deps
from .deps import Deps
from .jaxpr_elementwise import elementwise
from .jaxpr_interpreter import UNKNOWN, Interpreter, Rule, Val, dense, stack, var_shape, whole
from .jaxpr_numpy import MOVES, ids

# (data operands, index operands) of each data-movement primitive, given its number of operands.
_ROLES: dict[str, Callable[[int], tuple[Sequence[int], Sequence[int]]]] = {
    **{
        name: (lambda k: ((0,), range(1, k)))
        for name in ("slice", "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims", "rev")
    },
    **{name: (lambda k: ((0,), ())) for name in ("split", "tile", "unstack", "copy", "copy_p")},
    **{name: (lambda k: (range(k), ())) for name in ("concatenate", "stack", "pad")},
    "dynamic_slice": lambda k: ((0,), range(1, k)),
    "dynamic_update_slice": lambda k: ((0, 1), range(2, k)),
    "gather": lambda k: ((0,), (1,)),
    "select_n": lambda k: (range(1, k), (0,)),
}

# Each scatter, and whether it couples what it combines for the Hessian (a product).
_SCATTERS = {
    "scatter": False,
    "scatter-add": False,
    "scatter-sub": False,
    "scatter-mul": True,
    "scatter-min": False,
    "scatter-max": False,
    "scatter_add": False,
    "scatter_sub": False,
    "scatter_mul": True,
    "scatter_min": False,
    "scatter_max": False,
}


def _smear(d: Deps, axes: Sequence[int]) -> Deps:
    """Every element depends on the whole of each line along `axes` it lies on."""
    axes = [a % len(d.shape) for a in axes]
    if not axes:
        return d
    reduced = _deps.reduce(d, axes, keepdims=True)
    return _deps.broadcast(reduced, d.shape)


def _move(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Data movement: apply the primitive to element ids and gather the rows the ids name."""
    name = eqn.primitive.name
    data, index = _ROLES[name](len(ins))
    data, index = list(data), list(index)
    if any(ins[i][1] is None for i in index):
        return _UNKNOWN_INDEX.get(name, dense)(it, eqn, ins, needed)
    shapes = [var_shape(v) for v in eqn.invars]
    present = [i for i in data if ins[i][0] is not None]
    if not present:
        return [UNKNOWN] * len(eqn.outvars)
    if (
        name in ("reshape", "squeeze", "expand_dims", "copy", "copy_p")
        and len(present) == 1
        and not eqn.params.get("dimensions" if name == "reshape" else "_")
    ):
        d = ins[present[0]][0]
        return [(Deps(d.rows, var_shape(eqn.outvars[0])), None)]
    arrays: list[Any] = [v for _, v in ins]
    offset = 0
    for i in data:
        if ins[i][0] is not None:
            arrays[i] = ids(shapes[i], offset)
            offset += math.prod(shapes[i])
        else:
            arrays[i] = np.zeros(shapes[i], dtype=np.int64)
    fast = MOVES.get(name)
    if fast is not None:
        outs = fast(eqn.params, *arrays)
    else:
        outs = _bind_ids(eqn, arrays, data)
    stacked = stack([ins[i][0] for i in present], [math.prod(shapes[i]) for i in present], it.n)
    return [(_deps.gather(stacked, np.asarray(o, dtype=np.int64) - 1), None) for o in outs]


def _bind_ids(eqn: Any, arrays: list[Any], data: Sequence[int]) -> list[np.ndarray]:
    """Run the primitive itself on int32 id arrays (ids first, constant indices as they are)."""
    params = dict(eqn.params)
    if "fill_value" in params:
        params["fill_value"] = 0
    operands = [np.asarray(a, dtype=np.int32) if i in data else a for i, a in enumerate(arrays)]
    result = eqn.primitive.bind(*operands, **params)
    return [np.asarray(r) for r in (result if eqn.primitive.multiple_results else [result])]


def _select_unknown(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return elementwise("linear")(it, eqn, ins, needed)


def _dynamic_slice_unknown(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """A start that depends on the input: along that axis, any element may be the one taken."""
    d = ins[0][0]
    if d is None:
        return [UNKNOWN]
    unknown = [k for k, (_, v) in enumerate(ins[1:]) if v is None]
    starts = [(None, np.zeros((), dtype=np.int64)) if v is None else (None, v) for _, v in ins[1:]]
    return _move(it, eqn, [(_smear(d, unknown), None), *starts], needed)


def _gather_unknown(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [UNKNOWN]
    indexed = eqn.params["dimension_numbers"].start_index_map
    indices = np.zeros(var_shape(eqn.invars[1]), dtype=np.dtype(eqn.invars[1].aval.dtype))
    return _move(it, eqn, [(_smear(d, indexed), None), (None, indices)], needed)


def _update_unknown(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """An update at a position that depends on the input: it may land on any element."""
    shape = var_shape(eqn.outvars[0])
    return [(_deps.union([ins[0][0], whole([ins[1][0]], shape, it.n)], shape, it.n), None)]


_UNKNOWN_INDEX: dict[str, Rule] = {
    "select_n": _select_unknown,
    "dynamic_slice": _dynamic_slice_unknown,
    "gather": _gather_unknown,
    "dynamic_update_slice": _update_unknown,
}


def _scatter(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Scatters: the update elements land where the transposed gather reads them from."""
    name = eqn.primitive.name
    (operand, _), (_, indices), (updates, _) = ins[0], ins[1], ins[2]
    shape = var_shape(eqn.outvars[0])
    applies = name == "scatter" and eqn.params.get("update_jaxpr") is not None
    nonlinear = _SCATTERS[name] or applies
    if indices is None:
        out = _deps.union([operand, whole([updates], shape, it.n)], shape, it.n)
    elif operand is None and updates is None:
        return [UNKNOWN]
    else:
        target = _scatter_targets(eqn, indices, shape)
        # A plain scatter overwrites what it hits (unless the bounds are only promised, not enforced).
        overwrites = name == "scatter" and not applies and _bounds_enforced(eqn)
        update_size = math.prod(var_shape(eqn.invars[2]))
        out = _scattered(operand, updates, update_size, target, shape, overwrites, it.n)
    if it.pairs is not None and nonlinear:
        it.pairs.square(out)
    return [(out, None)]


def _bounds_enforced(eqn: Any) -> bool:
    """Whether a scatter drops or clips its out-of-bounds updates (rather than being promised there are none)."""
    import jax

    return eqn.params.get("mode") in (jax.lax.GatherScatterMode.FILL_OR_DROP, jax.lax.GatherScatterMode.CLIP)


def _scatter_targets(eqn: Any, indices: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The flat element of the result that each update element lands on (-1: dropped), for concrete `indices`:
    the scatter's own gather, applied to element ids."""
    import jax

    dnums = eqn.params["dimension_numbers"]
    update_shape = var_shape(eqn.invars[2])
    batching = tuple(getattr(dnums, "operand_batching_dims", ()))
    sizes, pos = [], 0
    for i in range(len(shape)):
        if i in dnums.inserted_window_dims or i in batching:
            sizes.append(1)
        else:
            sizes.append(update_shape[dnums.update_window_dims[pos]])
            pos += 1
    gather_dnums = jax.lax.GatherDimensionNumbers(
        offset_dims=tuple(dnums.update_window_dims),
        collapsed_slice_dims=tuple(dnums.inserted_window_dims),
        start_index_map=tuple(dnums.scatter_dims_to_operand_dims),
        operand_batching_dims=batching,
        start_indices_batching_dims=tuple(getattr(dnums, "scatter_indices_batching_dims", ())),
    )
    mode = eqn.params.get("mode")
    fill = mode == jax.lax.GatherScatterMode.FILL_OR_DROP
    target = _point_targets(dnums, np.asarray(indices), shape, fill)
    if target is not None:
        return target
    landed = jax.lax.gather(
        np.asarray(ids(shape), dtype=np.int32),
        indices,
        gather_dnums,
        tuple(sizes),
        mode=mode,
        fill_value=0 if fill else None,
    )
    return np.asarray(landed, dtype=np.int64).reshape(-1) - 1


def _scattered(
    operand: Deps | None,
    updates: Deps | None,
    update_size: int,
    target: np.ndarray,
    shape: tuple[int, ...],
    overwrites: bool,
    n: int,
) -> Deps:
    """The result of a scatter: each element keeps the operand's (unless `overwrites` and some update lands on
    it) and gains the update elements that land on it, flat element k of the updates landing on ``target[k]``."""
    size = math.prod(shape)
    hit = target >= 0
    keep = np.ones(size, dtype=bool)
    if overwrites:
        keep[target[hit]] = False
    kept = np.nonzero(keep)[0]
    sources = np.concatenate([kept, size + np.nonzero(hit)[0]])
    targets = np.concatenate([kept, target[hit]])
    stacked = stack([operand, updates], [size, update_size], n)
    return _deps.link(stacked, targets, sources, shape)


def _point_targets(dnums: Any, indices: np.ndarray, shape: tuple[int, ...], drop: bool) -> np.ndarray | None:
    """The flat targets of a scatter of single elements (``x.at[i].set``), in NumPy; None for other scatters."""
    rank = len(shape)
    if (
        tuple(dnums.update_window_dims) != ()
        or tuple(dnums.inserted_window_dims) != tuple(range(rank))
        or tuple(dnums.scatter_dims_to_operand_dims) != tuple(range(rank))
        or tuple(getattr(dnums, "operand_batching_dims", ()))
        or indices.ndim == 0
        or indices.shape[-1] != rank
    ):
        return None
    coords = indices.reshape(-1, rank).astype(np.int64)
    bounds = np.asarray(shape, dtype=np.int64)
    if drop:
        inside = ((coords >= 0) & (coords < bounds)).all(axis=1)
        coords = np.where(inside[:, None], coords, 0)
    else:  # clipped (or promised in bounds, where clipping over-approximates)
        inside = np.ones(coords.shape[0], dtype=bool)
        coords = np.clip(coords, 0, np.maximum(bounds - 1, 0))
    flat = np.ravel_multi_index(tuple(coords.T), shape) if rank else np.zeros(coords.shape[0], dtype=np.int64)
    return np.where(inside, flat, -1)


def _sort(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Sorting permutes each operand by the keys: exact when the keys are known, else any order."""
    import jax

    dimension, keys = eqn.params["dimension"], eqn.params.get("num_keys", 1)
    shape = var_shape(eqn.invars[0])
    if all(v is not None for _, v in ins[:keys]):
        perm = jax.lax.sort_p.bind(
            *(v for _, v in ins[:keys]),
            np.asarray(_deps.element_ids(shape), dtype=np.int32),
            dimension=dimension,
            is_stable=eqn.params.get("is_stable", True),
            num_keys=keys,
        )[-1]
        perm = np.asarray(perm, dtype=np.int64)
        return [(None if d is None else _deps.gather(d, perm), None) for d, _ in ins]
    return [(None if d is None else _deps.spread(d, dimension, everywhere=True), None) for d, _ in ins]


RULES: dict[str, Rule] = {**dict.fromkeys(_ROLES, _move), **dict.fromkeys(_SCATTERS, _scatter), "sort": _sort}
