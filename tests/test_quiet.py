"""Quiet: TensorFlow's start-up notices do not reach the terminal (real errors still do), one
CompileFallbackWarning class for every engine."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import abstractad as ad


def _stderr_of(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_tensorflow_start_up_notices_are_filtered() -> None:
    pytest.importorskip("tensorflow")
    code = """
        import numpy as np, abstractad as ad
        import abstractad.backends.tensorflow
        xp = ad.array_namespace
        print(ad.gradient(lambda x: xp(x).sum(x ** 2), np.ones(2), backend="tensorflow"))
    """
    err = _stderr_of(code)
    for notice in ("oneDNN custom operations", "cpu_feature_guard", "absl::InitializeLog", "To enable the following"):
        assert notice not in err, err


def test_other_lines_written_during_the_import_still_show() -> None:
    code = """
        import os
        from abstractad._quiet import native_stderr_filtered
        with native_stderr_filtered(("oneDNN custom operations",)):
            os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on.\\n")
            os.write(2, b"E0000 something real went wrong\\n")
        os.write(2, b"after\\n")
    """
    err = _stderr_of(code)
    assert "oneDNN" not in err
    assert err.splitlines() == ["E0000 something real went wrong", "after"]


def test_one_compile_fallback_warning_class_for_every_engine() -> None:
    assert issubclass(ad.CompileFallbackWarning, UserWarning) and issubclass(ad.CompileFallbackWarning, RuntimeWarning)
    if "jax" in ad.installed_backends():
        from abstractad.backends import jax as jax_backend

        assert jax_backend.CompileFallbackWarning is ad.CompileFallbackWarning
    if "tensorflow" in ad.installed_backends():
        import numpy as np

        def untraceable(x):
            xp = ad.array_namespace(x)
            return xp.sum(x**2) if float(xp.sum(x)) > 0 else xp.sum(x)  # a Python branch on a value

        with pytest.warns(ad.CompileFallbackWarning, match="eagerly"):
            g = ad.gradient(untraceable, np.ones(2), backend=ad.backends.TensorFlow(compile=True))
        assert np.allclose(g, [2.0, 2.0])


def test_torch_compile_of_an_array_namespace_function_is_quiet() -> None:
    pytest.importorskip("torch")
    import warnings

    import numpy as np

    def f(x):
        xp = ad.array_namespace(x)
        return xp.sum(xp.sin(x) * x**2)

    x = np.array([0.3, 1.2, -0.7])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = ad.gradient(f, x, backend=ad.backends.Torch(compile=True))
    assert np.allclose(g, np.cos(x) * x**2 + 2 * x * np.sin(x))
    assert not [w for w in caught if "lru_cache" in str(w.message)], [str(w.message)[:100] for w in caught]
