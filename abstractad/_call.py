"""Running a derived operator: resolve the backend, check and convert the inputs, compile if asked,
convert the results back to the user's library, dtype and device."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays
from ._backend import COMPILED, Backend, cache_key, resolve


def to_native(b: Backend, a: Any, info: _arrays.ArrayInfo | None = None) -> Any:
    """`a` (any library's array or a Python number) as the backend's array."""
    if not _arrays.is_array(a):
        a = np.asarray(a, dtype=info.dtype if info is not None and info.library == "python" else None)
    return b.asarray(a)


def run(
    operator: str,
    derive: Callable[..., Any],
    f: Callable,
    x: Any,
    seeds: Sequence[Any],
    args: Sequence[Any],
    backend: Backend | str | None,
    *,
    check_seeds: Callable[[_arrays.ArrayInfo], None] | None = None,
    static: tuple = (),
    keep: int | None = None,
) -> tuple[Any, ...]:
    """Call ``derive(b, fx, xn, *seeds, *static)`` on native arrays and bring the results back.

    ``fx`` is ``f`` with the constants ``args`` bound. Array constants are converted to the
    backend's arrays and, when the backend compiles, passed as traced arguments. ``keep=i`` returns
    only the i-th result, from inside the (compiled) operator, so that a compiler drops the work
    the others need (``gradient`` does not pay for ``f(x)``'s reduction).
    """
    if not callable(f):
        raise TypeError(f"{operator} needs a callable f, not {type(f).__name__}")
    info = _arrays.describe(x)
    if check_seeds is not None:
        check_seeds(info)
    b = resolve(backend, x)
    array_slots = [i for i, a in enumerate(args) if _arrays.is_array(a)]
    with b.scope(info.dtype):
        xn = to_native(b, x, info)
        seeds_n = [to_native(b, s) if s is not None else None for s in seeds]
        consts = [to_native(b, args[i]) for i in array_slots]
        n_seeds = len(seeds_n)

        def op(xn: Any, *rest: Any) -> Any:
            full = list(args)
            for slot, value in zip(array_slots, rest[n_seeds:]):
                full[slot] = value

            def fx(z: Any) -> Any:
                return f(z, *full)

            out = derive(b, fx, xn, *rest[:n_seeds], *static)
            return out if keep is None else (out[keep],)

        fn = op
        if b.compiles:
            key = (
                b,
                operator,
                keep,
                f,
                cache_key(xn),
                tuple(cache_key(s) for s in seeds_n),
                tuple(cache_key(a) for a in args),
                static,
            )
            fn = COMPILED.get_or_build(key, lambda: b.compile_operator(op) or op)
        out = fn(xn, *seeds_n, *consts)
    return tuple(_arrays.restore_python(o, info) for o in out)
