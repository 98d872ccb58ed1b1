"""The operators as data: what each derives, the structure of its results, its seeds. The public
functions and ``prepare`` both read this table, so an operator is defined once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from . import _arrays, _derive, _errors, _tree
from ._backend import Backend, LRUCache, default_backend_name
from ._bridge import constant_key, differentiate_with
from ._call import Arguments, Plan, WithAux, WithKeywords
from ._convert import plain_tensor
from ._structure import BATCH_IN, BATCH_OUT, HESS, IN, JAC, OUT


def _first(derive: Callable) -> Callable:
    def first(b: Backend, f: Callable, x: Any, *rest: Any) -> tuple[Any]:
        return (derive(b, f, x, *rest),)

    return first


@dataclasses.dataclass(frozen=True)
class Spec:
    """One operator: ``derive(b, f, x, *seeds, *static)`` returns `results`; `keep` picks one of them."""

    name: str  # the cache's name: value_and_X shares X's compiled operator when keep is None
    derive: Callable[..., Any]
    results: tuple[str, ...]
    seed_kinds: tuple[str, ...] = ()
    keep: int | None = None
    chunked: bool = False  # takes chunk_size
    ordered: bool = False  # takes order (taylor): order + 1 results of the kind of results[0]
    checked: bool = True  # among ad.check's operators

    @property
    def seeds(self) -> int:
        return len(self.seed_kinds)

    def plan(self, f: Callable, x: Any, seeds: Sequence[Any], args: Sequence[Any], backend: Any, option: Any) -> Plan:
        """This operator's plan for these arguments: the backend's own where it prepares the operator
        itself (Backend.prepare_operator: Sparse's Jacobians and Hessians), else the generic one.
        `option` is the operator's static option: chunk_size for a chunked one, order for an ordered one."""
        if self.ordered:
            option = check_order(self.name, option)
        arguments = Arguments(self.name, f, x, seeds, args, backend, self.seed_kinds)
        static = (option,) if self.chunked or self.ordered else ()
        own = arguments.b.prepare_operator(self, arguments, static)
        if own is not None:
            return own
        results = self.results * (option + 1) if self.ordered else self.results
        return Plan(self.name, self.derive, arguments, results=results, static=static, keep=self.keep)

    def finish(self, out: tuple[Any, ...], has_aux: bool = False) -> Any:
        """The public result: one value where the operator returns one, else the tuple. With has_aux (aux
        last in `out`), as JAX's: ``(result, aux)``, and ``((value, aux), result...)`` for value_and_*."""
        if not has_aux:
            return out[0] if len(out) == 1 else out
        *results, aux = out
        if len(results) == 1:
            return results[0], aux
        return ((results[0], aux), *results[1:])


def check_order(operator: str, order: Any) -> int:
    """`order` as an int ≥ 0: a TypeError for a non-integer, a ValueError for a negative one."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"{operator} needs order=, an integer ≥ 0, not {order!r}")
    if order < 0:
        raise ValueError(f"{operator} needs order ≥ 0, not {order}")
    return int(order)


_jvp = dict(derive=_derive.value_and_jvp, results=(OUT, OUT), seed_kinds=(IN,))
_vjp = dict(derive=_derive.value_and_vjp, results=(OUT, IN), seed_kinds=(OUT,))
_derivative = dict(derive=_derive.value_and_derivative, results=(OUT, OUT))
_gradient = dict(derive=_derive.value_and_gradient, results=(OUT, IN))
_jacobian = dict(derive=_derive.jacobian, results=(OUT, JAC), chunked=True)
_hessian = dict(derive=_derive.gradient_and_hessian, results=(IN, HESS), chunked=True)

SPECS: dict[str, Spec] = {
    "value_and_jvp": Spec("jvp", **_jvp),
    "jvp": Spec("jvp", **_jvp, keep=1),
    "value_and_vjp": Spec("vjp", **_vjp),
    "vjp": Spec("vjp", **_vjp, keep=1),
    "value_and_derivative": Spec("derivative", **_derivative),
    "derivative": Spec("derivative", **_derivative, keep=1),
    "value_and_gradient": Spec("gradient", **_gradient),
    "gradient": Spec("gradient", **_gradient, keep=1),
    "value_and_jacobian": Spec("jacobian", **_jacobian),
    "jacobian": Spec("jacobian", **_jacobian, keep=1),
    "hvp": Spec("hvp", _first(_derive.hvp), (IN,), (IN,)),
    "hessian": Spec("hessian", **_hessian, keep=1),
    "value_gradient_and_hessian": Spec(
        "value_gradient_and_hessian", _derive.value_gradient_and_hessian, (OUT, IN, HESS), chunked=True
    ),
    "second_derivative": Spec("second_derivative", _first(_derive.second_derivative), (OUT,)),
    "taylor": Spec("taylor", _derive.taylor, (OUT,), (IN,), ordered=True, checked=False),
    "laplacian": Spec("laplacian", _first(_derive.laplacian), (OUT,), checked=False),
}


# Batches of products for lazy operators' matmat (not public operators): seeds stacked on a leading axis.
BATCHED: dict[str, Spec] = {
    "jvps": Spec("jvps", _derive.batched_jvp, (OUT, OUT), (BATCH_IN,), keep=1),
    "vjps": Spec("vjps", _derive.batched_vjp, (OUT, IN), (BATCH_OUT,), keep=1),
    "hvps": Spec("hvps", _first(_derive.batched_hvp), (IN,), (BATCH_IN,)),
}
# What `apply` runs: the public operators and the batches.
OPERATIONS: dict[str, Spec] = {**SPECS, **BATCHED}


# Plans of unprepared calls, by what determines them: the operator, f, the backend and the types,
# shapes, dtypes and devices of the arguments. Bounded, so fresh closures in a loop do not grow it.
PLANS = LRUCache(256)


class _Uncacheable(Exception):
    pass


def _key_of(a: Any) -> Hashable:
    """What a plan depends on in an argument; _Uncacheable for an unhashable non-array value."""
    kind = type(a)
    if kind is np.ndarray:  # the SciPy user's x, first
        return (kind, a.shape, a.dtype)
    lib = _arrays.library_of(a)
    if lib is not None:
        return _arrays.plan_key(a, lib)
    if isinstance(a, (float, int, complex, str, bool)) or a is None:
        return (kind, a)
    if isinstance(a, (tuple, list, dict)):
        leaves, spec = _tree.flatten(a)
        return (spec, tuple(_key_of(leaf) for leaf in leaves))
    try:
        hash(a)
    except TypeError:
        raise _Uncacheable from None
    return (kind, a)


def apply(
    operator: str,
    f: Callable,
    x: Any,
    seeds: Sequence[Any],
    args: Sequence[Any],
    backend: Any,
    option: Any = None,
    has_aux: bool = False,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Run the operator called `operator` (what every public operator function does), through a
    plan kept per function, backend and argument signature: a repeated call skips the analysis.
    Keyword constants (`kwargs`) reach `f` unchanged; with `has_aux`, `f` returns ``(output, aux)``.
    `option` is the operator's static option (chunk_size, or taylor's order): part of the plan's key."""
    try:
        if kwargs or has_aux:
            f, args = wrap(f, args, has_aux, kwargs)
        try:
            # A flat tuple (hashed once, by the look-up): the operator, f, the backend and each argument's signature.
            if seeds or args:
                key = (operator, f, backend, option, len(seeds), _key_of(x), *map(_key_of, seeds), *map(_key_of, args))
            else:
                key = (operator, f, backend, option, 0, _key_of(x))
            plan = PLANS.get(key)
        except (_Uncacheable, TypeError):
            key = plan = None
        if plan is not None:
            if plan.advice is not None:
                plan.counted()
            if plan.fast:  # every array is the engine's own: straight to the (compiled) operator
                return plan.fast(x, *seeds, *args)
        out = _apply(operator, f, x, seeds, args, backend, option, key, plan)
        return OPERATIONS[operator].finish(_results(out), True) if has_aux else out
    except Exception as e:
        _errors.add_hint(e)
        if backend is None:  # the default engine: f may be written for another one
            _errors.add_library_hint(e, default_backend_name(x if _tree.is_leaf(x) else _tree.flatten(x)[0][0]))
        raise


def _apply(
    operator: str,
    f: Callable,
    x: Any,
    seeds: Sequence[Any],
    args: Sequence[Any],
    backend: Any,
    option: Any,
    key: Hashable | None,
    plan: Plan | None,
) -> Any:
    """The call of `apply` that is not a direct one: through the plan found for `key`, a new one (kept
    for `key`), or an unkept one where the arguments have no key."""
    spec = OPERATIONS[operator]
    if key is None:
        return spec.finish(spec.plan(f, x, seeds, args, backend, option).call(x, seeds, args))
    if plan is None:
        plan = spec.plan(f, x, seeds, args, backend, option)
        PLANS.put(key, plan)
    if plan.outers and plan.recorded(x, seeds, args):
        return _bridged(operator, f, x, seeds, args, plan.b, option)
    out = plan.call(x, seeds, args)
    return out[0] if len(out) == 1 else out


def wrap(f: Callable, args: Sequence[Any], has_aux: bool, kwargs: dict[str, Any] | None) -> tuple[Callable, tuple]:
    """`f` and its constants for keyword constants (one more constant, a dict) and has_aux."""
    if not callable(f):
        raise TypeError(f"an operator needs a callable f, not {type(f).__name__}")
    if kwargs:
        f, args = WithKeywords(f), (*args, dict(kwargs))
    if has_aux:
        f = WithAux(f)
    return f, tuple(args)


def _results(out: Any) -> tuple[Any, ...]:
    """`_apply`'s return as the tuple of the plan's results (one result comes back unwrapped)."""
    return out if isinstance(out, tuple) else (out,)


# The operators that another engine differentiates (see _bridged), by operator, f, backend and the
# structure and non-array values of the constants.
_BRIDGED = LRUCache(64)


def _bridged(
    operator: str, f: Callable, x: Any, seeds: Sequence[Any], args: Sequence[Any], b: Backend, option: Any
) -> Any:
    """The operator as a primitive of the engine that traces or records its arguments: a bridge
    (``differentiate_with``) to `b` of the operator itself, whose derivatives `b` computes by
    differentiating through its own operator. x, the seeds and the array constants cross it."""
    leaves, spec = _tree.flatten(tuple(args))
    slots = [i for i, a in enumerate(leaves) if _arrays.is_array(a)]
    fixed = tuple((i, constant_key(a)) for i, a in enumerate(leaves) if i not in slots)
    key = (operator, f, b, option, len(seeds), spec, fixed)

    def build() -> Callable:
        template, rebuild = list(leaves), _tree.rebuilder(spec)

        def inner(x: Any, seeds: tuple, arrays: tuple) -> Any:
            filled = list(template)
            for i, a in zip(slots, arrays):
                filled[i] = a
            return apply(operator, f, x, seeds, rebuild(filled) if filled else (), b, option)

        inner.__name__ = f"{operator}_of_{getattr(f, '__name__', 'f')}"
        return differentiate_with(inner, b)

    return _BRIDGED.get_or_build(key, build)(x, tuple(seeds), tuple(leaves[i] for i in slots))


# ---------------------------------------------------------------------------- prepare


def _prepared_signature(a: Any, constant: bool = False) -> tuple:
    """What a prepared operator requires of an argument: type, shape and dtype of each array; the
    value itself of a non-array constant (a Python float `x` or seed is an array, a float constant
    is a value: the operator was built with it)."""
    if _tree.is_leaf(a):
        if _arrays.is_array(a) or (not constant and isinstance(a, (float, complex))):
            return ("array", type(a), _arrays.shape_of(a), _arrays.dtype_name(a))
        return ("value", a)
    leaves, spec = _tree.flatten(a)
    return ("tree", spec, tuple(_prepared_signature(leaf, constant) for leaf in leaves))


def _describe(sig: tuple) -> str:
    if sig[0] == "array":
        return f"{sig[1].__name__} of shape {sig[2]} and dtype {sig[3]}"
    if sig[0] == "value":
        return repr(sig[1])
    return f"a pytree {sig[1]} of " + ", ".join(_describe(s) for s in sig[2])


def _same(sig: tuple, a: Any) -> bool:
    if sig[0] == "array":
        return type(a) is sig[1] and _arrays.shape_of(a) == sig[2] and _arrays.dtype_name(a) == sig[3]
    if sig[0] == "value":
        return a is sig[1] or (type(a) is type(sig[1]) and bool(a == sig[1]))
    if _tree.is_leaf(a):
        return False
    leaves, spec = _tree.flatten(a)
    return spec == sig[1] and len(leaves) == len(sig[2]) and all(map(_same, sig[2], leaves))


class Prepared:
    """An operator bound to one function and one set of shapes and dtypes: see :func:`prepare`."""

    def __init__(
        self,
        name: str,
        f: Callable,
        x: Any,
        args: tuple,
        backend: Any,
        option: Any,
        has_aux: bool = False,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        spec = SPECS[name]
        self._kwargs, self._has_aux = dict(kwargs or {}), has_aux
        if kwargs or has_aux:
            f, wrapped = wrap(f, args, has_aux, kwargs)
            args = wrapped
        if len(args) < spec.seeds:
            raise TypeError(f"prepare({name!r}, f, x, ...) needs the seed (v or w) after x, as {name} does")
        seeds, consts = args[: spec.seeds], args[spec.seeds :]
        self._name, self._spec = name, spec
        self._plan = spec.plan(f, x, seeds, consts, backend, option)
        if self._plan.recording is not None:  # later calls may pass tensors that require grad (see Plan)
            self._plan.call = self._plan._recording_call  # type: ignore[method-assign]
        seeds_and_constants = (_prepared_signature(a, i >= spec.seeds) for i, a in enumerate(args))
        self._signatures = [_prepared_signature(x), *seeds_and_constants]
        self.backend = self._plan.b
        self._direct = self._plan.signature  # what a direct call takes: learned from (x, *seeds, *constants)
        self._fast: Callable[..., Any] | None = None
        self._counted = self._plan.counted if self._plan.advice is not None else None

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if kwargs or self._kwargs:  # keyword constants: the prepared ones, updated by this call's
                if not self._kwargs:
                    raise TypeError(
                        f"prepared {self._name} was prepared without keyword constants: pass them to prepare too"
                    )
                args = (*args, {**self._kwargs, **kwargs})
            if self._counted is not None:
                self._counted()
            fast = self._fast
            if fast is not None:
                return fast(x, *args)
            return self._first_calls(x, args)
        except Exception as e:
            _errors.add_hint(e)
            raise

    def _first_calls(self, x: Any, args: tuple) -> Any:
        out = self._checked_call(x, args)
        plan, direct = self._plan, self._direct
        if direct is not None and plan.fast and plan.fast_leaves is not None:
            leaves = (x, *args) if direct.spec is None else _tree.flatten((x, *args))[0]
            if self._matches_direct(leaves):
                # The first call has taught the plan f(x)'s structure: from now on, calls whose arrays
                # match go straight to the (compiled) operator.
                self._fast = self._fast_path(plan.fast_leaves)
        return out

    def _matches_direct(self, leaves: Sequence[Any]) -> bool:
        """Whether the leaves of (x, *args) are what the direct call was prepared with."""
        direct = self._direct
        assert direct is not None
        return (
            len(leaves) == direct.count
            and all(
                type(a) is kind
                and a.shape == shape
                and a.dtype == dtype
                and (device is None or (a.device == device and plain_tensor(a)))
                for (kind, shape, dtype, device), a in zip(direct.arrays, map(leaves.__getitem__, direct.take))
            )
            and all((a := leaves[i]) is v or (type(a) is type(v) and bool(a == v)) for i, v in direct.fixed)
        )

    def _fast_path(self, direct: Callable[..., Any]) -> Callable[..., Any]:
        """A closure that checks the arrays against the prepared ones and calls the operator (the
        scope only where the backend needs one: JAX's float64 switch)."""
        slow, signature = self._checked_call, self._direct
        assert signature is not None
        matches, arrays = self._matches_direct, signature.arrays
        if signature.spec is not None:  # pytrees, or constants that are not arrays: one flatten, one check
            spec, take = signature.spec, signature.take

            def leaves(*values: Any) -> Any:
                found, structure = _tree.flatten(values)
                if structure == spec and matches(found):
                    return direct(*[found[i] for i in take])
                return slow(values[0], values[1:])

            return leaves
        if len(arrays) == 1 and arrays[0][3] is None:
            ((kind, shape, dtype_, _),) = arrays

            def one(x: Any, *args: Any) -> Any:
                if not args and type(x) is kind and x.shape == shape and x.dtype == dtype_:
                    return direct(x)
                return slow(x, args)

            return one
        if len(arrays) == 2 and arrays[0][3] is None and arrays[1][3] is None:
            ((k1, s1, d1, _), (k2, s2, d2, _)) = arrays

            def two(x: Any, *args: Any) -> Any:
                if len(args) == 1:
                    v = args[0]
                    if type(x) is k1 and type(v) is k2 and x.shape == s1 and v.shape == s2:
                        if x.dtype == d1 and v.dtype == d2:
                            return direct(x, v)
                return slow(x, args)

            return two

        def many(*values: Any) -> Any:
            return direct(*values) if matches(values) else slow(values[0], values[1:])

        return many

    def _checked_call(self, x: Any, args: tuple) -> Any:
        """The plan's call, after checking the arguments against the prepared signatures."""
        n = self._spec.seeds
        if len(args) + 1 != len(self._signatures):
            raise TypeError(
                f"prepared {self._name} takes {len(self._signatures)} arguments (x, seeds and constants), "
                f"as it was prepared with; got {len(args) + 1}"
            )
        if not _same(self._signatures[0], x):
            self._mismatch("x", self._signatures[0], x)
        for i, (sig, a) in enumerate(zip(self._signatures[1:], args)):
            if not _same(sig, a):
                seed = "the tangent v" if self._spec.seed_kinds[:1] == (IN,) else "the cotangent w"
                self._mismatch(seed if i < n else f"constant {i - n + 1}", sig, a)
        return self._spec.finish(self._plan.call(x, args[:n], args[n:]), self._has_aux)

    def _mismatch(self, what: str, sig: tuple, a: Any) -> None:
        got = _prepared_signature(a, what.startswith("constant"))
        message = (
            f"prepared {self._name}: {what} was prepared as {_describe(sig)}, but this call passes "
            f"{_describe(got)}. Prepare again for new shapes, dtypes or structures."
        )
        if sig[0] == got[0] == "array" and sig[1] is got[1] and sig[3] == got[3]:
            raise ValueError(message)  # only the shape differs
        if (sig[0] == got[0] == "tree" and sig[1] == got[1]) or sig[0] == "value":
            raise ValueError(message)  # the shapes of leaves, or a non-array constant, changed
        raise TypeError(message)

    def __repr__(self) -> str:
        return f"<prepared {self._name} on {self.backend!r} for x: {_describe(self._signatures[0])}>"


def prepare(
    operator: str | Callable,
    f: Callable,
    x: Any,
    *args: Any,
    backend: Any = None,
    chunk_size: Any = None,
    has_aux: bool = False,
    **kwargs: Any,
) -> Prepared:
    """`operator` bound to `f` and to the shapes, dtypes and structures of `x`, seeds and constants.

    The result is called like the operator without `f` — ``prepared(x, *args)``, seeds first, as in
    ``prepare("jvp", f, x, v, a)(x2, v2, a2)`` — and skips the backend's resolution, the structure
    analysis, and the compiled-operator cache look-up that an unprepared call pays on each call
    (DifferentiationInterface's preparation). Each call checks that the arguments match what it
    was prepared with (array type, shape and dtype; non-array constants equal) and raises a
    ValueError (shapes) or TypeError (types, dtypes) otherwise. `operator` is a name ("gradient")
    or the operator function itself (``ad.gradient``).

    >>> import numpy as np, abstractad as ad
    >>> grad = ad.prepare("gradient", lambda x: (x ** 2).sum(), np.zeros(3), backend="autograd")
    >>> grad(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    >>> grad(np.zeros(4))
    Traceback (most recent call last):
    ValueError: prepared gradient: x was prepared as ndarray of shape (3,) and dtype float64, but ...
    """
    name = operator if isinstance(operator, str) else getattr(operator, "__name__", None)
    if name not in SPECS:
        raise ValueError(f"prepare: unknown operator {operator!r}; choose from {sorted(SPECS)}")
    if not callable(f):
        raise TypeError(f"prepare needs a callable f, not {type(f).__name__}")
    option = chunk_size
    if SPECS[name].ordered:  # taylor's order: its static option, not a keyword constant of f
        if chunk_size is not None:
            raise TypeError(f"prepare({name!r}, ...) takes order=, not chunk_size=")
        option = check_order(name, kwargs.pop("order", None))
        if option == 0:
            return _OneTerm(name, f, x, args, backend, option, has_aux, kwargs)
    return Prepared(name, f, x, args, backend, option, has_aux, kwargs)


class _OneTerm(Prepared):
    """A prepared taylor of order 0: its one result in a tuple, as ad.taylor returns it."""

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return (super().__call__(x, *args, **kwargs),)
