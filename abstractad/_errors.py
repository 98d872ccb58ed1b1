"""Every user-facing message of abstractad, in one place."""

from __future__ import annotations

from typing import Any

EXTRAS = {
    "jax": "jax",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "autograd": "autograd",
}


class MissingEngineError(ImportError):
    """An engine needed by a backend is not installed; the message names the pip extra."""


def missing_engine(name: str, module: str, cause: BaseException | None = None) -> MissingEngineError:
    extra = EXTRAS.get(name, name)
    detail = f" ({cause})" if cause is not None else ""
    return MissingEngineError(
        f"backend={name!r} needs {module}, which is not installed{detail}: pip install 'abstractad[{extra}]'"
    )


def unknown_backend(name: Any, known: list[str]) -> ValueError:
    return ValueError(
        f"unknown backend {name!r}. Known backends: {', '.join(sorted(known))}. "
        "Register a new one with abstractad.register_backend(name, cls)."
    )


def bad_backend_argument(value: Any) -> TypeError:
    return TypeError(f"backend= takes a backend name or an abstractad.Backend instance, not {type(value).__name__}")


def no_primitive(cls: type) -> TypeError:
    return TypeError(
        f"{cls.__name__} defines neither pushforward nor pullback: a backend needs at least one. "
        "Define pushforward(self, f, x, v) -> (f(x), J v) or pullback(self, f, x) -> (f(x), w -> wᵀ J)."
    )


def not_scalar(operator: str, shape: tuple[int, ...]) -> ValueError:
    return ValueError(
        f"{operator} needs f to return a scalar (shape ()), but it returned shape {shape}. "
        "Reduce the output (for example with .sum()), or use jacobian."
    )


def not_scalar_input(operator: str, shape: tuple[int, ...]) -> ValueError:
    return ValueError(
        f"{operator} needs a scalar x (shape ()), but x has shape {shape}. Use jacobian (or hessian) instead."
    )


def bad_dtype(dtype: str, what: str = "x") -> TypeError:
    return TypeError(
        f"{what} has dtype {dtype}, which cannot be differentiated: pass a floating-point array "
        f"(for example x.astype('float64'))."
    )


def bad_seed(kind: str, operator: str, got: tuple[int, ...], want: tuple[int, ...], of: str) -> ValueError:
    return ValueError(f"{operator}: the {kind} has shape {got}, but it must have the shape of {of}, {want}.")


def bad_mode(mode: Any) -> ValueError:
    return ValueError(f"mode must be None, 'forward' or 'reverse', not {mode!r}")


def bad_input_type(value: Any, what: str = "x") -> TypeError:
    return TypeError(
        f"{what} must be an array (NumPy, JAX, PyTorch, TensorFlow) or a Python float, not {type(value).__name__}"
    )


def no_namespace(value: Any) -> TypeError:
    return TypeError(
        f"array_namespace: no Array API namespace is known for {type(value).__module__}.{type(value).__name__}"
    )
