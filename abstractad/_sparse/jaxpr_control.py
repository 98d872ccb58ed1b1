"""Rules of the jaxpr interpreter for control flow: ``cond``, ``while`` and ``scan``.

A branch whose index is known is the only one taken, and a loop whose trip count is known is
unrolled, within a budget; otherwise the union over branches, and a fixed point over the loop body,
over-approximate every path. (Calls, ``jit`` and ``custom_jvp_call`` alike, are interpreted in
place by the interpreter itself.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import deps as _deps
from .deps import Deps
from .jaxpr_interpreter import Interpreter, Rule, Val, inexact, rows_of, total, var_shape

# Loops are unrolled with their concrete trip count within this much of the interpreter's work (an equation
# costs 1, plus 1 per few hundred dependencies it produces); past that, or with a trip count that depends on
# the input, a fixed point over the loop body takes over. A few seconds at most.
_UNROLL_BUDGET = 50_000
# Fixed-point sweeps before the carry is widened to everything that can reach the loop.
_MAX_SWEEPS = 50


def _union_vals(a: Val, b: Val, shape: tuple[int, ...], n: int) -> Val:
    return (_deps.union([a[0], b[0]], shape, n), None)


def _same(a: Sequence[Val], b: Sequence[Val]) -> bool:
    """Whether two (growing) carries have the same dependencies."""
    for (da, _), (db, _) in zip(a, b):
        if (da is None) != (db is None) or (da is not None and da.rows.nnz != db.rows.nnz):
            return False
    return True


def _widen(carry: list[Val], avals: Sequence[Any], everything: Deps | None) -> list[Val]:
    """The top of the lattice: every element of every carry depends on everything that reaches the loop."""
    return [
        (None if everything is None or not inexact(a) else _deps.broadcast(everything, tuple(a.shape)), None)
        for a in avals
    ]


def _cond(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """cond: the branch taken when the index is known, else the union over all branches."""
    branches = eqn.params["branches"]
    index, operands = ins[0][1], ins[1:]
    if index is not None:
        branch = branches[int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))]
        return it.run(branch.jaxpr, list(branch.consts), operands, needed)
    outs: list[Val] | None = None
    for branch in branches:
        result = it.run(branch.jaxpr, list(branch.consts), operands, needed)
        if outs is None:
            outs = [(d, None) for d, _ in result]
        else:
            outs = [_union_vals(a, b, var_shape(v), it.n) for a, b, v in zip(outs, result, eqn.outvars)]
    return outs or []


def _while(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """while: unrolled while the condition is known, then a fixed point over the body."""
    p = eqn.params
    cond, body = p["cond_jaxpr"], p["body_jaxpr"]
    cond_consts, body_consts = ins[: p["cond_nconsts"]], ins[p["cond_nconsts"] : p["cond_nconsts"] + p["body_nconsts"]]
    carry = list(ins[p["cond_nconsts"] + p["body_nconsts"] :])
    consts_c, consts_b = list(cond.consts), list(body.consts)
    start = it.work
    while it.work - start < _UNROLL_BUDGET:
        with it.first_order():
            (_, go), *_ = it.run(cond.jaxpr, consts_c, [*cond_consts, *carry])
        if go is None:
            break
        if not bool(np.asarray(go)):
            return carry
        carry = it.run(body.jaxpr, consts_b, [*body_consts, *carry])
    avals = [v.aval for v in eqn.outvars]
    return _fixed_point(it, body, body_consts, [], carry, avals, len(carry), None)


def _fixed_point(
    it: Interpreter,
    body: Any,
    consts: list[Val],
    xs: list[Val],
    carry: list[Val],
    avals: Sequence[Any],
    num_carry: int,
    limit: int | None,
    needed: Sequence[bool] | None = None,
) -> list[Val]:
    """Iterate ``carry |= body(carry)`` (at most `limit` times) until it stops growing; then one more
    pass, collecting second order, gives the carry and the per-iteration outputs of any iteration."""
    carry = [(d, None) for d, _ in carry]
    carry_only = [True] * num_carry + [False] * (len(body.jaxpr.outvars) - num_carry)
    sweeps = 0
    with it.first_order():
        while limit is None or sweeps < limit:
            outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs], carry_only)
            grown = [_union_vals(c, o, tuple(a.shape), it.n) for c, o, a in zip(carry, outs[:num_carry], avals)]
            sweeps += 1
            if _same(grown, carry):
                break
            carry = grown
            if sweeps >= _MAX_SWEEPS:
                everything = total([d for d, _ in (*consts, *carry, *xs)], it.n)
                carry = _widen(carry, avals, everything)
                break
    outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs], needed)
    return carry + [(d, None) for d, _ in outs[num_carry:]]


def _scan(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """scan: unrolled with each iteration's slice of xs within the budget, then a fixed point with each
    slice standing for any of them."""
    p = eqn.params
    body, length, reverse = p["jaxpr"], int(p["length"]), bool(p.get("reverse", False))
    num_consts, num_carry = p["num_consts"], p["num_carry"]
    consts, carry, xs = ins[:num_consts], list(ins[num_consts : num_consts + num_carry]), ins[num_consts + num_carry :]
    x_shapes = [var_shape(v)[1:] for v in eqn.invars[num_consts + num_carry :]]
    y_vars = eqn.outvars[num_carry:]
    y_shapes = [var_shape(v)[1:] for v in y_vars]
    ys: dict[int, list[Val]] = {}
    order = list(range(length - 1, -1, -1) if reverse else range(length))
    body_needed = [True] * num_carry + list(needed[num_carry:])
    steps, start = 0, it.work
    for k in order:
        if it.work - start >= _UNROLL_BUDGET:
            break
        steps += 1
        xs_k = []
        for (d, value), shape in zip(xs, x_shapes):
            size = math.prod(shape)
            xs_k.append(
                (
                    None if d is None else Deps(d.rows[k * size : (k + 1) * size], shape),
                    None if value is None else value[k],
                )
            )
        outs = it.run(body.jaxpr, list(body.consts), [*consts, *carry, *xs_k], body_needed)
        carry, ys[k] = outs[:num_carry], outs[num_carry:]
    if steps < length:
        rest = order[steps:]
        xs_any = [(None if d is None else _deps.reduce(d, [0]), None) for d, _ in xs]
        carry_avals = [v.aval for v in eqn.outvars[:num_carry]]
        outs = _fixed_point(it, body, consts, xs_any, carry, carry_avals, num_carry, len(rest), body_needed)
        carry = outs[:num_carry]
        for k in rest:
            ys[k] = outs[num_carry:]
    stacked = []
    for j, shape in enumerate(y_shapes):
        parts = [ys[k][j] for k in range(length)]
        size = math.prod(shape)
        if all(d is None for d, _ in parts):
            deps = None
        else:
            deps = Deps(
                sp.csr_array(sp.vstack([rows_of(d, size, it.n) for d, _ in parts], format="csr")), (length, *shape)
            )
        if length and all(v is not None for _, v in parts):
            value = np.stack([np.asarray(v) for _, v in parts])
        else:
            value = None
        stacked.append((deps, value))
    return carry + stacked


RULES: dict[str, Rule] = {"cond": _cond, "while": _while, "scan": _scan}
