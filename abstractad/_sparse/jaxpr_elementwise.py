"""Rules of the jaxpr interpreter for elementwise primitives, by what their second derivative couples.

An elementwise result depends on the same elements of its (broadcast) operands. For the Hessian, a
linear primitive couples nothing, a nonlinear one couples all its dependencies with each other, a
product those of one factor with those of the other, and a quotient also the divisor's with each
other; comparisons, rounding and the like have a zero derivative: no dependency at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import deps as _deps
from .jaxpr_interpreter import UNKNOWN, Interpreter, Rule, Val, var_shape

_ZERO = frozenset(
    {
        "sign",
        "floor",
        "ceil",
        "round",
        "is_finite",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "eq_to",
        "lt_to",
        "le_to",
        "and",
        "or",
        "not",
        "xor",
        "argmax",
        "argmin",
        "iota",
        "stop_gradient",
        "population_count",
        "clz",
        "mulhi",
        "shift_left",
        "shift_right_arithmetic",
        "shift_right_logical",
        "reduce_and",
        "reduce_or",
        "reduce_xor",
        "random_bits",
        "random_seed",
        "random_wrap",
        "random_unwrap",
        "random_fold_in",
        "random_split",
        "threefry2x32",
        "rng_bit_generator",
        "bitcast_convert_type",
        "platform_index",
        "create_token",
        "after_all",
        "axis_index",
        "debug_callback",
        "debug_print",
        "empty",
        "empty2",
        "dce_sink",
        "lu_pivots_to_permutation",
    }
)
# Elementwise with a zero second derivative (almost everywhere).
_LINEAR = frozenset(
    {
        "add",
        "add_any",
        "sub",
        "neg",
        "convert_element_type",
        "reduce_precision",
        "real",
        "imag",
        "conj",
        "complex",
        "max",
        "min",
        "clamp",
        "select_n",
        "copy",
        "copy_p",
    }
)
_NONLINEAR = frozenset(
    {
        "sin",
        "cos",
        "tan",
        "exp",
        "exp2",
        "log",
        "log1p",
        "expm1",
        "tanh",
        "logistic",
        "sqrt",
        "rsqrt",
        "cbrt",
        "pow",
        "integer_pow",
        "square",
        "atan2",
        "erf",
        "erfc",
        "erf_inv",
        "lgamma",
        "digamma",
        "polygamma",
        "zeta",
        "igamma",
        "igammac",
        "igamma_grad_a",
        "random_gamma_grad",
        "regularized_incomplete_beta",
        "bessel_i0e",
        "bessel_i1e",
        "sinh",
        "cosh",
        "asin",
        "acos",
        "atan",
        "asinh",
        "acosh",
        "atanh",
        "nextafter",
        "rem",
        "rng_uniform",
    }
)
_IDENTITIES = frozenset({"optimization_barrier", "device_put", "sharding_constraint", "mesh_cast", "reshard", "pvary"})


def _zero(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return [UNKNOWN] * len(eqn.outvars)


def elementwise(kind: str) -> Rule:
    def rule(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
        shape = var_shape(eqn.outvars[0])
        parts = [d for d, _ in ins]
        if eqn.primitive.name == "select_n":
            parts = parts[1:]  # the predicate only chooses
        out = _deps.union(parts, shape, it.n)
        if it.pairs is not None and out is not None:
            if kind == "nonlinear" or (eqn.primitive.name == "abs" and np.dtype(eqn.invars[0].aval.dtype).kind == "c"):
                it.pairs.square(out)
            elif kind in ("mul", "div") and parts[0] is not None and parts[1] is not None:
                it.pairs.cross(_deps.broadcast(parts[0], shape), _deps.broadcast(parts[1], shape))
            if kind == "div" and parts[1] is not None:
                it.pairs.square(_deps.broadcast(parts[1], shape))
        return [(out, None)]

    return rule


def _identities(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    return [(d, None) for d, _ in ins[: len(eqn.outvars)]]


RULES: dict[str, Rule] = {
    **dict.fromkeys(_ZERO, _zero),
    **dict.fromkeys(_LINEAR | {"abs"}, elementwise("linear")),
    **dict.fromkeys(_NONLINEAR, elementwise("nonlinear")),
    "mul": elementwise("mul"),
    "div": elementwise("div"),
    **dict.fromkeys(_IDENTITIES, _identities),
}
