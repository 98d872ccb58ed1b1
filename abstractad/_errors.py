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
        "Reduce the output (for example with .sum()), or use jacobian. If f returns (output, aux), "
        "pass has_aux=True."
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


def unsupported_dtype(backend: Any, dtype: str) -> TypeError:
    return TypeError(
        f"{backend!r} cannot differentiate {dtype} arrays. Cast x to float32 (x.astype('float32')), or use "
        "an engine that has the dtype (JAX, PyTorch, TensorFlow)."
    )


def bad_seed(kind: str, operator: str, got: tuple[int, ...], want: tuple[int, ...], of: str) -> ValueError:
    return ValueError(f"{operator}: the {kind} has shape {got}, but it must have the shape of {of}, {want}.")


def bad_mode(mode: Any) -> ValueError:
    return ValueError(f"mode must be None, 'forward' or 'reverse', not {mode!r}")


def bad_input_type(value: Any, what: str = "x") -> TypeError:
    message = f"{what} must be an array (NumPy, JAX, PyTorch, TensorFlow) or a Python float, not {type(value).__name__}"
    if hasattr(value, "named_parameters"):  # a torch.nn.Module
        message += (
            ". To differentiate with respect to a model's parameters, pass them as a pytree, "
            "params = dict(model.named_parameters()), and call the model with them in f "
            "(torch.func.functional_call(model, params, inputs))"
        )
    elif hasattr(value, "trainable_variables"):  # a Keras model or layer
        message += ". To differentiate with respect to a Keras model's weights, pass model.trainable_variables (a list)"
    return TypeError(message)


def no_namespace(value: Any) -> TypeError:
    return TypeError(
        f"array_namespace: no Array API namespace is known for {type(value).__module__}.{type(value).__name__}"
    )


def python_number_output(value: Any, where: str = "f(x)") -> TypeError:
    return TypeError(
        f"{where} is a Python {type(value).__name__} ({value!r}), not an array: a derivative cannot flow "
        "through a Python number (float(), .item() and math.* leave the engine's graph, so some engines "
        "would silently return zeros). Compute it with xp = ad.array_namespace(x); for a constant, "
        "return xp.asarray(c)." + (" If f returns (output, aux), pass has_aux=True." if where == "f(x)[1]" else "")
    )


# Engine errors raised inside the user's f that have a known cause: (exception type names or None,
# fragments of the message, the hint added to the exception as a note). The exception itself
# propagates unchanged; the user's own exceptions match none of these.
_IN_PLACE = (
    "f writes into its input in place. abstractad's engines differentiate f as a pure function: build a new "
    "array instead (xp.where, concatenation, x.at[i].set(v) in JAX), or copy x first (torch: x = x.clone())."
)
_VALUE_FLOW = (
    "f uses the value of an array in Python control flow (if, while, bool(), int()) while it is being traced "
    "(jax.jit, tf.function, compile=True). Use xp.where / jax.lax.cond / tf.cond, pass the value as a "
    "constant in *args, or run eagerly (compile=False, outside jit)."
)
_FOREIGN = (
    "f mixes the engine's arrays with another library's (a NumPy call on the engine's arrays, or a closed-over "
    "tensor of another library). Write f with xp = ad.array_namespace(x), and pass outside arrays as constants "
    "(*args after x): abstractad converts constants to the engine's arrays and device."
)
_DEVICE = (
    "f combines x with a tensor on another device. Pass that tensor as a constant (*args after x), which "
    "abstractad moves to the backend's device, or move it with .to(x.device) inside f."
)
_METHODS = (
    "TensorFlow tensors have no NumPy methods (.sum(), .T, ...): write f with xp = ad.array_namespace(x), "
    "whose functions work on every engine's arrays."
)
_ARRAYS = ("Tracer", "Tensor", "ArrayBox", "ndarray", "Array")
_HINTS: tuple[tuple[tuple[str, ...] | None, tuple[str, ...], str], ...] = (
    (
        None,
        (
            "does not support item assignment",
            "assignment destination is read-only",
            "in-place operation",
            "arrays are immutable",
        ),
        _IN_PLACE,
    ),
    (
        (
            "ConcretizationTypeError",
            "TracerBoolConversionError",
            "TracerIntegerConversionError",
            "OperatorNotAllowedInGraphError",
        ),
        (),
        _VALUE_FLOW,
    ),
    (("TracerArrayConversionError",), (), _FOREIGN),
    (
        None,
        (
            "Can't call numpy() on Tensor that requires grad",
            "Can't differentiate w.r.t. type",
            "unsupported operand type",
            "to return only tensors",
        ),
        _FOREIGN,
    ),
    (None, ("same device", "expected device"), _DEVICE),
    (None, ("'EagerTensor' object has no attribute", "'SymbolicTensor' object has no attribute"), _METHODS),
)


