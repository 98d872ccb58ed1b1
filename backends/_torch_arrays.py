"""PyTorch's tensors for ``abstractad._arrays``: conversions to and from NumPy, DLPack and devices.

Registered at import; ``abstractad.backends`` names this module, which ``_arrays`` imports on first
need (a torch tensor to convert before the Torch backend was ever loaded). It imports no backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from abstractad import _arrays

Tensor = Any


def _from_numpy(a: Any) -> Tensor:
    a = np.asarray(a)
    if a.dtype.name == "bfloat16":  # ml_dtypes' bfloat16 (JAX's, TensorFlow's): the same bits as torch's
        return _from_numpy(a.view(np.uint16)).view(torch.bfloat16)
    if a.flags.writeable:
        try:
            return torch.from_numpy(a)
        except (TypeError, ValueError, RuntimeError):
            pass  # negative strides or a non-native byte order: copy below
    # A read-only array would give a tensor that pretends to be writable: copy it.
    return torch.from_numpy(np.array(a, dtype=a.dtype.newbyteorder("="), order="C"))


def _to_tensor(a: Any) -> Tensor:
    """Any library's array as a torch tensor, without copying where DLPack or NumPy allow."""
    lib = _arrays.library_of(a)
    if lib == "torch":
        return a
    if lib == "numpy":
        return _from_numpy(a)
    if lib in ("jax", "tensorflow") and hasattr(a, "__dlpack__"):
        try:
            return torch.from_dlpack(a)
        except (TypeError, ValueError, RuntimeError, BufferError):
            pass
    return _from_numpy(_arrays.to_numpy(a))


def _to_numpy(a: Tensor) -> np.ndarray:
    if not a.requires_grad:
        try:  # a plain CPU tensor: its own buffer
            return a.numpy()
        except (TypeError, RuntimeError):  # on a GPU, bfloat16, a lazy conjugate or negation bit
            pass
    a = a.detach().cpu().resolve_conj().resolve_neg()
    if str(a.dtype) == "torch.bfloat16":  # NumPy's bfloat16 is ml_dtypes', with the same bits
        import ml_dtypes

        return a.view(torch.uint16).numpy().view(ml_dtypes.bfloat16)
    return a.numpy()


def _dlpack_source(a: Tensor) -> Any:
    a = a.detach()
    if a.is_conj() or a.is_neg():
        return None
    return a


def _cpu(device: Any) -> bool:
    return device is None or str(getattr(device, "platform", device)).startswith("cpu")


def _numpy_to_tensor(a: np.ndarray, device: Any) -> Tensor:
    t = _from_numpy(a)
    return t if _cpu(device) else t.to(device)


_arrays.register_converters(
    "torch",
    _arrays.Converters(
        device=lambda a: getattr(a, "device", None),
        to_numpy=_to_numpy,
        dlpack_source=_dlpack_source,
        from_dlpack=torch.from_dlpack,
        from_numpy=_numpy_to_tensor,
        to_device=lambda a, device: a.to(device),
        restore_device=True,
        # results come back on x's device; tensors that require grad and inference tensors are converted
        plan_key=lambda a: (type(a), a.shape, a.dtype, a.device, a.requires_grad, a.is_inference()),
    ),
)
