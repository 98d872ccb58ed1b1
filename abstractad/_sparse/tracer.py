"""Sparsity detection by tracing: run `f` once on arrays of index sets instead of numbers.

A :class:`Tracer` (:mod:`.tracer_array`) stands for an array whose values are unknown; it carries, for
each element, the set of inputs it may depend on (:mod:`.deps`). It speaks the Array API (what
``ad.array_namespace(x)`` returns for it: :mod:`.tracer_namespace`), NumPy's protocols (``np.sin(x)``,
``np.sum(x)``, so autograd's functions work) and PyTorch's (``torch.sin(x)``, ``torch.cat``). No value is
ever looked at, so the pattern holds for every input; Python control flow on values (``if x[0] > 0``)
cannot be traced and raises an error that says so.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import _arrays
from . import deps as _deps
from .tracer_array import HINT, Trace, Tracer
from .tracer_array import TraceError as TraceError
from .tracer_namespace import NAMESPACE as NAMESPACE
from .tracer_namespace import Namespace as Namespace


def _trace_run(f: Callable, x_shape: tuple[int, ...], dtype: str, second_order: bool) -> tuple[Any, Trace]:
    n = math.prod(x_shape)
    trace = Trace(n, second_order)
    x = Tracer(trace, _deps.identity(x_shape), x_shape, np.dtype(dtype) if dtype != "bfloat16" else np.float32)
    try:
        y = f(x)
    except TraceError:
        raise
    except (TypeError, AttributeError, NotImplementedError) as e:
        raise TraceError(
            f"sparsity detection could not run f on its index-set arrays: {type(e).__name__}: {e}. {HINT}"
        ) from e
    return y, trace


def _output(y: Any, trace: Trace) -> Tracer:
    if isinstance(y, Tracer):
        return y
    if isinstance(y, numbers.Number) or _arrays.is_array(y):
        a = np.asarray(y if not _arrays.is_array(y) else _arrays.to_numpy(y))
        return Tracer(trace, None, a.shape, a.dtype)
    raise TraceError(f"sparsity detection: f returned {type(y).__name__}, not an array; {HINT}")


def jacobian_pattern(f: Callable, shape: tuple[int, ...], dtype: str = "float64") -> sp.csr_array:
    """The global (m, n) Jacobian pattern of `f` at inputs of `shape`, by tracing index sets.

    >>> import abstractad as ad
    >>> def f(x):
    ...     xp = ad.array_namespace(x)
    ...     return x[1:] * xp.sin(x[:-1])
    >>> jacobian_pattern(f, (4,)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    y, trace = _trace_run(f, shape, dtype, False)
    out = _output(y, trace)
    return _deps.pattern(out.deps, out.size, trace.n)


def hessian_pattern(f: Callable, shape: tuple[int, ...], dtype: str = "float64") -> sp.csr_array:
    """The global (n, n) Hessian pattern of scalar-valued `f` at inputs of `shape`, by tracing.

    >>> import abstractad as ad
    >>> def f(x):
    ...     return (x[1:] * x[:-1]).sum() + (x ** 3).sum()
    >>> hessian_pattern(f, (3,)).toarray().astype(int)
    array([[1, 1, 0],
           [1, 1, 1],
           [0, 1, 1]])
    """
    y, trace = _trace_run(f, shape, dtype, True)
    out = _output(y, trace)
    if out.size != 1:
        raise ValueError(f"hessian needs f to return a scalar, but it returned shape {out.shape}")
    assert trace.pairs is not None
    rows = trace.pairs.pattern()
    rows.sum_duplicates()
    rows.sort_indices()
    return rows
