"""The first error a newcomer meets says what to do: a model instead of its parameters, an f written
for another engine than the default one, no AD engine installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import abstractad as ad


def test_a_torch_module_as_x_says_to_pass_its_parameters() -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(2, 1)
    with pytest.raises(TypeError, match=r"dict\(model.named_parameters\(\)\)"):
        ad.gradient(lambda p: p.sum(), model, backend="torch")
    with pytest.raises(TypeError, match="not device"):  # any other non-array object of an engine's library
        ad.gradient(lambda p: p.sum(), torch.device("cpu"), backend="torch")
    # What the message says to do works.
    X = torch.ones(3, 2)
    params = dict(model.named_parameters())
    g = ad.gradient(lambda p: torch.func.functional_call(model, p, (X,)).sum(), params, backend="torch")
    assert torch.allclose(g["weight"], X.sum(0, keepdim=True)) and torch.allclose(g["bias"], torch.tensor([3.0]))


def _engine_functions():
    out = []
    if "jax" in ad.installed_backends():
        import jax.numpy as jnp

        out.append(("jax", lambda x: jnp.sum(jnp.sin(x))))
    if "torch" in ad.installed_backends():
        import torch

        out.append(("torch", lambda x: torch.sin(x).sum()))
    if "tensorflow" in ad.installed_backends():
        import tensorflow as tf

        out.append(("tensorflow", lambda x: tf.reduce_sum(tf.sin(x))))
    return out


@pytest.mark.parametrize(("engine", "f"), _engine_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_an_f_for_another_engine_than_the_default_names_the_backend_to_pass(engine, f) -> None:
    x = np.array([0.1, 0.2, 0.3])
    from abstractad._backend import default_backend_name

    default = default_backend_name(x)
    if default == engine:
        pytest.skip(f"{engine} is the default engine here")
    with pytest.raises(Exception) as info:
        ad.gradient(f, x)
    assert any(f"pass backend={engine!r}" in note for note in getattr(info.value, "__notes__", ())), info.value
    # and with that backend it works
    assert np.allclose(ad.gradient(f, x, backend=engine), np.cos(x), rtol=1e-6)


def test_the_users_own_errors_get_no_engine_note() -> None:
    class Mine(Exception):
        pass

    def f(x):
        raise Mine("mine")

    with pytest.raises(Mine) as info:
        ad.gradient(f, np.ones(2))
    assert not any("looks written with" in n for n in getattr(info.value, "__notes__", ()))


def test_no_ad_engine_installed_warns_once_about_finite_differences() -> None:
    code = textwrap.dedent(
        """
        import sys, warnings
        for name in ("autograd", "jax", "torch"):
            sys.modules[name] = None  # as if not installed: importlib.util.find_spec gives None
        import numpy as np, abstractad as ad
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = ad.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
            ad.gradient(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
        notes = [w for w in caught if issubclass(w.category, ad.FiniteDifferenceDefaultWarning)]
        print(len(notes), np.allclose(g, [2.0, 4.0], rtol=1e-6), "pip install" in str(notes[0].message))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1", "True", "True"]
