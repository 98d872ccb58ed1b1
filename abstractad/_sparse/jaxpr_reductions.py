"""Rules of the jaxpr interpreter for reductions: sums and products over axes, cumulative and windowed
reductions (pooling), the general variadic reduce, top-k.

A reduced element depends on every element it reduces; a product (or another nonlinear reduction)
couples them all with each other for the Hessian, a sum couples none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import deps as _deps
from .jaxpr_interpreter import UNKNOWN, Interpreter, Rule, Val, var_shape, whole
from .jaxpr_numpy import windows

# Each reduction, and whether it couples what it reduces for the Hessian (a product, or any nonlinear one).
_REDUCTIONS = {"reduce_sum": False, "reduce_max": False, "reduce_min": False, "reduce_prod": True}
_CUMULATIVE = {"cumsum": False, "cummax": False, "cummin": False, "cumprod": True, "cumlogsumexp": True}
_WINDOWS = {"reduce_window_sum": False, "reduce_window_max": False, "reduce_window_min": False, "reduce_window": True}


def _top_k(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [UNKNOWN] * len(eqn.outvars)
    axis = eqn.params.get("axis", eqn.params.get("reduction_dimension", -1))
    values = _deps.broadcast(_deps.reduce(d, [axis], keepdims=True), var_shape(eqn.outvars[0]))
    return [(values, None)] + [UNKNOWN] * (len(eqn.outvars) - 1)


def _reduction(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [UNKNOWN]
    out = _deps.reduce(d, eqn.params["axes"])
    if it.pairs is not None and _REDUCTIONS[eqn.primitive.name]:
        it.pairs.square(out)
    return [(out, None)]


def _reduce(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """The general (variadic) reduce: each output depends on every operand along the reduced axes."""
    half = len(ins) // 2
    parts = [d for d, _ in ins[:half]]
    shape = var_shape(eqn.invars[0])
    combined = _deps.union(parts, shape, it.n)
    reduced = None if combined is None else _deps.reduce(combined, eqn.params["dimensions"])
    out_shape = var_shape(eqn.outvars[0])
    out = _deps.union([reduced, whole([d for d, _ in ins[half:]], out_shape, it.n)], out_shape, it.n)
    if it.pairs is not None:
        it.pairs.square(out)
    return [(out, None)] * len(eqn.outvars)


def _cumulative(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    d = ins[0][0]
    if d is None:
        return [UNKNOWN]
    out = _deps.spread(d, eqn.params["axis"], reverse=eqn.params.get("reverse", False))
    if it.pairs is not None and _CUMULATIVE[eqn.primitive.name]:
        it.pairs.square(out)
    return [(out, None)]


def _reduce_window(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Windowed reductions (pooling): each output depends on its window (and on the initial values)."""
    p = eqn.params
    name = eqn.primitive.name
    half = len(ins) // 2 if name == "reduce_window" else len(ins)
    shape = var_shape(eqn.invars[0])
    combined = _deps.union([d for d, _ in ins[:half]], shape, it.n)
    out_shape = var_shape(eqn.outvars[0])
    windowed = None
    if combined is not None:
        index = windows(
            shape, p["window_dimensions"], p["window_strides"], p["padding"], p["base_dilation"], p["window_dilation"]
        )
        windowed = _deps.gather_union(combined, index - 1)
    out = _deps.union([windowed, whole([d for d, _ in ins[half:]], out_shape, it.n)], out_shape, it.n)
    if it.pairs is not None and _WINDOWS[name]:
        it.pairs.square(out)
    return [(out, None)] * len(eqn.outvars)


RULES: dict[str, Rule] = {
    **dict.fromkeys(_REDUCTIONS, _reduction),
    **dict.fromkeys(_CUMULATIVE, _cumulative),
    **dict.fromkeys(_WINDOWS, _reduce_window),
    "reduce": _reduce,
    "top_k": _top_k,
    "approx_top_k": _top_k,
}
