"""State: after any call, successful or not, the user's arrays and every engine's global state are as they
were; 8 threads get the serial results; fresh closures and compiled functions keep memory and caches bounded.

Compared before and after each call: the user's inputs and constants (values and dtype; torch's
``requires_grad``, ``.grad``, device, leaf-ness and version counter; NumPy's ``writeable`` flag; a
``tf.Variable``'s value and trainability), NumPy's error state and the warning filters, torch's grad,
inference, forward-AD and functorch state, JAX's configuration (x64, matmul precision, disable_jit) and
trace state, TensorFlow's eager mode and active tapes, autograd's trace counter, and the backends' own
thread-local counters. A user's exception raised inside `f` must come out as the very same object.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from _support import BACKENDS, assert_close, installed, tolerance

import abstractad as ad
from abstractad import _arrays, _backend, _call, _operators
from abstractad.testing import SCENARIOS

# A compiled torch operator falling back to eager is a failure here: the compiled path is what is tested.
pytestmark = pytest.mark.filterwarnings("error:Torch\\(compile=")

X = np.array([0.3, 0.7, 1.1])
C = np.array([0.5, 1.5, -1.0])
V = np.array([1.0, -2.0, 0.5])
W = np.array([0.5, 1.0, -1.0])
BAD = np.ones(4)  # a seed of the wrong length: rejected by our validation

# f_scalar(x, c) = sum(sin(x) x + c x²) and f_vector(x, c) = sin(x) c, with their derivatives.
VALUE = float(np.sum(np.sin(X) * X + C * X * X))
GRAD = np.cos(X) * X + np.sin(X) + 2 * C * X
HESS = np.diag(2 * np.cos(X) - X * np.sin(X) + 2 * C)
JAC = np.diag(np.cos(X) * C)

OPS = ("jvp", "vjp", "gradient", "value_and_gradient", "jacobian", "hessian", "hvp", "lazy_jacobian")
SCALAR_OPS = ("gradient", "value_and_gradient", "hessian", "hvp")
SECOND_ORDER = ("hessian", "hvp")
KINDS = ("numpy", "torch", "torch-grad", "jax", "tensorflow")

# torch.compile with inductor takes 4-12 s per operator on the first call here (2 CPUs), so the
# compiled torch variant below uses the dynamo "eager" backend: the same _Compiled path, guards and
# locks of abstractad, without code generation (0.3-2.5 s per operator).
TORCH_DYNAMO = "torch-dynamo"


class UserError(Exception):
    """The user's own exception, raised by `f` midway through its computation."""


def _backend_for(backend_id: str) -> ad.Backend:
    if backend_id == TORCH_DYNAMO:
        return ad.backends.Torch(compile="eager")
    return BACKENDS[backend_id]()


def _engine_of(backend_id: str) -> str:
    return backend_id.split("-")[0]


def _available(*ids: str) -> list[str]:
    """The backend ids among `ids` whose engine is installed (torch-dynamo: when torch is)."""
    return [i for i in ids if i in BACKENDS or (i == TORCH_DYNAMO and "torch" in BACKENDS)]


STATE_BACKENDS = _available(
    "autograd", "finitediff", "jax", "jax-compiled", "torch", TORCH_DYNAMO, "tensorflow", "tensorflow-compiled"
)


# ---------------------------------------------------------------------------- functions and calls


def f_scalar(x: Any, c: Any) -> Any:
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x + c * x * x)


def f_vector(x: Any, c: Any) -> Any:
    xp = ad.array_namespace(x)
    return xp.sin(x) * c


def failing(err: UserError, scalar: bool) -> Callable[[Any, Any], Any]:
    """An `f` that records some operations (on the tape, dual level or trace) and then raises `err`."""

    def f(x: Any, c: Any) -> Any:
        xp = ad.array_namespace(x)
        y = xp.sin(x) * c
        if scalar:
            y = xp.sum(y)
        if y is not None:
            raise err
        return y

    return f


