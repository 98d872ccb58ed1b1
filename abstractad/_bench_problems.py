"""The functions ``ad.benchmark`` times: scalar and vector test functions written against
``ad.array_namespace``, and a tanh MLP's loss over its parameters as a dict."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays

MLP_LAYERS = (784, 1024, 128, 10)  # 0.94M parameters


def sum_sin(x):
    """A scalar function: sum(sin(x) x²)."""
    xp = _arrays.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def chain(x):
    """A vector function, each output coupling neighbours: sin(x) * roll(x, 1) + x²."""
    xp = _arrays.array_namespace(x)
    return xp.sin(x) * xp.concat([x[-1:], x[:-1]]) + x**2


def rosenbrock(x):
    """The extended Rosenbrock function."""
    xp = _arrays.array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


PROBLEMS: dict[str, Callable[[Any], Any]] = {"sum_sin": sum_sin, "chain": chain, "rosenbrock": rosenbrock}


def mlp_loss(params: dict[str, Any], X: Any, y: Any) -> Any:
    """Mean squared error of a tanh MLP with parameters ``{"W1", "b1", "W2", "b2", ...}``."""
    xp = _arrays.array_namespace(X)
    h = X
    depth = len(params) // 2
    for i in range(1, depth + 1):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if i < depth:
            h = xp.tanh(h)
    return xp.mean((h - y) ** 2)


def mlp_numpy(layers: Sequence[int], batch: int, seed: int, dtype: Any = np.float32) -> tuple[dict, dict, Any, Any]:
    """(params, v, X, y) as NumPy: Glorot-scaled weights, a tangent pytree like params, one batch."""
    rng = np.random.default_rng(seed)
    params, v = {}, {}
    for i, (a, b) in enumerate(itertools.pairwise(layers), start=1):
        params[f"W{i}"] = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
        params[f"b{i}"] = np.zeros(b, dtype)
        v[f"W{i}"] = rng.standard_normal((a, b)).astype(dtype)
        v[f"b{i}"] = rng.standard_normal(b).astype(dtype)
    X = rng.standard_normal((batch, layers[0])).astype(dtype)
    y = rng.standard_normal((batch, layers[-1])).astype(dtype)
    return params, v, X, y
