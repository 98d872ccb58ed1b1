"""Arrays of every library on every backend, and DLPack without copies on the CPU."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
from _support import assert_close

import abstractad as ad
from abstractad import _arrays

LIBRARIES = ["numpy"] + [lib for lib in ("jax", "torch", "tensorflow") if importlib.util.find_spec(lib)]
ENGINES = ad.installed_backends()
X = np.array([0.3, -1.2, 2.0, 0.7])


def make(lib: str, a: np.ndarray):
    if lib == "numpy":
        return a
    if lib == "jax":
        import jax

        with jax.enable_x64(True):
            return jax.numpy.asarray(a)
    if lib == "torch":
        import torch

        return torch.from_numpy(a.copy())
    import tensorflow as tf

    return tf.constant(a)


def f(x):
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def curve(x):
    xp = ad.array_namespace(x)
    return xp.stack([xp.sum(x**2), xp.sum(xp.cos(x))])


@pytest.mark.parametrize("lib, engine", list(itertools.product(LIBRARIES, ENGINES)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_any_library_on_any_backend(lib: str, engine: str, dtype: str) -> None:
    x = make(lib, X.astype(dtype))
    g = ad.gradient(f, x, backend=engine)
    j = ad.jacobian(curve, x, backend=engine)
    tol = 5e-2 if engine == "finitediff" and dtype == "float32" else (2e-4 if dtype == "float32" else 1e-7)
    for got, want in ((g, np.cos(X) * X**2 + 2 * X * np.sin(X)), (j, np.stack([2 * X, -np.sin(X)]))):
        assert _arrays.library_of(got) == lib, (type(got), lib)
        assert _arrays.dtype_name(got) == dtype
        assert_close(_arrays.to_numpy(got), want, tol)
    if lib == "jax":
        import jax

        assert not jax.config.jax_enable_x64


@pytest.mark.skipif(not {"jax", "torch"} <= set(LIBRARIES), reason="needs JAX and PyTorch")
def test_dlpack_between_torch_and_jax_copies_nothing() -> None:
    import torch

    t = torch.arange(16, dtype=torch.float32)
    j = _arrays.convert(t, "jax")
    assert j.unsafe_buffer_pointer() == t.data_ptr()
    back = _arrays.convert(j, "torch")
    assert back.data_ptr() == t.data_ptr()


@pytest.mark.skipif(not {"tensorflow", "torch"} <= set(LIBRARIES), reason="needs TensorFlow and PyTorch")
def test_dlpack_from_torch_to_tensorflow_copies_nothing_when_aligned() -> None:
    import torch

    t = torch.arange(64, dtype=torch.float64)  # torch's CPU allocator aligns to 64 bytes
    tf_tensor = _arrays.convert(t, "tensorflow")
    back = torch.from_dlpack(tf_tensor)
    assert back.data_ptr() == t.data_ptr()
    # Not contiguous: a copy, with the right values.
    s = t.reshape(8, 8).T
    assert_close(_arrays.to_numpy(_arrays.convert(s, "tensorflow")), s.numpy(), 0)


@pytest.mark.skipif("torch" not in LIBRARIES, reason="needs PyTorch")
def test_numpy_to_torch_copies_nothing_and_read_only_is_copied() -> None:
    a = np.arange(6.0)
    assert _arrays.convert(a, "torch").data_ptr() == a.ctypes.data
    ro = np.arange(6.0)
    ro.flags.writeable = False
    assert ad.resolve_backend("torch").asarray(ro).data_ptr() != ro.ctypes.data