def run(op: str, f: Callable, x: Any, c: Any, b: ad.Backend, invalid: bool = False) -> Any:
    """`op` of `f` at `x` with the constant `c`; `invalid`: with an argument our validation rejects."""
    if op == "jvp":
        return ad.jvp(f, x, BAD if invalid else V, c, backend=b)
    if op == "vjp":
        return ad.vjp(f, x, BAD if invalid else W, c, backend=b)  # w is checked against f(x): after f ran
    if op == "gradient":
        return ad.gradient(f, x, c, backend=b)
    if op == "value_and_gradient":
        return ad.value_and_gradient(f, x, c, backend=b)
    if op == "jacobian":
        return ad.jacobian(f, x, c, backend=b, chunk_size=0 if invalid else None)
    if op == "hessian":
        return ad.hessian(f, x, c, backend=b)
    if op == "hvp":
        return ad.hvp(f, x, BAD if invalid else V, c, backend=b)
    J = ad.lazy_jacobian(f, x, c, backend=b)
    return J @ (BAD if invalid else V), J.T @ W


def expected(op: str) -> Any:
    return {
        "jvp": JAC @ V,
        "vjp": W @ JAC,
        "gradient": GRAD,
        "value_and_gradient": (VALUE, GRAD),
        "jacobian": JAC,
        "hessian": HESS,
        "hvp": HESS @ V,
        "lazy_jacobian": (JAC @ V, JAC.T @ W),
    }[op]


def check_result(op: str, got: Any, backend_id: str) -> None:
    want = expected(op)
    order = 2 if op in SECOND_ORDER else 1
    rtol = tolerance(backend_id.replace(TORCH_DYNAMO, "torch"), np.float64, order)
    for g, w in zip(got, want) if isinstance(want, tuple) else [(got, want)]:
        assert_close(numpy(g), w, rtol)


def call(op: str, outcome: str, x: Any, c: Any, b: ad.Backend, backend_id: str) -> None:
    """One call of `op` with `outcome` ("ok", "user_error", "invalid"), checking how it ends."""
    scalar = op in SCALAR_OPS
    if outcome == "ok":
        check_result(op, run(op, f_scalar if scalar else f_vector, x, c, b), backend_id)
    elif outcome == "user_error":
        err = UserError("raised midway through f")
        with pytest.raises(UserError) as info:
            run(op, failing(err, scalar), x, c, b)
        assert info.value is err, "the user's exception must propagate as the same object"
        # (JAX's traceback filtering adds a note of its own, as it does for a direct jax.grad call.)
        notes = [n for n in getattr(err, "__notes__", ()) if n.startswith("abstractad")]
        assert not notes, f"the user's own exception must not get our hints: {notes}"
    else:
        # A seed of the wrong length (hvp, jvp, vjp, lazy), chunk_size=0 (jacobian), or a non-scalar f
        # (gradient, hessian): the vjp, jacobian and gradient checks run after f has run.
        f = f_scalar if op == "hvp" else f_vector
        with pytest.raises(ValueError, match=r"scalar|tangent v|cotangent w|chunk_size|length"):
            run(op, f, x, c, b, invalid=True)


# ---------------------------------------------------------------------------- snapshots