def add_hint(error: BaseException) -> None:
    """Add abstractad's hint to an engine error with a known cause, as a note (PEP 678): the exception
    keeps its type and message, and a user's own exception is left alone."""
    message, kinds = str(error), {c.__name__ for c in type(error).__mro__}
    hint = next(
        (
            hint
            for names, fragments, hint in _HINTS
            if (names is None or kinds.intersection(names)) and (not fragments or any(s in message for s in fragments))
        ),
        None,
    )
    if hint is None and "unsupported operand type" in message and any(name in message for name in _ARRAYS):
        hint = _FOREIGN
    if hint is not None and f"abstractad: {hint}" not in getattr(error, "__notes__", ()):
        error.add_note(f"abstractad: {hint}")


# Where an error raised inside an engine's own code says which engine f is written for.
_ENGINE_MODULES = {"jax": "jax", "jaxlib": "jax", "torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow"}
_ENGINE_MESSAGES = {
    "must be Tensor, not": "torch",
    "Expected Tensor as element": "torch",
    "not a valid JAX type": "jax",
}


def add_library_hint(error: BaseException, default: str) -> None:
    """An error of `f` under the default backend (`default`, chosen from x's library) that comes from
    inside another engine (a jax.numpy `f` handed autograd's boxes): a note naming the backend= to pass."""
    engine, tb = None, error.__traceback__
    while tb is not None:  # the innermost frame of an engine's own code
        engine = _ENGINE_MODULES.get(tb.tb_frame.f_globals.get("__name__", "").split(".", 1)[0], engine)
        tb = tb.tb_next
    if engine is None:
        engine = next((lib for s, lib in _ENGINE_MESSAGES.items() if s in str(error)), None)
    if engine is None or engine == default:
        return
    note = (
        f"abstractad: f looks written with {engine} (the error comes from {engine}), but backend=None chose "
        f"{default!r} for x's library: pass backend={engine!r}, or x as a {engine} array, or write f with "
        "xp = ad.array_namespace(x) so that it runs on every engine"
    )
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


class CompileFallbackWarning(UserWarning, RuntimeWarning):
    """A backend's compiler (``jax.jit``, ``tf.function``, ``torch.compile``) could not compile an operator,
    which then runs eagerly (one warning per operator). One class for every engine; a UserWarning and a
    RuntimeWarning both, so that filters written for either keep working."""


class FiniteDifferenceDefaultWarning(UserWarning):
    """backend=None chose finite differences for NumPy input because no AD engine is installed."""


class EagerWarning(UserWarning):
    """The same function was differentiated eagerly many times on an engine whose eager calls are
    slow (JAX traces `f` anew on every eager call): compile it, or prepare it. Silence it with
    ``warnings.filterwarnings("ignore", category=ad.EagerWarning)``."""


def eager_note(operator: str, f: Any, backend: Any, calls: int, advice: str) -> str:
    name = getattr(f, "__qualname__", None) or type(f).__name__
    return (
        f"abstractad: {operator} of {name} ran eagerly {calls} times on {backend!r}. {advice} "
        'Silence this note with warnings.filterwarnings("ignore", category=abstractad.EagerWarning).'
    )


def user_stacklevel(*skip: str) -> int:
    """The stacklevel (for a ``warnings.warn`` in the caller) of the first frame outside abstractad and
    the packages `skip`, so that a warning points at the user's call."""
    import sys

    packages = ("abstractad", *skip)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".", 1)[0] in packages:
        frame, level = frame.f_back, level + 1
    return level


def dtensor_refused(operator: str, where: str, placements: Any, reason: str) -> TypeError:
    return TypeError(
        f"{operator}: {where} is a torch DTensor (placements {placements}), and {reason}. DTensors are "
        "differentiated in reverse mode only, leaf by leaf: use gradient, value_and_gradient, vjp or "
        "value_and_vjp (hvp with Torch(mode='reverse')) on backend='torch', or pass full tensors (x.full_tensor())."
    )


def nesting_limit(operator: str, backend: Any, levels: int, limit: int) -> ValueError:
    return ValueError(
        f"{operator} needs {levels} nested derivatives, but {backend!r} nests at most {limit} "
        f"(its stencils go to order {limit}): use a lower order, or an AD engine (backend='jax', 'torch', ...)"
    )
