"""Rules of the jaxpr interpreter for contractions: ``dot_general``, convolutions and the FFT.

A contracted element depends on the elements of each operand it combines; for the Hessian, a
bilinear product couples each element of one operand with the elements of the other it multiplies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import deps as _deps
from .deps import Deps
from .jaxpr_interpreter import UNKNOWN, Interpreter, Rule, Val, var_shape
from .jaxpr_numpy import windows

# Up to this many products (output size times contracted size), a bilinear dot_general pairs each lhs
# element with just the rhs elements it multiplies; past it, with all those of the rhs contracted.
_EXACT_PRODUCTS = 4_000_000


def _dot_general(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    (lhs, _), (rhs, _) = ins
    lshape, rshape = var_shape(eqn.invars[0]), var_shape(eqn.invars[1])
    products = math.prod(var_shape(eqn.outvars[0])) * math.prod(lshape[i] for i in lc)
    exact = it.pairs is not None and lhs is not None and rhs is not None and products <= _EXACT_PRODUCTS
    out = _deps.contract(lhs, rhs, lshape, rshape, (lc, rc), (lb, rb), it.n, pairs=None if exact else it.pairs)
    if exact:
        # Both factors laid out as (batch, lhs free, rhs free, contracted), one row per product.
        lfree = [i for i in range(len(lshape)) if i not in lc and i not in lb]
        rfree = [i for i in range(len(rshape)) if i not in rc and i not in rb]
        batch = tuple(lshape[i] for i in lb)
        lf, rf = tuple(lshape[i] for i in lfree), tuple(rshape[i] for i in rfree)
        k = math.prod(lshape[i] for i in lc)
        lids = np.transpose(_deps.element_ids(lshape), (*lb, *lfree, *lc)).reshape(*batch, *lf, *(1,) * len(rf), k)
        rids = np.transpose(_deps.element_ids(rshape), (*rb, *rfree, *rc)).reshape(*batch, *(1,) * len(lf), *rf, k)
        full = (*batch, *lf, *rf, k)
        it.pairs.cross(_deps.gather(lhs, np.broadcast_to(lids, full)), _deps.gather(rhs, np.broadcast_to(rids, full)))
    return [(out, None)]


def _conv(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Convolutions: an output element depends on its window of the lhs, over all input features (also
    with feature groups: conservative), and on the whole kernel of its output feature."""
    p = eqn.params
    (lhs, _), (rhs, _) = ins
    lhs_spec, rhs_spec, out_spec = p["dimension_numbers"]
    out_shape = var_shape(eqn.outvars[0])
    canonical = tuple(out_shape[i] for i in out_spec)  # (batch, feature, spatial...)
    spatial = len(canonical) - 2
    left = right = None
    if lhs is not None:
        moved = _deps.gather(lhs, np.transpose(_deps.element_ids(var_shape(eqn.invars[0])), lhs_spec))
        kernel = tuple(var_shape(eqn.invars[1])[i] for i in rhs_spec[2:])
        index = windows(
            moved.shape,
            (1, 1, *kernel),
            (1, 1, *p["window_strides"]),
            ((0, 0), (0, 0), *p["padding"]),
            (1, 1, *(p.get("lhs_dilation") or (1,) * spatial)),
            (1, 1, *(p.get("rhs_dilation") or (1,) * spatial)),
        )  # (batch, features, out spatial..., window)
        index = np.moveaxis(index, 1, -2).reshape(*index.shape[:1], *index.shape[2:-1], -1)
        per_batch = _deps.gather_union(moved, index - 1)  # (batch, out spatial...)
        if p.get("batch_group_count", 1) > 1:
            per_batch = _deps.reduce(per_batch, [0], keepdims=True)
        expanded = Deps(per_batch.rows, (per_batch.shape[0], 1, *per_batch.shape[1:]))
        left = _deps.broadcast(expanded, canonical)
    if rhs is not None:
        moved = _deps.gather(rhs, np.transpose(_deps.element_ids(var_shape(eqn.invars[1])), rhs_spec))
        per_feature = _deps.reduce(moved, range(1, len(moved.shape)))
        right = _deps.broadcast(Deps(per_feature.rows, (1, canonical[1]) + (1,) * spatial), canonical)
    if it.pairs is not None:
        it.pairs.cross(left, right)
    out = _deps.union([left, right], canonical, it.n)
    if out is not None:
        out = _deps.gather(out, np.transpose(_deps.element_ids(canonical), np.argsort(out_spec)))
    return [(out, None)]


def _fft(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """An FFT mixes everything along its axes (the last len(fft_lengths) ones), linearly."""
    d = ins[0][0]
    if d is None:
        return [UNKNOWN]
    k = len(eqn.params["fft_lengths"])
    reduced = _deps.reduce(d, range(len(d.shape) - k, len(d.shape)), keepdims=True)
    return [(_deps.broadcast(reduced, var_shape(eqn.outvars[0])), None)]


RULES: dict[str, Rule] = {"dot_general": _dot_general, "conv_general_dilated": _conv, "fft": _fft}
