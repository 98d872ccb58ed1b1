"""Every docstring example of the public modules runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest
from _support import installed

MODULES = [
    "abstractad._arrays",
    "abstractad._backend",
    "abstractad._first_order",
    "abstractad._second_order",
    "abstractad._lazy",
    "abstractad._check",
    "abstractad._tree",
    "abstractad._operators",
    "abstractad._sparse.backend",
    "abstractad._sparse.tracer",
    "abstractad._sparse.coloring",
    "abstractad.testing",
    "abstractad.backends",
    "abstractad.backends.finitediff",
]
ENGINE_MODULES = {
    "abstractad.backends.autograd": "autograd",
    "abstractad.backends.jax": "jax",
    "abstractad._sparse.jaxpr": "jax",
    "abstractad.backends.torch": "torch",
    "abstractad.backends.tensorflow": "tensorflow",
}


@pytest.mark.parametrize("name", MODULES + sorted(ENGINE_MODULES))
def test_docstring_examples(name: str) -> None:
    engine = ENGINE_MODULES.get(name)
    if engine is not None and not (installed(engine) and installed(name)):
        pytest.skip(f"{engine} is not installed")
    uses_autograd = ("_first_order", "_second_order", "_lazy", "_check", "_operators", "_sparse")
    if any(m in name for m in uses_autograd) and not installed("autograd"):
        pytest.skip("the examples use the autograd backend")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
