"""GPU paths across engines: DLPack without copies on the device, JAX on the GPU, bridges on CUDA.

Every test skips cleanly on a machine without a CUDA GPU (or without JAX's GPU plugin).
"""

from __future__ import annotations

import numpy as np
import pytest
from _support import assert_close, f, grad_f, hess_f

import abstractad as ad
from abstractad import _arrays

torch = pytest.importorskip("torch")


def _jax_gpu() -> bool:
    try:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:
        return False


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
jax_gpu = pytest.mark.skipif(not (torch.cuda.is_available() and _jax_gpu()), reason="needs a CUDA GPU and JAX on it")

X = np.array([0.3, -1.2, 2.0, 0.7])


@jax_gpu
def test_dlpack_between_torch_and_jax_on_the_gpu_copies_nothing() -> None:
    xt = torch.tensor(X, device="cuda", dtype=torch.float32)
    xj = _arrays.convert(xt, "jax")
    assert next(iter(xj.devices())).platform == "gpu"
    assert xj.unsafe_buffer_pointer() == xt.data_ptr()
    back = _arrays.convert(xj, "torch")
    assert back.is_cuda and back.data_ptr() == xt.data_ptr()


@jax_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_jax_on_the_gpu(dtype: str) -> None:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        x = jax.device_put(jnp.asarray(X, dtype=dtype), jax.devices("gpu")[0])
    for backend in (ad.backends.Jax(), ad.backends.Jax(compile=True)):
        g = ad.gradient(f, x, backend=backend)
        h = ad.hessian(f, x, backend=backend)
        for got, want in ((g, grad_f(X)), (h, hess_f(X))):
            assert next(iter(got.devices())).platform == "gpu" and str(got.dtype) == dtype
            assert_close(np.asarray(got), want, 1e-5 if dtype == "float32" else 1e-12)


@jax_gpu
def test_jax_gpu_array_on_the_torch_gpu_backend_comes_back_as_jax_on_the_gpu() -> None:
    import jax
    import jax.numpy as jnp

    x = jax.device_put(jnp.asarray(X, dtype="float32"), jax.devices("gpu")[0])
    g = ad.gradient(f, x, backend=ad.backends.Torch(device="cuda"))
    assert isinstance(g, jax.Array) and next(iter(g.devices())).platform == "gpu"
    assert_close(np.asarray(g), grad_f(X), 1e-5)


@jax_gpu
def test_torch_cuda_program_calling_a_jax_function() -> None:
    sim = ad.differentiate_with(lambda x: ad.array_namespace(x).sin(x) * x**2, "jax")
    x = torch.tensor(X, device="cuda", requires_grad=True)
    y = sim(x)
    assert y.is_cuda
    y.sum().backward()
    assert x.grad.is_cuda
    assert_close(x.grad.cpu(), grad_f(X), 1e-12)
    h = torch.func.hessian(lambda z: sim(z).sum())(x.detach())
    assert h.is_cuda
    assert_close(h.cpu(), hess_f(X), 1e-12)


@cuda
def test_second_order_across_engines_on_the_gpu() -> None:
    x = torch.tensor(X, device="cuda")
    for outer in [e for e in ("torch", "jax", "autograd", "finitediff") if e in ad.installed_backends()]:
        b = ad.backends.SecondOrder(outer, ad.backends.Torch(device="cuda"))
        h = ad.hessian(f, x, backend=b)
        assert h.is_cuda, outer
        assert_close(h.cpu(), hess_f(X), 1e-5 if outer == "finitediff" else 1e-12)


@cuda
@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_pytree_of_cuda_tensors_comes_back_on_cuda(backend: str) -> None:
    if backend == "jax" and not _jax_gpu():
        pytest.skip("needs JAX on the GPU")
    x = {"a": torch.tensor(X, device="cuda"), "b": [torch.tensor(2.0, dtype=torch.float64, device="cuda")]}

    def g(p):
        xp = ad.array_namespace(p["a"])
        return xp.sum(xp.sin(p["a"]) * p["a"] ** 2) * p["b"][0]

    grad = ad.gradient(g, x, backend=backend)
    assert grad["a"].device.type == "cuda" and grad["b"][0].device.type == "cuda"
    assert_close(grad["a"].cpu().numpy(), 2.0 * grad_f(X), 1e-10)
    assert_close(grad["b"][0].cpu().numpy(), f(X), 1e-10)
