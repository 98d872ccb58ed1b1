"""JAX's arrays for ``abstractad._arrays``: DLPack, devices and the Array API namespace (``jax.numpy``).

Registered at import; ``abstractad.backends`` names this module, which ``_arrays`` imports on first
need (a JAX array to convert before the Jax backend was ever loaded). It imports no backend.
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from abstractad import _arrays


def _device(a: Any) -> Any:
    return next(iter(a.devices())) if hasattr(a, "devices") and not _arrays.is_tracer(a) else None


def _dlpack_source(a: Any) -> Any:
    return a if hasattr(a, "__dlpack__") else None


def _scope(dtype: str) -> contextlib.AbstractContextManager:
    # Results of a float64 x are converted with float64 on: else JAX would make them float32.
    return jax.enable_x64(True) if dtype in ("float64", "complex128") else contextlib.nullcontext()


def _from_numpy(a: np.ndarray, device: Any) -> Any:
    return jax.device_put(a, device) if device is not None else jnp.asarray(a)


_arrays.register_converters(
    "jax",
    _arrays.Converters(
        device=_device,
        dlpack_source=_dlpack_source,
        from_dlpack=jax.dlpack.from_dlpack,
        from_numpy=_from_numpy,
        to_device=jax.device_put,
        scope=_scope,
    ),
)
_arrays.register_namespace("jax", lambda *arrays: jnp)
