"""The jaxpr interpreter of sparsity detection: walks a jaxpr equation by equation over :mod:`.deps`.

Every variable carries a :data:`Val`: the input elements each of its elements may depend on (None:
no dependency) and, where it is computed from constants only, its concrete value. An equation whose
inputs are all concrete is evaluated; any other is handed to its primitive's :data:`Rule`, looked up
in the table the interpreter is given (:mod:`.jaxpr` assembles it from the rule modules). Calls
(``jit``, ``custom_jvp_call``, ...) are interpreted in place, and a primitive without a rule is
dense. Also here: the helpers on variables and dependencies that the rules share.

JAX is imported inside the functions that need it only.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import deps as _deps
from .deps import Deps, HessianPairs
from .jaxpr_numpy import MOVES, VALUES

# A variable: its dependencies (None: none) and its concrete value (None: not known before the input is).
Val = tuple[Deps | None, Any]
UNKNOWN: Val = (None, None)

# The interpreter counts its work (what loop unrolling is budgeted in): an equation costs 1, plus 1 per
# _NNZ_UNIT dependencies it produces.
_NNZ_UNIT = 256

_WARNED: set[str] = set()


def inexact(aval: Any) -> bool:
    """Only floating and complex values carry derivatives: integers, booleans and keys are constants."""
    return _dtype_kind(aval.dtype) in "fc"


def _numeric(aval: Any) -> bool:
    return _dtype_kind(aval.dtype) in "biufc"


@functools.cache
def _dtype_kind(dtype: Any) -> str:
    """NumPy's kind letter of a dtype ('f' also for bfloat16 and the like), '-' for JAX's extended dtypes."""
    import jax

    try:
        if jax.dtypes.issubdtype(dtype, np.inexact):
            return "c" if jax.dtypes.issubdtype(dtype, np.complexfloating) else "f"
        return np.dtype(dtype).kind
    except TypeError:
        return "-"


def var_shape(var: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in var.aval.shape)


@functools.cache
def _jaxpr_types() -> tuple[type, type]:
    from jax.extend.core import DropVar, Literal

    return Literal, DropVar


def _is_literal(var: Any) -> bool:
    return isinstance(var, _jaxpr_types()[0])


def _is_drop(var: Any) -> bool:
    return isinstance(var, _jaxpr_types()[1])


def rows_of(d: Deps | None, size: int, n: int) -> sp.csr_array:
    return sp.csr_array((size, n), dtype=bool) if d is None else d.rows


def stack(parts: Sequence[Deps | None], sizes: Sequence[int], n: int) -> Deps:
    """The rows of several arrays one after the other, as the dependencies of one flat array."""
    if len(parts) == 1 and parts[0] is not None:
        return Deps(parts[0].rows, (parts[0].size,))
    rows = sp.vstack([rows_of(p, s, n) for p, s in zip(parts, sizes)], format="csr")
    return Deps(sp.csr_array(rows), (sum(sizes),))


def total(parts: Sequence[Deps | None], n: int) -> Deps | None:
    """Everything any of `parts` depends on, as a scalar."""
    present = [_deps.reduce(p, range(len(p.shape))) for p in parts if p is not None]
    return _deps.union(present, (), n) if present else None


def whole(parts: Sequence[Deps | None], shape: tuple[int, ...], n: int) -> Deps | None:
    """Every element of `shape` depends on everything any of `parts` depends on."""
    everything = total(parts, n)
    return None if everything is None else _deps.broadcast(everything, shape)


_CALLS = frozenset(
    {
        "jit",
        "pjit",
        "closed_call",
        "core_call",
        "remat",
        "remat2",
        "checkpoint",
        "custom_jvp_call",
        "custom_vjp_call",
        "custom_vjp_call_jaxpr",
        "named_call",
        "xla_call",
    }
)


# Known to couple everything with everything (dense linear algebra): dense without a warning.
_DENSE = frozenset(
    {
        "cholesky",
        "cholesky_update",
        "eig",
        "eigh",
        "geqp3",
        "geqrf",
        "hessenberg",
        "householder_product",
        "lu",
        "qr",
        "schur",
        "svd",
        "symmetric_product",
        "triangular_solve",
        "tridiagonal",
        "tridiagonal_solve",
        "ormqr",
        "custom_linear_solve",
        "select_and_scatter_add",
        "select_and_gather_add",
    }
)


class Interpreter:
    """Walks jaxprs, mapping each variable to its (dependencies, concrete value)."""

    def __init__(self, n: int, pairs: HessianPairs | None, rules: Mapping[str, Rule]) -> None:
        self.n = n
        self.pairs = pairs
        self.rules = rules  # by primitive name
        self.work = 0  # equations interpreted so far, weighted: what loop unrolling is budgeted in
        self._live_cache: dict[tuple[int, tuple[bool, ...]], list[tuple[Any, tuple[bool, ...]]]] = {}

    @contextlib.contextmanager
    def first_order(self) -> Iterator[None]:
        """Fixed-point sweeps collect no second order: the final sweep over the converged carry does."""
        pairs, self.pairs = self.pairs, None
        try:
            yield
        finally:
            self.pairs = pairs

    def run(
        self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Val], needed: Sequence[bool] | None = None
    ) -> list[Val]:
        """The (dependencies, value) of each output of `jaxpr`; outputs not `needed` may come back unknown."""
        env: dict[Any, Val] = {}
        for var, value in zip(jaxpr.constvars, consts):
            env[var] = (None, value)
        for var, arg in zip(jaxpr.invars, args):
            env[var] = arg

        def read(var: Any) -> Val:
            if _is_literal(var):
                return (None, _literal(var))
            return env.get(var, UNKNOWN)

        for eqn, outs_needed in self._live(jaxpr, needed):
            outs = self.equation(eqn, [read(v) for v in eqn.invars], outs_needed)
            self.work += 1 + sum(d.rows.nnz for d, _ in outs if d is not None) // _NNZ_UNIT
            for var, out in zip(eqn.outvars, outs):
                if not _is_drop(var):
                    env[var] = out
        return [read(v) for v in jaxpr.outvars]

    def _live(self, jaxpr: Any, needed: Sequence[bool] | None) -> list[tuple[Any, tuple[bool, ...]]]:
        """The equations some needed output depends on, each with which of its outputs are needed."""
        mask = tuple(True for _ in jaxpr.outvars) if needed is None else tuple(bool(b) for b in needed)
        key = (id(jaxpr), mask)
        if key in self._live_cache:
            return self._live_cache[key]
        wanted = {v for v, b in zip(jaxpr.outvars, mask) if b and not _is_literal(v)}
        live = []
        for eqn in reversed(jaxpr.eqns):
            outs = tuple(not _is_drop(v) and v in wanted for v in eqn.outvars)
            if any(outs):
                live.append((eqn, outs))
                wanted.update(v for v in eqn.invars if not _is_literal(v))
        live.reverse()
        self._live_cache[key] = live
        return live

    def equation(self, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
        """One equation: concrete when all its inputs are, otherwise by its primitive's rule."""
        name = eqn.primitive.name
        if all(v is not None for _, v in ins):
            # Constants in, constants out: no dependency, and the value if it can be computed (calls by
            # interpreting them: small index arithmetic is faster in NumPy than dispatched to XLA).
            if name in _CALLS and not eqn.effects and _inner(eqn) is not None:
                return _interpret_call(self, eqn, ins, needed)
            values = None if eqn.effects else _evaluate(eqn, [v for _, v in ins])
            return [(None, v) for v in values] if values is not None else [UNKNOWN] * len(eqn.outvars)
        rule = self.rules.get(name)
        if rule is None:
            if name in _CALLS and _inner(eqn) is not None:
                rule = _interpret_call
            else:
                rule = dense
        outs = rule(self, eqn, ins, needed)
        return [(d if d is not None and inexact(v.aval) else None, value) for (d, value), v in zip(outs, eqn.outvars)]


