"""The internal hooks of a backend, with their defaults: what the built-in engines and the generic layer use.

An engine author writes ``Backend``'s primitives and, for speed, its optional hooks (in ``_backend``). The
hooks here integrate an engine with the rest of the library: contexts around calls, bridges between
engines, recording for double backward, result placement, compilation details, sparsity detection. Every
default is right for a backend that does none of that; the built-in engines override what they do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

Array = Any


class InternalHooks:
    """The base of ``Backend``: the internal hooks (see docs/writing-a-backend.md), each with its default."""

    # dtypes the engine cannot differentiate (bfloat16 on the NumPy engines): a TypeError up front.
    unsupported_dtypes: ClassVar[frozenset[str]] = frozenset()
    # The modes in which this engine can differentiate a function bridged in by ``foreign``
    # (JAX's custom_vjp and TensorFlow's custom_gradient have no forward mode).
    bridge_modes: ClassVar[tuple[str, ...]] = ("forward", "reverse")
    # Whether torch DTensors may be differentiated leaf by leaf in reverse mode (the torch backend).
    takes_dtensor: ClassVar[bool] = False
    # Whether the backend computes on arrays of x's own library (finite differences evaluate f on
    # them): the seeds and constants of a call are then brought to x's library and device too.
    follows_x: ClassVar[bool] = False
    # Whether derivatives are exact to rounding; False for approximations (finite differences), whose
    # Hessians the generic layer then makes exactly symmetric.
    exact: ClassVar[bool] = True
    # How many derivatives deep the backend can nest itself (taylor's order, 2 for a Laplacian); None: no limit.
    max_nesting: ClassVar[int | None] = None

    def supports_dtype(self, dtype: str) -> bool:
        """Whether this backend can differentiate arrays of `dtype` (a name, "bfloat16")."""
        return dtype not in self.unsupported_dtypes

    # ------------------------------------------------------------------ contexts
    def scope(self, dtype: str) -> contextlib.AbstractContextManager:
        """A context entered around every operator call (e.g. JAX's float64 switch)."""
        return contextlib.nullcontext()

    def has_scope(self, dtype: str) -> bool:
        """Whether ``scope(dtype)`` can be more than a no-op for `dtype` (JAX's: only for float64 and
        complex128): where it cannot, a prepared or repeated call does not ask for it. Default: whether
        the backend overrides scope."""
        return type(self).scope is not InternalHooks.scope

    def nest(self) -> contextlib.AbstractContextManager:
        """A context entered around second-order derivations (e.g. coarser finite-difference steps)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ second order and bridges
    def taylor(self, f: Callable, x: Array, v: Array, order: int) -> tuple[Array, ...] | None:
        """Optional: ``(dᵏ/dtᵏ f(x + t v) at t = 0 for k = 0 … order)`` the engine's way (JAX: jet), or
        None where it has none or its rules do not cover `f`: then nested pushforwards."""
        return None

    def second_directionals(self, f: Callable, x: Array, vs: Array) -> Array | None:
        """Optional: ``[d²/dt² f(x + t v) at t = 0 for v in vs]`` stacked on a leading axis, in one batched
        call (JAX: a vmap of nested jvps), or None: then one nested pushforward per v (the Laplacian of an
        array-valued f)."""
        return None

    def second_order(
        self, f: Callable, x: Array
    ) -> tuple[InternalHooks, Callable, Array, Callable[[Array], Array]] | None:
        """Optional: ``(outer, gradient of f, x for outer, convert a seed for outer)``, what second order
        differentiates: SecondOrder returns another outer engine and a bridge. None (the default): the
        backend nests itself (``_derive.second_order``)."""
        return None

    # ------------------------------------------------------------------ preparation
    def prepare_operator(self, spec: Any, arguments: Any, static: tuple) -> Any:
        """Optional: the backend's own plan (a subclass of ``abstractad._call.Plan``) for the operator
        that `spec` describes (``abstractad._operators.Spec``), built from the first call's checked
        `arguments` (``abstractad._call.Arguments``) and the operator's `static` options: Sparse's
        sparse Jacobians and Hessians. None (the default): the generic plan."""
        return None

    def foreign(self, fn: Any) -> Callable[[Array], Array]:
        """A function on this engine's arrays that computes ``fn`` (an ``abstractad._bridge.Foreign``)
        and whose derivatives this engine takes from ``fn.jvp`` / ``fn.vjp``: the outer side of
        ``differentiate_with``. Engines that can be differentiated through override it."""
        raise TypeError(
            f"{type(self).__name__} cannot call a function computed by another backend inside its "
            "differentiated programs (it has no foreign-function hook)"
        )

    # ------------------------------------------------------------------ recording (double backward)
    def recording_context(self, arrays: Any) -> Callable[[], contextlib.AbstractContextManager] | None:
        """Optional: for a call some of whose `arrays` (x's, the seeds' and the constants' leaves) the
        caller's own engine records (torch tensors that require grad), a context factory around the
        call in which results keep that record, so that the caller differentiates them once more
        (double backward, gradient penalties, MAML). None (the default): results are plain."""
        return None

    def records(self, a: Any) -> bool:
        """Optional: whether `a`, one of this engine's arrays, is being traced or recorded by the engine
        (a JAX tracer, a torch tensor that requires grad, a tensor under a TensorFlow tape, an autograd
        box). An operator of another backend called on such an array becomes this engine's primitive
        (through `foreign`, as ``differentiate_with`` does), whose derivatives that backend computes.
        Default: False (an engine that cannot be differentiated through)."""
        return False

    # ------------------------------------------------------------------ results and compilation
    def place_like(self, r: Array, x: Array) -> Array:
        """Optional: a result `r` in x's structure placed as its leaf `x` is (a JAX sharding, a DTensor's
        placements), where the engine's own rules place it otherwise. Default: `r` as it is."""
        return r

    @property
    def compiles(self) -> bool:
        """Whether operators are compiled (the backend's ``compile`` option)."""
        return bool(getattr(self, "compile", False))

    @property
    def traces_python(self) -> bool:
        """Whether compile_operator traces Python code as it is (jax.jit, tf.function) rather than
        rewriting its bytecode (torch.compile): library code full of NumPy may then run inside it."""
        return True

    @property
    def takes_numpy(self) -> bool:
        """Whether compile_operator's result takes NumPy float arrays as they are and transfers them
        itself (``jax.jit`` does, in C++): a NumPy user's arrays then skip the conversion."""
        return False

    def eager_advice(self) -> str | None:
        """Optional: what to switch to when the same function runs eagerly many times (JAX: eager calls
        trace `f` anew each time); None (the default) where eager calls are as fast as they get."""
        return None

    # ------------------------------------------------------------------ sparsity
    def jacobian_sparsity(self, f: Callable, x: Array) -> Any:
        """Optional: the global Jacobian pattern of `f` at arrays like `x` (a boolean SciPy CSR), found
        the engine's way (JAX: its jaxpr); None: the generic index-set tracer finds it."""
        return None

    def hessian_sparsity(self, f: Callable, x: Array) -> Any:
        """Optional: the global Hessian pattern of scalar `f` at arrays like `x`; None: the tracer's."""
        return None
