"""Compiling with a fallback: an engine's compiled operator that runs eagerly, for good and after one
warning, once the engine says it cannot compile `f` (the three compiling engines share it)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

from . import _errors


class Fallback:
    """``compiled(*args)``; where it raises one of `cannot_compile`, ``fn(*args)`` now and from then on.

    The first fallback warns once, a :class:`CompileFallbackWarning` with ``message(error)``, pointing at
    the first frame outside abstractad and the packages `skip`. A genuine error of `f` propagates from
    the eager run, unchanged, and nothing is remembered.

    >>> def compiled(x):
    ...     raise NotImplementedError("no compiler here")
    >>> run = Fallback(lambda x: x + 1, compiled, (NotImplementedError,), lambda e: f"eagerly: {e}")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     run(1), run(2), len(caught), run.eager
    (2, 3, 1, True)
    """

    def __init__(
        self,
        fn: Callable,
        compiled: Callable,
        cannot_compile: tuple[type[BaseException], ...],
        message: Callable[[BaseException], str],
        skip: tuple[str, ...] = (),
    ) -> None:
        self.fn, self.compiled, self.cannot_compile = fn, compiled, cannot_compile
        self.message, self.skip = message, skip
        self.eager = False
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        if self.eager:
            return self.fn(*args)
        try:
            return self.compiled(*args)
        except self.cannot_compile as e:
            reason = e
        out = self.fn(*args)  # eager; if it fails too, its own error propagates and nothing is remembered
        with self._lock:
            first, self.eager = not self.eager, True
        if first:
            warnings.warn(
                self.message(reason), _errors.CompileFallbackWarning, stacklevel=_errors.user_stacklevel(*self.skip)
            )
        return out