def _literal(var: Any) -> Any:
    value = var.val
    return np.asarray(value, dtype=var.aval.dtype) if _numeric(var.aval) else value


def _evaluate(eqn: Any, values: list[Any]) -> list[Any] | None:
    """The outputs of `eqn` on concrete inputs (None when they cannot be computed here)."""
    name = eqn.primitive.name
    fast = MOVES.get(name) or VALUES.get(name)
    if fast is not None and all(_numeric(v.aval) for v in (*eqn.invars, *eqn.outvars)):
        try:
            outs = fast(eqn.params, *(np.asarray(v) for v in values))
            return [np.asarray(o, dtype=v.aval.dtype) for o, v in zip(outs, eqn.outvars)]
        except Exception:  # any surprise: let JAX compute it
            pass
    try:
        result = eqn.primitive.bind(*values, **eqn.params)
    except Exception:  # unknown value: the rules stay conservative without it
        return None
    outs = list(result) if eqn.primitive.multiple_results else [result]
    return [np.asarray(o) if _numeric(v.aval) else o for o, v in zip(outs, eqn.outvars)]


# ---- rules: each takes (interpreter, equation, inputs, needed outputs) and returns the outputs' Vals.

Rule = Callable[[Interpreter, Any, list[Val], Sequence[bool]], list[Val]]


def dense(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """Every output element depends on every input element (a nonlinear function of all of them)."""
    name = eqn.primitive.name
    if name not in _DENSE and name not in _WARNED:
        _WARNED.add(name)
        warnings.warn(
            f"sparsity detection: unknown primitive {name!r} is treated as dense (every output element "
            "depends on every input element)",
            stacklevel=4,
        )
    everything = total([d for d, _ in ins], it.n)
    if it.pairs is not None:
        it.pairs.square(everything)
    return [(None if everything is None else _deps.broadcast(everything, var_shape(v)), None) for v in eqn.outvars]


# The rule of the primitives known to be dense.
DENSE_RULES: dict[str, Rule] = dict.fromkeys(_DENSE, dense)


def _inner(eqn: Any) -> tuple[Any, list[Any]] | None:
    """The jaxpr a call-like primitive runs, with its constants (None if it has none we understand)."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        inner = eqn.params.get(key)
        if inner is None:
            continue
        jaxpr, consts = (inner.jaxpr, list(inner.consts)) if hasattr(inner, "consts") else (inner, [])
        if hasattr(jaxpr, "eqns") and len(jaxpr.invars) == len(eqn.invars) and len(jaxpr.outvars) == len(eqn.outvars):
            return jaxpr, consts
    return None


def _interpret_call(it: Interpreter, eqn: Any, ins: list[Val], needed: Sequence[bool]) -> list[Val]:
    """A call-like primitive (``jit``, ``custom_jvp_call``, ...): the jaxpr it calls, interpreted in place."""
    jaxpr, consts = _inner(eqn)  # type: ignore[misc]
    return it.run(jaxpr, consts, ins, needed)
