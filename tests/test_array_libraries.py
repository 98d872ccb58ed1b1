"""The array libraries' registry: abstractad._arrays names no engine module and imports none; each library's
module in abstractad.backends registers its conversions, and is imported on first need, so conversions work
before (and without) the engine's backend. Also the shared compile-with-fallback helper."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import subprocess
import sys
import textwrap
import warnings

import pytest

from abstractad._fallback import Fallback

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _installed(*libraries: str) -> bool:
    return all(importlib.util.find_spec(lib) is not None for lib in libraries)


def _run_python(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def test_arrays_module_imports_no_backend_module() -> None:
    tree = ast.parse((ROOT / "abstractad" / "_arrays.py").read_text())
    imported = [
        alias.name if isinstance(node, ast.Import) else f"{'.' * node.level}{node.module or ''}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert not [name for name in imported if "backends" in name or name.split(".")[0] in ENGINES], imported


ENGINES = ("jax", "jaxlib", "torch", "tensorflow", "autograd")


def test_importing_arrays_loads_no_engine_and_no_library_module() -> None:
    (line,) = _run_python(
        """
        import sys
        import abstractad._arrays
        print(sorted(m for m in sys.modules if m.startswith("abstractad.backends.")
                     or m.split(".")[0] in ("jax", "torch", "tensorflow", "autograd")))
        """
    )
    assert line == "[]"


@pytest.mark.skipif(not _installed("jax", "torch"), reason="needs JAX and PyTorch")
def test_conversions_load_only_the_library_modules() -> None:
    lines = _run_python(
        """
        import sys
        import numpy as np
        import jax.numpy as jnp, torch
        from abstractad import _arrays

        t = _arrays.convert(jnp.arange(3.0), "torch")
        back = _arrays.convert(torch.ones(2, dtype=torch.float64).conj().neg(), "jax")
        print(type(t).__name__, t.tolist(), _arrays.library_of(back), np.asarray(back).tolist())
        info = _arrays.ArrayInfo("torch", "float32", (2,))
        print(type(_arrays.from_numpy(np.ones(2, dtype=np.float32), info)).__name__)
        print(sorted(m for m in sys.modules if m.startswith("abstractad.backends.")))
        """
    )
    assert lines[0] == "Tensor [0.0, 1.0, 2.0] jax [-1.0, -1.0]"
    assert lines[1] == "Tensor"
    assert lines[2] == "['abstractad.backends._jax_arrays', 'abstractad.backends._torch_arrays']"


@pytest.mark.skipif(not _installed("tensorflow"), reason="needs TensorFlow")
def test_tensorflow_namespace_and_conversions_without_its_backend() -> None:
    lines = _run_python(
        """
        import sys
        import numpy as np
        import tensorflow as tf
        import abstractad as ad
        from abstractad import _arrays

        xp = ad.array_namespace(tf.constant([1.0, 2.0]))
        print(repr(xp), float(xp.sum(tf.constant([1.0, 2.0]))))
        print(_arrays.convert(np.arange(2.0), "tensorflow").numpy().tolist())
        print("abstractad.backends.tensorflow" in sys.modules, "abstractad.backends._tensorflow_arrays" in sys.modules)
        """
    )
    assert lines[-3:] == ["<abstractad Array API namespace for tensorflow> 3.0", "[0.0, 1.0]", "False True"]


@pytest.mark.skipif(not _installed("autograd"), reason="needs autograd")
def test_autograd_namespace_without_its_backend() -> None:
    lines = _run_python(
        """
        import sys
        import autograd
        import numpy as np
        import abstractad as ad

        g = autograd.grad(lambda x: ad.array_namespace(x).sum(x ** 2))(np.array([1.0, 2.0]))
        print(g.tolist(), "abstractad.backends.autograd" in sys.modules)
        """
    )
    assert lines == ["[2.0, 4.0] False"]


def test_library_of_knows_the_registered_libraries_without_importing_them() -> None:
    from abstractad import _arrays

    kinds = {"jax": "jaxlib", "torch": "torch", "tensorflow": "keras", "autograd": "autograd"}
    for library, module in kinds.items():
        fake = type("Array", (), {"shape": (), "dtype": "float32", "__module__": f"{module}.fake"})
        assert _arrays.library_of(fake()) == library
    assert _arrays.library_of(type("Array", (), {"shape": (), "dtype": "f", "__module__": "elsewhere"})()) is None
    assert [lib for lib in ("numpy", "autograd", "jax", "torch", "tensorflow") if _arrays.has_own_arrays(lib)] == [
        "jax",
        "torch",
        "tensorflow",
    ]


# ---------------------------------------------------------------------------- compile with a fallback


class _CannotCompile(Exception):
    pass


def _fallback(fn):
    compiled_calls = []

    def compiled(*args):
        compiled_calls.append(args)
        raise _CannotCompile("no compiler for this f")

    return Fallback(fn, compiled, (_CannotCompile,), lambda e: f"fell back ({e})"), compiled_calls


def test_fallback_runs_eagerly_for_good_after_one_warning() -> None:
    import abstractad as ad

    run, compiled_calls = _fallback(lambda x: x + 1)
    with pytest.warns(ad.CompileFallbackWarning, match=r"fell back \(no compiler for this f\)") as record:
        assert run(1) == 2
    assert len(record) == 1 and record[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(2) == 3
    assert len(compiled_calls) == 1 and run.eager


def test_fallback_lets_a_genuine_error_of_f_through_and_remembers_nothing() -> None:
    err = ZeroDivisionError("from f")

    def f(x):
        raise err

    run, compiled_calls = _fallback(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ZeroDivisionError) as caught:
            run(1)
    assert caught.value is err and not run.eager
    with pytest.raises(ZeroDivisionError):
        run(1)
    assert len(compiled_calls) == 2  # tried to compile again: nothing was remembered


def test_fallback_passes_other_errors_of_the_compiled_call_through() -> None:
    def compiled(x):
        raise ValueError("a runtime error of the compiled f")

    run = Fallback(lambda x: x, compiled, (_CannotCompile,), str)
    with pytest.raises(ValueError, match="runtime error"):
        run(1)
    assert not run.eager
