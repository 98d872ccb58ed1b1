"""A plan's direct call: once a first call has taught a plan f(x)'s structure, later calls whose
arrays are already the engine's own (or NumPy float arrays it takes or converts without a copy) go
straight to the (compiled) operator and back, without the plan's conversions and analyses.

Pytrees take it too where the operator gets x's leaves as they are (tree form, see _call): the
arguments (x, the seeds and the constants) are flattened once, the arrays among their leaves are the
operator's flat arguments, and the results are rebuilt in x's or f(x)'s structure. What such a call
takes is a :class:`Signature`; an unprepared call's plan key already holds it, and a prepared call
checks it (see ``_operators.Prepared``)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _arrays, _tree
from ._backend import Backend
from ._convert import engine_library, numpy_float, numpy_results, plain_tensor
from ._structure import IN, OUT

# The functions below take a ``_call.Plan`` (typed Any here: _call imports this module).
Plan = Any


class Signature(NamedTuple):
    """What a plan's direct call takes: the structure of its arguments (x, the seeds and the
    constants; None where each is one array) and the count of their leaves; the ``(type, shape,
    dtype, device)`` of each array among them; where those arrays are among the leaves (the
    operator's flat arguments, in order); the other leaves, constants' values, by index."""

    spec: Any
    arrays: tuple[tuple[Any, Any, Any, Any], ...]
    take: tuple[int, ...]
    fixed: tuple[tuple[int, Any], ...]
    count: int


def signature(plan: Plan, values: Sequence[Any]) -> Signature | None:
    """The Signature of a direct call of `plan` with arguments like `values` (x, the seeds, the
    constants): where every array among their leaves is the engine's own (on the backend's device),
    or a NumPy float array the engine takes or converts without a copy, and the operator takes x and
    each seed as they are (one array, or its leaves in tree form): results then need no conversion."""
    point = plan.point
    if point.layout is not None and not point.tree:
        return None
    if any(layout is not None and count is None for layout, count in zip(plan.seed_layouts, plan.seed_counts)):
        return None  # a raveled seed
    spec = None
    leaves: Sequence[Any] = values
    if not all(map(_arrays.is_array, values)):
        leaves, spec = _tree.flatten(tuple(values))
    # x's and the seeds' leaves come first: each must be an array (a Python float x is converted).
    count = (plan.x_count or 1) + sum(1 if c is None else c for c in plan.seed_counts)
    b = plan.b
    lib = engine_library(b)
    # NumPy float arrays go straight in (jax.jit), or through the backend's asarray (zero copy on torch).
    numpy = plan.numpy_direct and lib != "numpy"
    arrays, take, fixed = [], [], []
    for i, a in enumerate(leaves):
        if i >= count and not _arrays.is_array(a):
            fixed.append((i, a))  # a constant's value: part of the plan
            continue
        take.append(i)
        if numpy and numpy_float(a):
            arrays.append((np.ndarray, a.shape, a.dtype, None))
            continue
        if _arrays.library_of(a) != lib or lib == "numpy" or not hasattr(a, "shape"):
            return None
        device = _arrays.home_device(a)
        if device is not None and (device != b.asarray(a).device or not plain_tensor(a)):
            return None
        arrays.append((type(a), a.shape, a.dtype, device))
    return Signature(spec, tuple(arrays), tuple(take), tuple(fixed), len(leaves))


def learn(plan: Plan) -> tuple[Callable[..., Any] | bool, Callable[..., Any] | None]:
    """After a call of `plan`: the direct call over (x, *seeds, *constants), and over the operator's
    flat arrays (what a prepared call runs once it has checked them), each inside the backend's scope
    where it has one; ``(False, None)`` where the plan has no direct call."""
    direct = None if plan.has_aux else plan.direct()
    numpy_out = plan.point.info.library == "numpy"
    if direct is None or (numpy_out and (plan.point.layout is not None or plan.output.layout is not None)):
        return False, None  # NumPy pytrees in or out take the plan's call
    b, one = plan.b, len(plan.kinds) == 1
    if plan.to_engine == (0,) and numpy_out and one:
        # The SciPy user's call (one NumPy x, one NumPy result): one closure.
        fn, asarray, back = plan.fn, b.asarray, numpy_results(engine_library(b))

        def direct(x: Any, *args: Any) -> Any:
            return back(fn(asarray(x), *args)[0][0])

        numpy_out = False
    elif plan.to_engine:  # NumPy arguments of an engine that does not take them: its asarray, one each
        engine, slots, asarray = direct, plan.to_engine, b.asarray

        def direct(*args: Any) -> Any:
            values = list(args)
            for i in slots:
                values[i] = asarray(values[i])
            return engine(*values)

    if numpy_out:  # NumPy in, NumPy out, writable (JAX's buffers are read-only)
        inner = direct
        back = np.array if b.takes_numpy else functools.partial(_arrays.restore_python, info=plan.point.info)
        if one and b.takes_numpy:  # one result: one closure around the operator itself
            fn = plan.fn

            def direct(*args: Any) -> Any:
                return back(fn(*args)[0][0])

        else:

            def direct(*args: Any) -> Any:
                out = inner(*args)
                return back(out) if one else tuple(back(r) for r in out)

    leaves = _scoped(b, plan.point.info.dtype, direct)
    assert plan.signature is not None
    if plan.signature.spec is None:
        return leaves, leaves
    take = plan.signature.take  # pytrees or non-array constants: one flatten finds the arrays

    def among_leaves(*values: Any) -> Any:
        found = _tree.flatten(values)[0]  # their signatures are the plan's (its key, or a prepared check)
        return leaves(*[found[i] for i in take])

    return among_leaves, leaves


def _scoped(b: Backend, dtype: str, direct: Callable[..., Any]) -> Callable[..., Any]:
    """`direct` inside the backend's scope, where it has one for `dtype`."""
    if not b.has_scope(dtype):
        return direct
    scope = b.scope

    def scoped(*args: Any) -> Any:
        # Asked on every call: the scope follows the engine's state (torch's inference mode, JAX's x64 flag).
        context = scope(dtype)
        if type(context) is contextlib.nullcontext:
            return direct(*args)
        with context:
            return direct(*args)

    return scoped


