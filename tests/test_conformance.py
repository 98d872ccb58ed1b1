"""What every engine does the same way, tested once over all installed engines (tests/_support.py):
`mode=` forces the primitives used and is validated, `compile=` is validated, and a Python float in gives a
Python float out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _support import BACKENDS, A, V, W, X, assert_close, engine_class, engines, f, g, grad_f, jac_g

import abstractad as ad


def exp_times(t):
    """exp(t) t: derivative (1 + t) exp(t), second derivative (2 + t) exp(t)."""
    return ad.array_namespace(t).exp(t) * t


def _spy(cls: type[ad.Backend], used: list[str]) -> type[ad.Backend]:
    """A subclass of `cls` that records which primitives the derived operators call."""

    @dataclasses.dataclass(frozen=True)
    class Spy(cls):  # type: ignore[misc, valid-type]
        def pushforward(self, f, x, v):
            used.append("forward")
            return super().pushforward(f, x, v)

        def batched_pushforward(self, f, x, vs):
            used.append("forward")
            return super().batched_pushforward(f, x, vs)

        def pullback(self, f, x):
            used.append("reverse")
            return super().pullback(f, x)

        def batched_pullback(self, f, x):
            used.append("reverse")
            return super().batched_pullback(f, x)

    return Spy


@pytest.mark.parametrize("engine", engines())
def test_mode_is_forced_and_validated(engine: str) -> None:
    cls = engine_class(engine)
    used: list[str] = []
    Spy = _spy(cls, used)
    for mode in ("forward", "reverse"):
        used.clear()
        assert_close(ad.gradient(f, X, backend=Spy(mode=mode)), grad_f(X), 1e-12)
        assert_close(ad.jacobian(g, X, A, backend=Spy(mode=mode)), jac_g(X, A), 1e-12)
        assert_close(ad.jvp(g, X, V, A, backend=Spy(mode=mode)), jac_g(X, A) @ V, 1e-12)
        assert_close(ad.vjp(g, X, W, A, backend=Spy(mode=mode)), W @ jac_g(X, A), 1e-12)
        assert set(used) == {mode}
    with pytest.raises(ValueError, match="mode"):
        cls(mode="sideways")
    assert cls(mode="reverse") == cls(mode="reverse") and cls() != cls(mode="reverse")


@pytest.mark.parametrize("backend_id", sorted(k for k in BACKENDS if k.split("-")[0] in engines()))
def test_python_float_in_python_float_out(backend_id: str) -> None:
    backend = backend_id if backend_id in engines() else BACKENDS[backend_id]()  # by name: backend="jax"
    d = ad.derivative(exp_times, 0.3, backend=backend)
    assert isinstance(d, float)  # a Python float in: a scalar out
    assert_close(d, 1.3 * np.exp(0.3), 1e-12)
    d2 = ad.second_derivative(exp_times, 0.3, backend=backend)
    assert isinstance(d2, float)
    assert_close(d2, 2.3 * np.exp(0.3), 1e-12)


@pytest.mark.parametrize("engine", engines())
def test_compile_option_is_validated(engine: str) -> None:
    """Every engine with ``compile=`` refuses what is not a flag (torch also takes a backend name) with a
    TypeError, before any engine work; engines without it refuse the keyword as any dataclass does."""
    cls = engine_class(engine)
    if "compile" not in {field.name for field in dataclasses.fields(cls)}:
        with pytest.raises(TypeError):
            cls(compile=True)
        return
    for bad in (1.5, 1, None, [True]):
        with pytest.raises(TypeError, match="compile"):
            cls(compile=bad)
    assert cls(compile=True).compile is True and cls(compile=False).compile is False