def numpy(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("torch"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def inputs(kind: str) -> tuple[Any, Any]:
    """x and the constant c, both float64 arrays of `kind`."""
    if kind == "numpy":
        return X.copy(), C.copy()
    if kind in ("torch", "torch-grad"):
        import torch

        x, c = torch.tensor(X), torch.tensor(C)
        if kind == "torch-grad":  # leaves that require grad, with a .grad from an earlier backward()
            x.requires_grad_(True)
            c.requires_grad_(True)
            x.grad, c.grad = torch.full_like(x, 7.0), torch.full_like(c, -3.0)
        return x, c
    if kind == "jax":
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):  # a float64 JAX array, made without turning x64 on for good
            return jnp.asarray(X), jnp.asarray(C)
    if kind == "tensorflow":
        import tensorflow as tf

        return tf.constant(X), tf.constant(C)
    import tensorflow as tf

    return tf.Variable(X), tf.Variable(C)


def describe(a: Any) -> dict[str, Any]:
    """What the user can observe of one of their arrays."""
    out: dict[str, Any] = {"type": type(a), "dtype": str(a.dtype), "shape": tuple(a.shape), "values": numpy(a).copy()}
    if isinstance(a, np.ndarray):
        out["writeable"] = a.flags.writeable
    module = type(a).__module__
    if module.startswith("torch"):
        out.update(
            requires_grad=a.requires_grad,
            is_leaf=a.is_leaf,
            grad_fn=a.grad_fn,
            device=str(a.device),
            version=a._version,
            grad=None if a.grad is None else a.grad.detach().clone().numpy(),
            hooks=a._backward_hooks,
        )
    if module.startswith("tensorflow") and hasattr(a, "trainable"):
        out.update(trainable=a.trainable, name=a.name)
    return out


def _lock_is_free(lock: Any) -> bool:
    """Whether another thread can take `lock` (an RLock held by this thread would pass a local test)."""
    box: list[bool] = []

    def probe() -> None:
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        box.append(got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return box[0]


def engine_state() -> dict[str, Any]:
    """Every piece of global state an operator could leave changed, for the engines imported so far."""
    mods = sys.modules
    state: dict[str, Any] = {
        "numpy.geterr": np.geterr(),
        "warnings.filters": list(warnings.filters),
        "python threads": threading.active_count(),
    }
    if "torch" in mods:
        torch = mods["torch"]
        functorch = torch._C._functorch
        state.update(
            {
                "torch.is_grad_enabled": torch.is_grad_enabled(),
                "torch.is_inference_mode_enabled": torch.is_inference_mode_enabled(),
                "torch.get_default_dtype": torch.get_default_dtype(),
                "torch.are_deterministic_algorithms_enabled": torch.are_deterministic_algorithms_enabled(),
                "torch.is_anomaly_enabled": torch.is_anomaly_enabled(),
                "torch forward grad enabled": torch._C._is_fwd_grad_enabled(),
                "torch forward-AD dual level": torch.autograd.forward_ad._current_level,
                "functorch interpreter stack": functorch.peek_interpreter_stack(),
                "functorch layer depth": functorch.get_dynamic_layer_stack_depth(),
            }
        )
    backend = mods.get("abstractad.backends.torch")
    if backend is not None:
        state["abstractad torch counters"] = {k: v for k, v in vars(backend._state).items() if v}
        state["abstractad torch forward lock free"] = _lock_is_free(backend._FORWARD_LOCK)
    if "jax" in mods:
        jax = mods["jax"]
        config = jax.config
        state.update(
            {
                "jax_enable_x64": config.jax_enable_x64,
                "jax float64 canonical dtype": str(jax.dtypes.canonicalize_dtype(np.float64)),
                "jax_default_matmul_precision": config.jax_default_matmul_precision,
                "jax_disable_jit": config.jax_disable_jit,
                "jax_debug_nans": config.jax_debug_nans,
                "jax_numpy_rank_promotion": config.jax_numpy_rank_promotion,
            }
        )
        core = getattr(getattr(jax, "_src", None), "core", None)
        if core is not None and hasattr(core, "trace_state_clean"):
            state["jax trace state clean"] = core.trace_state_clean()
    if "tensorflow" in mods:
        tf = mods["tensorflow"]
        from tensorflow.python.eager import record

        state.update(
            {
                "tf.executing_eagerly": tf.executing_eagerly(),
                "tf.config.functions_run_eagerly": tf.config.functions_run_eagerly(),
                "tf.inside_function": tf.inside_function(),
                "tf tape or accumulator active": record.could_possibly_record(),
            }
        )
    if "autograd.tracer" in mods:
        state["autograd trace_stack.top"] = mods["autograd.tracer"].trace_stack.top
    fd = mods.get("abstractad.backends.finitediff")
    if fd is not None:
        state["abstractad finitediff counters"] = {k: v for k, v in vars(fd._state).items() if v}
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The entries that differ, as ``name: (before, after)``."""
    out = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key), after.get(key)
        same = np.array_equal(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) else a == b
        if not same:
            out[key] = (a, b)
    return out


def engines_still_work(engine: str) -> None:
    """The engine's own machinery works after our call: no dual level, tracer or tape left behind."""
    if engine == "torch":
        import torch
        import torch.autograd.forward_ad as fwad

        with fwad.dual_level():  # raises if a level of ours were still open
            dual = fwad.make_dual(torch.tensor(2.0), torch.tensor(1.0))
            assert float(fwad.unpack_dual(dual * dual).tangent) == 4.0
    if engine == "jax":
        import jax
        import jax.numpy as jnp

        y = jax.jit(lambda z: z * 2)(jnp.ones(2))
        assert y.dtype == (jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    if engine == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.eager import record

        y = tf.constant(3.0) * 2.0  # outside any tape: nothing records it
        assert float(y) == 6.0 and not record.could_possibly_record()


def assert_only_imported(baseline: dict[str, Any]) -> None:
    """Since `baseline`, only what importing does has changed: warning filters added, and the state of
    engines imported since. A change that every call makes would be in both snapshots of each call."""
    after = engine_state()
    lasting = {k: v for k, v in changes(baseline, after).items() if k in baseline and k in after}
    lasting.pop("warnings.filters", None)
    assert not lasting, f"calls left state behind: {lasting}"


_WARMED: set[tuple] = set()


def warm_up(b: ad.Backend, *ops: str, kinds: tuple[str, ...] = KINDS) -> None:
    """Calls with inputs of every kind (and of `ops`), so that the engines, our modules for them and what
    they import lazily (torch's forward AD imports sympy, which adds a warning filter) are loaded and
    lazily created state exists before the snapshots; these calls must leave nothing else behind.
    Once per backend, operators and kinds in a session."""
    key = (repr(b), ops, kinds)
    if key in _WARMED:
        return
    baseline = engine_state()
    for engine in ("autograd", "finitediff", "jax", "torch", "tensorflow"):
        if engine in BACKENDS:
            BACKENDS[engine]()
    for kind in kinds:
        if installed(kind.split("-")[0]):
            ad.gradient(f_scalar, *inputs(kind), backend=b)
    for op in ops:
        run(op, f_scalar if op in SCALAR_OPS else f_vector, X, C, b)
    assert_only_imported(baseline)
    _WARMED.add(key)


DYNAMO_AFTER_TF = (
    "abstractad._arrays.dtype_name caches dtype names in a module-level dict that torch.compile reads "
    "(and guards on) while tracing; once it holds a TensorFlow DType (any call that saw a TensorFlow "
    "tensor), tracing fails with 'AssertionError: False != True' and Torch(compile=...) falls back to "
    "eager for good"
)


_DYNAMO_CACHES: dict[str, Any] = {}


def isolate_dynamo(backend_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the torch.compile variant: dtype-name, compiled-operator and plan caches of its own (shared by
    the tests of this file, so that compiled operators are reused), so that its operators are really
    compiled whatever ran before (see DYNAMO_AFTER_TF); its inputs include no TensorFlow tensors."""
    if backend_id != TORCH_DYNAMO:
        return
    if not _DYNAMO_CACHES:
        _DYNAMO_CACHES.update(dtypes={}, compiled=_backend.LRUCache(), plans=_backend.LRUCache())
    monkeypatch.setattr(_arrays, "_DTYPE_NAMES", _DYNAMO_CACHES["dtypes"])
    monkeypatch.setattr(_backend, "COMPILED", _DYNAMO_CACHES["compiled"])
    monkeypatch.setattr(_call, "COMPILED", _DYNAMO_CACHES["compiled"])
    monkeypatch.setattr(_operators, "PLANS", _DYNAMO_CACHES["plans"])


# ---------------------------------------------------------------------------- state after a call


AUTOGRAD_LEAK = (
    "autograd's trace_stack.new_trace has no try/finally: an exception inside f leaves "
    "autograd.tracer.trace_stack.top one higher per open trace; the Autograd backend undoes it "
    "(backends/autograd.py, _traced)"
)


# The compiled torch variant compiles per function, constant library and grad mode (0.3-2.5 s each, and
# a failing f is traced again at every call): it runs a forward and a reverse operator on the input
# kinds below; its eager primitives are those of "torch", tested in full.
DYNAMO_OPS = ("jvp", "gradient")
DYNAMO_KINDS = ("numpy", "torch-grad")


def _state_cases() -> Iterator[Any]:
    for backend_id in STATE_BACKENDS:
        for op in DYNAMO_OPS if backend_id == TORCH_DYNAMO else OPS:
            for outcome in ("ok", "user_error", "invalid"):
                # autograd: an exception inside f (every user error, and hessian's non-scalar check,
                # which runs inside the outer trace) must not leave a trace open (AUTOGRAD_LEAK).
                yield pytest.param(backend_id, op, outcome, id=f"{backend_id}-{op}-{outcome}")


@pytest.mark.parametrize(("backend_id", "op", "outcome"), list(_state_cases()))
def test_state_is_kept(backend_id: str, op: str, outcome: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs of every library (and constants passed via *args) and every engine's state are unchanged
    after a successful call, after f raises the user's exception, and after our validation refuses."""
    isolate_dynamo(backend_id, monkeypatch)
    b = _backend_for(backend_id)
    engine = _engine_of(backend_id)
    kinds = DYNAMO_KINDS if backend_id == TORCH_DYNAMO else KINDS
    warm_up(b, op, kinds=kinds)
    for kind in kinds:
        if not installed(kind.split("-")[0]):
            continue
        x, c = inputs(kind)
        mine = describe(x), describe(c)
        before = engine_state()
        call(op, outcome, x, c, b, backend_id)
        assert not changes(before, engine_state()), f"{kind} inputs: {changes(before, engine_state())}"
        for what, old, new in (("x", mine[0], describe(x)), ("constant", mine[1], describe(c))):
            assert not changes(old, new), f"the user's {kind} {what} changed: {changes(old, new)}"
        engines_still_work(engine)


@pytest.mark.parametrize("backend_id", [i for i in STATE_BACKENDS if i != TORCH_DYNAMO])  # DYNAMO_AFTER_TF
def test_tf_variables_keep_their_values_and_trainability(backend_id: str) -> None:
    """tf.Variable as x and as a constant: values unchanged, still trainable, no tape left open."""
    if not installed("tensorflow"):
        pytest.skip("tensorflow is not installed")
    b = _backend_for(backend_id)
    warm_up(b, *OPS)
    for op in OPS:
        for outcome in ("ok", "user_error"):
            x, c = inputs("tf-variable")
            mine = describe(x), describe(c)
            before = engine_state()
            call(op, outcome, x, c, b, backend_id)
            assert not changes(before, engine_state()), changes(before, engine_state())
            assert x.trainable and c.trainable
            for old, new in ((mine[0], describe(x)), (mine[1], describe(c))):
                assert not changes(old, new), changes(old, new)
    engines_still_work(_engine_of(backend_id))


@pytest.mark.parametrize("backend_id", _available("jax", "jax-compiled"))
def test_jax_operators_leak_no_tracers(backend_id: str) -> None:
    """Under jax.checking_leaks a tracer kept past its transformation raises. (It turns JAX's caches off,
    about 1 s per second-order call here, so this runs the operators once, on NumPy inputs.)"""
    import jax

    b = _backend_for(backend_id)
    warm_up(b)
    before = engine_state()
    with jax.checking_leaks():
        for op in OPS:
            for outcome in ("ok", "user_error"):
                call(op, outcome, X, C, b, backend_id)
    assert not changes(before, engine_state()), changes(before, engine_state())
    engines_still_work("jax")


def test_jax_float64_calls_leave_x64_off() -> None:
    """float64 in, float64 out, on a thread where x64 is off: after the call (and after an exception
    inside it) x64 is still off, also for other threads, and float32 work stays float32."""
    if "jax" not in BACKENDS:
        pytest.skip("jax is not installed")
    import jax
    import jax.numpy as jnp

    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on in this process")
    for backend_id in ("jax", "jax-compiled", "jax-forward"):
        b = BACKENDS[backend_id]()
        g = ad.gradient(f_scalar, X, C, backend=b)
        assert g.dtype == np.float64
        assert_close(g, GRAD, 1e-12)
        assert not jax.config.jax_enable_x64
        with pytest.raises(UserError):
            ad.hessian(failing(UserError(), True), X, C, backend=b)
        assert not jax.config.jax_enable_x64
        assert jnp.asarray(np.float64(1.0)).dtype == jnp.float32
        assert in_threads(lambda i: bool(jax.config.jax_enable_x64), 2, 2) == {0: False, 1: False}
        g32 = ad.gradient(f_scalar, X.astype(np.float32), C.astype(np.float32), backend=b)
        assert g32.dtype == np.float32


# ---------------------------------------------------------------------------- torch grad modes


def _torch_modes() -> tuple[bool, bool]:
    import torch

    return torch.is_grad_enabled(), torch.is_inference_mode_enabled()


def _torch_context(name: str) -> contextlib.AbstractContextManager:
    import torch

    return {
        "enable_grad": torch.enable_grad,
        "no_grad": torch.no_grad,
        "set_grad_enabled(False)": lambda: torch.set_grad_enabled(False),
        "inference_mode": torch.inference_mode,
    }[name]()


def _mode_cases() -> Iterator[Any]:
    for backend_id in _available("torch", "torch-forward", "torch-reverse", TORCH_DYNAMO):
        for context in ("enable_grad", "no_grad", "set_grad_enabled(False)", "inference_mode"):
            # torch.compile guards on grad mode, and compiles again per mode: two modes for it.
            if backend_id != TORCH_DYNAMO or context in ("no_grad", "inference_mode"):
                yield pytest.param(backend_id, context, id=f"{backend_id}-{context}")


@pytest.mark.parametrize(("backend_id", "context"), list(_mode_cases()))
def test_torch_operators_work_under_grad_modes_and_keep_them(
    backend_id: str, context: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under no_grad, set_grad_enabled(False) and inference_mode the operators still differentiate, and
    the mode is the same inside the block after the call (successful or not) and after the block."""
    import torch

    isolate_dynamo(backend_id, monkeypatch)
    b = _backend_for(backend_id)
    ops = DYNAMO_OPS if backend_id == TORCH_DYNAMO else OPS
    warm_up(b, *ops, kinds=DYNAMO_KINDS)
    for op in ops:
        for outcome in ("ok", "user_error"):
            for made in ("inside", "outside"):
                outer = torch.tensor(X, requires_grad=True), torch.tensor(C)
                outer[0].grad = torch.full_like(outer[0], 7.0)
                mine = describe(outer[0]), describe(outer[1])
                before = engine_state()
                with _torch_context(context):
                    modes = _torch_modes()
                    # "inside": tensors made in the block (inference tensors under inference_mode).
                    x, c = (torch.tensor(X), torch.tensor(C)) if made == "inside" else outer
                    call(op, outcome, x, c, b, backend_id)
                    assert _torch_modes() == modes, f"{op} {outcome}: modes {modes} -> {_torch_modes()}"
                assert not changes(before, engine_state()), changes(before, engine_state())
                assert not changes(mine[0], describe(outer[0])), changes(mine[0], describe(outer[0]))
                assert not changes(mine[1], describe(outer[1])), changes(mine[1], describe(outer[1]))
    engines_still_work("torch")


def test_torch_compile_still_compiles_after_tensorflow_was_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """One engine's use leaves no global state that breaks another's: a Torch(compile=...) operator still
    compiles after TensorFlow tensors have gone through abstractad in the same process."""
    if not ("torch" in BACKENDS and "tensorflow" in BACKENDS):
        pytest.skip("needs torch and tensorflow")
    import tensorflow as tf

    monkeypatch.setattr(_arrays, "_DTYPE_NAMES", {})
    ad.gradient(f_scalar, tf.constant(X), tf.constant(C), backend="tensorflow")

    def f(x: Any, c: Any) -> Any:  # a function without a compiled operator yet
        return 2.0 * f_scalar(x, c)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the fallback to eager warns
        g = ad.gradient(f, X, C, backend=_backend_for(TORCH_DYNAMO))
    assert_close(g, 2 * GRAD, 1e-12)


DYNAMO_RECOMPILES = (
    "torch.compile guards on module-level state that changes after the first call: the length of "
    "abstractad._arrays._DTYPE_NAMES (grows when any call sees a new dtype) and which counters the "
    "thread-local abstractad.backends.torch._state holds (created lazily), so compiled operators are "
    "compiled again on their second call and after calls elsewhere with new dtypes, until dynamo's "
    "recompile limit sends them to eager"
)


def test_torch_compiled_operators_are_not_recompiled_by_later_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled operator is compiled once: repeated calls, and calls of other operators with other
    dtypes in between, leave no state that makes it compile again."""
    if "torch" not in BACKENDS:
        pytest.skip("torch is not installed")
    from torch._dynamo.utils import counters

    monkeypatch.setattr(_arrays, "_DTYPE_NAMES", {})
    compiled = _backend.LRUCache()
    monkeypatch.setattr(_backend, "COMPILED", compiled)
    monkeypatch.setattr(_call, "COMPILED", compiled)
    b = _backend_for(TORCH_DYNAMO)

    def f(x: Any, c: Any) -> Any:  # a function without a compiled operator yet
        return 3.0 * f_scalar(x, c)

    ad.hessian(f, X, C, backend=b)
    frames = counters["frames"]["total"]
    ad.hessian(f, X + 1.0, C, backend=b)
    ad.gradient(f_scalar, X.astype(np.float32), C.astype(np.float32), backend="torch")  # another dtype, eagerly
    assert_close(ad.hessian(f, X, C, backend=b), 3.0 * HESS, 1e-12)
    assert counters["frames"]["total"] == frames, "the compiled operator was compiled again"


# ---------------------------------------------------------------------------- threads

THREAD_BACKENDS = _available(
    "autograd", "finitediff", "jax", "jax-compiled", "torch", TORCH_DYNAMO, "tensorflow", "tensorflow-compiled"
)


def in_threads(work: Callable[[int], Any], n_items: int, n_threads: int = 8) -> dict[int, Any]:
    """``{i: work(i)}`` computed by `n_threads` threads started together, with frequent thread switches."""
    results: dict[int, Any] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def worker(k: int) -> None:
        try:
            start.wait()
            for i in range(k, n_items, n_threads):
                results[i] = work(i)
        except BaseException as e:  # handed to the main thread
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    if errors:
        raise errors[0]
    return results


@pytest.mark.parametrize("backend_id", THREAD_BACKENDS)
def test_threads_get_the_serial_results(backend_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 threads calling jvp, vjp, jacobian and hessian at once, unprepared and prepared (one prepared
    operator shared by all threads), get exactly what serial calls get; the main thread's engine state
    is untouched by the threads' calls."""
    isolate_dynamo(backend_id, monkeypatch)
    baseline = engine_state()
    b = _backend_for(backend_id)
    vector, scalar = SCENARIOS["affine_tanh"], SCENARIOS["rosenbrock"]
    v, w = vector.seeds()
    rng = np.random.default_rng(1)
    cases = []
    for op, s, seeds in (
        ("jvp", vector, (v,)),
        ("vjp", vector, (w,)),
        ("jacobian", vector, ()),
        ("hessian", scalar, ()),
    ):
        points = [s.x + 0.1 * rng.standard_normal(s.x.shape) for _ in range(8)]
        operator = getattr(ad, op)
        prepared = ad.prepare(op, s.f, s.x, *seeds, *s.args, backend=b)

        def both(i: int, op=operator, s=s, seeds=seeds, prepared=prepared, points=points) -> tuple[Any, Any]:
            p = points[i]
            return op(s.f, p, *seeds, *s.args, backend=b), prepared(p, *seeds, *s.args)

        cases.append((op, both, [both(i) for i in range(len(points))]))
    assert_only_imported(baseline)
    before = engine_state()  # after the serial calls: whatever the engines import lazily is loaded
    for op, both, serial in cases:
        parallel = in_threads(both, len(serial))
        assert sorted(parallel) == list(range(len(serial))), op
        for i, (unprepared, prep) in enumerate(serial):
            assert_close(parallel[i][0], unprepared, 1e-12)
            assert_close(parallel[i][1], prep, 1e-12)
    assert not changes(before, engine_state()), changes(before, engine_state())


# ---------------------------------------------------------------------------- memory

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux: /proc/self/statm)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 2**20
    except OSError:
        pytest.skip("no /proc/self/statm to read memory from")


# Measured here (2 CPUs, eager gradient of a fresh closure of 3 elements): autograd 0.22 ms, finite
# differences 0.29 ms, torch 0.24 ms, JAX 2.6 ms and TensorFlow 2.6 ms a call, so 10,000 calls take
# 2-3 s on the first three and 26 s on each of JAX and TensorFlow: those two make 1,000 calls (their
# per-call cost is the engine's eager dispatch, not the plans; the plan cache still turns over 4 times).
EAGER_CALLS = {"autograd": 10_000, "finitediff": 10_000, "torch": 10_000, "jax": 1_000, "tensorflow": 1_000}
WARMUP = 500  # more than the plan cache holds (256): it is full before memory is measured
EAGER_GROWTH_MB = 30.0  # measured: +0.3 to +0.8 MB for 10,000 calls (TensorFlow +6.4 MB for 10,000)


def _fresh_closures(b: ad.Backend, start: int, stop: int, rtol: float, refs: list[weakref.ref] | None = None) -> None:
    x = np.array([0.5, 1.0, 1.5])
    for k in range(start, stop):
        scale = 1.0 + 1e-4 * k

        def f(z: Any, scale: float = scale) -> Any:  # a new function object, and a new plan, each call
            xp = ad.array_namespace(z)
            return scale * xp.sum(z * z)

        g = ad.gradient(f, x, backend=b)
        if refs is not None:
            refs.append(weakref.ref(f))
        if k % 97 == 0:  # the results are right, not just produced
            assert_close(g, 2 * scale * x, rtol)
            assert len(_operators.PLANS) <= _operators.PLANS.maxsize


@pytest.mark.parametrize("engine", sorted(EAGER_CALLS))
def test_fresh_closures_keep_memory_flat(engine: str) -> None:
    """Many unprepared calls, each with a new function object: the plan cache stays at its bound, the
    functions it evicted are released, and resident memory stays flat."""
    if engine not in BACKENDS:
        pytest.skip(f"{engine} is not installed")
    b = BACKENDS[engine]()
    rtol = tolerance(engine, np.float64, 1)
    plans = _operators.PLANS
    _fresh_closures(b, 0, WARMUP, rtol)
    gc.collect()
    start = rss_mb()
    refs: list[weakref.ref] = []
    n = EAGER_CALLS[engine]
    _fresh_closures(b, WARMUP, WARMUP + n, rtol, refs)
    gc.collect()
    growth = rss_mb() - start
    assert len(plans) == plans.maxsize
    alive = sum(r() is not None for r in refs)
    assert alive <= plans.maxsize, f"{alive} of {n} fresh closures are still referenced (cache bound {plans.maxsize})"
    assert refs[0]() is None
    assert growth < EAGER_GROWTH_MB, f"{engine}: resident memory grew {growth:.1f} MB over {n} calls"


# (fresh closures, cache bound) per compiled backend. Compiling is slow here (JAX about 50 ms per
# fresh closure, TensorFlow 25 ms, torch.compile's dynamo 0.4 s), hence the few closures.
COMPILED_CALLS = {"jax": (60, 8), "tensorflow": (100, 8), TORCH_DYNAMO: (4, 2)}
# TensorFlow keeps ~30 KB of native memory per concrete function created and dropped while others live
# (a plain tf.function loop shows it too); it levels off near 30 MB after about 900 functions.
COMPILED_GROWTH_MB = 50.0


@pytest.mark.parametrize("backend_id", sorted(COMPILED_CALLS))
def test_compiled_functions_are_bounded_and_released(backend_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived process compiling operators for ever new functions keeps at most the cache's bound
    of compiled operators: evicted ones (and the functions they hold) are released."""
    if _engine_of(backend_id) not in BACKENDS:
        pytest.skip(f"{_engine_of(backend_id)} is not installed")
    n, bound = COMPILED_CALLS[backend_id]
    monkeypatch.setattr(_arrays, "_DTYPE_NAMES", {})  # DYNAMO_AFTER_TF
    compiled = _backend.LRUCache(bound)
    monkeypatch.setattr(_backend, "COMPILED", compiled)
    monkeypatch.setattr(_call, "COMPILED", compiled)
    monkeypatch.setattr(_operators, "PLANS", _backend.LRUCache(bound))
    b = _backend_for(backend_id) if backend_id == TORCH_DYNAMO else BACKENDS[f"{backend_id}-compiled"]()
    _fresh_closures(b, 0, bound, 1e-12)
    gc.collect()
    start = rss_mb()
    refs: list[weakref.ref] = []
    operators: list[weakref.ref] = []
    for k in range(n):
        _fresh_closures(b, 1000 + k, 1001 + k, 1e-12, refs)
        if k < bound:  # the compiled operators that will be evicted first
            operators.append(weakref.ref(list(compiled._data.values())[-1][0]))
    gc.collect()
    growth = rss_mb() - start
    assert len(compiled) == bound
    assert sum(r() is not None for r in refs) == bound, "functions of evicted compiled operators are kept"
    assert all(r() is None for r in operators), "evicted compiled operators are still referenced"
    assert growth < COMPILED_GROWTH_MB, f"{backend_id}: resident memory grew {growth:.1f} MB over {n} compilations"