def results(plan: Plan) -> Callable[..., Any] | None:
    """The (compiled) operator of `plan` over its flat arguments (already the engine's arrays, or NumPy
    ones it takes, see takes_numpy) returning the public results: each as it is, or, in tree form,
    rebuilt from its leaves in x's or f(x)'s structure. None where a result's leaves are not the
    operator's own (a raveled pytree, a matrix of blocks). Valid once a call has taught the plan
    f(x)'s structure."""
    builds = [_rebuild(plan, kind) for kind in plan.kinds]
    if None in builds:
        return None
    fn = plan.fn
    if all(build is _first_leaf for build in builds):
        if len(builds) == 1:
            return lambda *args: fn(*args)[0][0]
        return lambda *args: tuple(r[0] for r in fn(*args))
    if len(builds) == 1:
        (one,) = builds
        return lambda *args: one(fn(*args)[0])  # type: ignore[misc]
    return lambda *args: tuple(build(r) for build, r in zip(builds, fn(*args)))  # type: ignore[misc]


def _rebuild(plan: Plan, kind: str) -> Callable[[Sequence[Any]], Any] | None:
    """How a direct call builds a result of `kind` from the operator's leaves; None where it cannot."""
    point, output = plan.point, plan.output
    if kind == IN:
        layout, leafwise = point.layout, point.tree
    elif kind == OUT:
        layout, leafwise = output.layout, output.tree
    else:
        layout, leafwise = (point.layout if point.layout is not None else output.layout), False
    if layout is None:
        return _first_leaf
    return layout.spec.unflatten if leafwise else None


def _first_leaf(leaves: Sequence[Any]) -> Any:
    return leaves[0]
