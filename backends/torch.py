"""PyTorch: ``torch.func`` transforms (``jvp``, ``vjp``, ``vmap``), with faster eager paths at the top level.

Which path a primitive takes, decided per call:

- **top level** (no ``torch.func`` transform active, not being traced by ``torch.compile``, not inside
  one of our own eager paths): reverse mode is ``torch.autograd.grad`` on a fresh detached leaf and
  forward mode is ``torch.autograd.forward_ad`` dual numbers. Both avoid ``torch.func``'s per-call
  wrapping, about 2-3x faster on small inputs.
- **nested** (inside a ``torch.func`` transform, the user's or ours, inside ``torch.compile``, or
  inside ``f`` while one of our eager paths runs it): ``torch.func.vjp`` / ``torch.func.jvp``, which
  compose with each other and with an outer eager ``autograd.grad`` or dual-number level.
  ``torch.autograd.grad`` inside ``torch.func.jvp`` does not work (``requires_grad_`` is refused
  inside a transform), and forward-mode dual levels cannot nest, hence the switch.
- **recorded** (a top-level call where x, a seed or an array constant requires grad, grad mode on; see
  ``_Recording``): the arguments stay in the caller's graph and so do the results, differentiable
  once more: reverse mode is ``torch.autograd.grad(..., create_graph=True)``, the rest the nested path.

The depth of our eager paths is a thread-local counter; ``torch.func`` levels are read with
``torch._C._functorch.maybe_current_level()``. Second-order operators (``nest()``) use ``torch.func``
for the outer level too, so a forward-over-forward derivative never meets a dual level of ours;
when the user nests our operators by hand inside a dual-number pushforward, the inner forward
call asks the outer one to start again with ``torch.func.jvp`` (`f` then runs once more).

PyTorch's forward mode keeps one process-wide dual level, so forward-mode calls are serialised
by a lock (reverse mode runs freely in threads).

Pytrees reach the primitives as tuples of tensors (``takes_pytrees``): each leaf gets its own
detached leaf or dual tensor on the eager paths, ``torch.func`` takes the tuple as it is, and a
leaf that `f` does not use gets zeros.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import array_api_compat.torch as xp_torch
import numpy as np
import torch
import torch.autograd.forward_ad as fwad
from torch._C import _functorch

from abstractad import _arrays
from abstractad._backend import Backend, Mode, check_mode
from abstractad._fallback import Fallback

from ._torch_arrays import _to_tensor

Tensor = torch.Tensor


class _Counters(threading.local):
    """Per-thread depth counters of our own levels, set to 0 in every thread before first use:
    torch.compile guards on which attributes a thread-local holds, so a counter created lazily by the
    first nested call would cost every compiled operator a recompile."""

    def __init__(self) -> None:
        self.inside = self.dual = self.nest = self.graph = 0


_state = _Counters()
# torch's forward mode has one dual level per process (torch.func.jvp enters it too).
_FORWARD_LOCK = threading.RLock()


class _RestartWithFunc(BaseException):
    """Raised by a forward call nested inside our own dual-number level: the outer call restarts
    with torch.func.jvp. A BaseException so that a user's ``except Exception`` in `f` lets it pass."""


def _get(attr: str) -> int:
    return getattr(_state, attr, 0)


class _count:
    """Count a level of ours in a thread-local counter while inside (a class: cheaper than a generator)."""

    __slots__ = ("attr",)

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __enter__(self) -> None:
        setattr(_state, self.attr, _get(self.attr) + 1)

    def __exit__(self, *exc: object) -> None:
        setattr(_state, self.attr, _get(self.attr) - 1)


def _top() -> bool:
    """True when no transform, trace or eager path of ours is differentiating the current call (nor the
    caller's autograd recording it, see _Recording)."""
    return not torch.compiler.is_compiling() and _state.inside == 0 and _functorch.maybe_current_level() is None


class _Recording:
    """Around a top-level call some of whose arguments require grad (see ``Torch.recording_context``), with grad
    mode on: the call counts as one level of ours, so ``asarray`` keeps the arguments attached to the
    caller's graph and the primitives keep results attached too: reverse mode by ``autograd.grad`` with
    ``create_graph=True`` (see _recording), everything else by the ``torch.func`` path, whose results carry
    autograd's graph to every tensor that requires grad (x, seeds, constants, closed-over parameters).
    Under ``no_grad`` or ``inference_mode`` it does nothing: results stay plain."""

    __slots__ = ("on",)

    def __enter__(self) -> None:
        self.on = torch.is_grad_enabled() and not torch.is_inference_mode_enabled() and _top()
        if self.on:
            _state.inside, _state.graph = _get("inside") + 1, 1

    def __exit__(self, *exc: object) -> None:
        if self.on:
            _state.inside, _state.graph = _get("inside") - 1, 0


def _recording() -> bool:
    """True at the level of a recorded call itself (see _Recording), not inside `f` nor a transform."""
    return (
        not torch.compiler.is_compiling()
        and _get("graph") == 1
        and _get("inside") == 1
        and _functorch.maybe_current_level() is None
    )


def _grad_on() -> contextlib.AbstractContextManager:
    if torch.is_inference_mode_enabled():
        return _no_inference()
    return contextlib.nullcontext() if torch.is_grad_enabled() else torch.enable_grad()


def _forward(f: Callable, z: Any) -> Any:
    """f(z) on a top-level eager path (z: our fresh leaves), counted as one level of ours, with grad mode
    on. The common case (grad mode on, no inference mode) without context managers: it is most of the
    cost of a small eager call."""
    if torch.is_grad_enabled() and not torch.is_inference_mode_enabled():
        _state.inside += 1
        try:
            y = f(z)
        finally:
            _state.inside -= 1
        return y if type(y) is Tensor else _check_output(y)
    with _grad_on(), _count("inside"):
        return _check_output(f(z))


@contextlib.contextmanager
def _no_inference() -> Iterator[None]:
    with torch.inference_mode(False), torch.enable_grad():
        yield


# The scope of an ordinary call: none (a nullcontext is reusable, and every call asks for one).
_NO_SCOPE = contextlib.nullcontext()


def _no_inference_only() -> contextlib.AbstractContextManager:
    return torch.inference_mode(False) if torch.is_inference_mode_enabled() else contextlib.nullcontext()


def _check_output(y: Any) -> Any:
    """f(x): one tensor, or a tuple of them (a pytree's leaves)."""
    if isinstance(y, torch.Tensor):
        return y
    bad = next((a for a in y if not isinstance(a, torch.Tensor)), None) if isinstance(y, tuple) else y
    if isinstance(y, tuple) and bad is None:
        return y
    raise TypeError(
        f"f must return a torch tensor, but it returned {type(bad).__name__}. "
        "Build the result from x with torch (or ad.array_namespace(x)) operations."
    )


def _cast(seed: Tensor, like: Tensor) -> Tensor:
    if _arrays.is_dtensor(like) and not _arrays.is_dtensor(seed):
        return _replicated(seed.to(like.dtype), like)
    return seed if seed.dtype == like.dtype and seed.device == like.device else seed.to(like.device, like.dtype)


def _replicated(t: Tensor, like: Any) -> Any:
    """A plain tensor (a seed) as a DTensor replicated over `like`'s mesh: torch refuses to mix the two.
    ``from_local`` without the check needs no communication (every rank holds the same seed)."""
    from torch.distributed.tensor import DTensor, Replicate

    mesh = like.device_mesh
    return DTensor.from_local(t, mesh, [Replicate()] * mesh.ndim, run_check=False)


# Pytrees reach the primitives as tuples of tensors (their leaves, each its own shape and dtype);
# these helpers apply a per-tensor step to one tensor or to each leaf of such a tuple.


def _cast_all(seed: Any, like: Any) -> Any:
    if isinstance(like, tuple):
        return tuple([_cast(s, a) for s, a in zip(seed, like, strict=True)])
    return _cast(seed, like)


def _each(fn: Callable[[Tensor], Any], a: Any) -> Any:
    return tuple([fn(t) for t in a]) if isinstance(a, tuple) else fn(a)


def _as_leaf(x: Tensor) -> Tensor:
    """A fresh detached view of `x` that requires grad: the user's tensor itself is left alone."""
    leaf = x.detach()
    leaf.requires_grad = True  # the setter, not requires_grad_(): functorch refuses that in a bridge
    return leaf


def _grads(y: Any, leaves: Any, x: Any, w: Any, retain: bool, create: bool = False) -> Any:
    """``wᵀ J`` by ``torch.autograd.grad`` from the outputs `y` to the detached `leaves` of `x` (each
    one tensor or a tuple of them; ``w=None``: the gradient of a scalar); zeros for a leaf that no
    output depends on. The general case of the single-tensor code in pullback. ``create``: the
    result is differentiable once more (``create_graph``)."""
    ys = y if isinstance(y, tuple) else (y,)
    ws = (None,) * len(ys) if w is None else w if isinstance(y, tuple) else (w,)
    live = [(out, None if s is None else _cast(s, out)) for out, s in zip(ys, ws, strict=True) if out.requires_grad]
    inputs = leaves if isinstance(leaves, tuple) else (leaves,)
    gs: Any = (None,) * len(inputs)
    if live:
        outs, seeds = zip(*live)
        gs = torch.autograd.grad(outs, inputs, seeds, retain_graph=retain, create_graph=create, allow_unused=True)
    xs = x if isinstance(x, tuple) else (x,)
    out = tuple([torch.zeros_like(a) if g is None else g.contiguous() for a, g in zip(xs, gs)])
    return out if isinstance(x, tuple) else out[0]


def _graph_leaf(a: Tensor) -> Tensor:
    """What `f` gets in a recorded call (see _Recording): a view of a tensor that requires grad, in the
    caller's graph (a view, not the tensor: a gradient in x must not count its uses as a constant);
    for any other tensor a fresh leaf of ours, as on the plain path."""
    return a.view_as(a) if a.requires_grad else _as_leaf(a)


def _plain_tangent(t: Tensor) -> Tensor:
    return t.detach().contiguous()


def _primal_and_tangent(primal: Tensor, tangent: Tensor | None) -> tuple[Tensor, Tensor]:
    """An unpacked dual output as plain tensors; no tangent (f does not depend on x): zeros."""
    primal = primal.detach()
    return primal, torch.zeros_like(primal) if tangent is None else tangent.detach().contiguous()


def _forward_lock() -> contextlib.AbstractContextManager:
    return contextlib.nullcontext() if torch.compiler.is_compiling() else _FORWARD_LOCK


def _along_tangents(x: Tensor, vs: Tensor, along: Callable[[Tensor, Tensor], Any]) -> tuple[Any, bool]:
    """``along(primal, v)`` for each row v of `vs`, in one ``torch.func.vmap``, and whether the call is at
    the top level (its results are then detached by the caller). Inside our own dual level torch.func
    cannot run: the pushforward that opened it starts again with torch.func (_RestartWithFunc)."""
    vs = _cast(vs, x)
    top = _top()
    with _forward_lock():
        if not top and _get("dual") > 0:
            raise _RestartWithFunc
        primal = x.clone() if top else x  # as in _dual_pushforward: the user's storage stays read-only
        return torch.func.vmap(lambda v: along(primal, v))(vs), top


@dataclasses.dataclass(frozen=True)
class Torch(Backend):
    """Differentiate with PyTorch: ``torch.func.jvp`` / ``vjp`` / ``vmap``, with eager fast paths.

    `f` receives torch tensors: write it with ``torch`` or with ``ad.array_namespace(x)``.
    ``device="cuda"`` (any torch device) moves inputs there; results come back to the library
    and device of `x`. ``compile=True`` wraps each derived operator in ``torch.compile`` (a
    torch.compile backend name such as ``"aot_eager"`` chooses that backend instead of inductor);
    where compilation fails it runs eagerly after one warning. Grad mode, ``no_grad`` and
    ``inference_mode`` are respected around the call, and the user's tensors are never touched
    (no ``requires_grad`` flag set, no ``.grad`` written). Where x, a seed or an array constant requires
    grad and grad mode is on, results carry autograd's graph (``create_graph=True``): ``backward()``
    through a gradient works (gradient penalties, MAML). Otherwise they are plain tensors without a
    graph; inside the user's ``torch.func`` transform they carry its tangents.

    >>> import torch, abstractad as ad
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> ad.gradient(lambda x: (x ** 3).sum(), x, backend=ad.backends.Torch())
    tensor([ 3., 12.], dtype=torch.float64)
    >>> ad.hessian(lambda x: (x ** 3).sum(), x, backend="torch")
    tensor([[ 6.,  0.],
            [ 0., 12.]], dtype=torch.float64)
    """

    name: ClassVar[str] = "torch"
    takes_dtensor: ClassVar[bool] = True  # reverse mode over DTensor leaves keeps their placements
    takes_pytrees: ClassVar[bool] = True
    mode: Mode = None
    device: str | torch.device | None = None
    compile: bool | str = False

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as e:
                raise ValueError(f"Torch(device={self.device!r}): not a torch device ({e})") from None
        if not isinstance(self.compile, (bool, str)):
            raise TypeError(
                f"Torch(compile=...) takes True, False or a torch.compile backend name, not {self.compile!r}"
            )

    # ------------------------------------------------------------------ primitives
    def pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        v = _cast_all(v, x) if isinstance(x, tuple) else _cast(v, x)
        with _forward_lock():
            if not _top():
                if _get("dual") > 0:  # inside our own dual level, which cannot nest
                    raise _RestartWithFunc
                return torch.func.jvp(f, (x,), (v,))
            if _get("nest") == 0:
                try:
                    return self._dual_pushforward(f, x, v)
                except _RestartWithFunc:
                    pass  # f nests a forward derivative of ours: start again with torch.func
                except RuntimeError as e:
                    if "Nested forward mode AD" not in str(e):  # f calls torch.func.jvp itself
                        raise
            y, t = torch.func.jvp(f, (x,), (v,))
            if isinstance(y, tuple):
                return _each(torch.Tensor.detach, y), _each(_plain_tangent, t)
            return y.detach(), t.detach().contiguous()

    def _dual_pushforward(self, f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
        with _no_inference_only(), fwad.dual_level(), _count("inside"), _count("dual"):
            # A dual tensor writes through to its primal's storage, which is the user's array here (a
            # zero-copy view): an f that writes into its input must write into a copy.
            if isinstance(x, tuple):
                y = _check_output(f(tuple([fwad.make_dual(a.clone(), s) for a, s in zip(x, v)])))
            else:
                y = _check_output(f(fwad.make_dual(x.clone(), v)))
            if isinstance(y, tuple):
                pairs = [_primal_and_tangent(*fwad.unpack_dual(out)) for out in y]
                return tuple([p for p, _ in pairs]), tuple([t for _, t in pairs])
            primal, tangent = fwad.unpack_dual(y)
        primal = primal.detach()
        tangent = torch.zeros_like(primal) if tangent is None else tangent.detach().contiguous()
        return primal, tangent

    def pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        if not _top():
            if _recording():
                return self._recorded_pullback(f, x)
            y, vjp = torch.func.vjp(f, x)
            return y, lambda w: vjp(_cast_all(w, y))[0]
        if isinstance(x, tuple):
            return self._tuple_pullback(f, x)
        leaf = _as_leaf(x)
        y = _forward(f, leaf)
        if isinstance(y, tuple):
            return _each(torch.Tensor.detach, y), lambda w: _grads(y, leaf, x, w, True)

        def pullback(w: Tensor) -> Tensor:
            if not y.requires_grad:  # f does not depend on anything that needs a gradient
                return torch.zeros_like(x)
            (g,) = torch.autograd.grad(y, leaf, _cast(w, y), retain_graph=True, allow_unused=True)
            return torch.zeros_like(x) if g is None else g.contiguous()

        return y.detach(), pullback

    def _tuple_pullback(self, f: Callable, x: tuple[Tensor, ...]) -> tuple[Any, Callable[[Any], Any]]:
        """The top-level pullback for a tuple of tensors: one detached leaf each, one autograd.grad."""
        leaves = tuple([_as_leaf(a) for a in x])
        y = _forward(f, leaves)
        return _each(torch.Tensor.detach, y), lambda w: _grads(y, leaves, x, w, True)

    def _recorded_pullback(self, f: Callable, x: Any) -> tuple[Any, Callable[[Any], Any]]:
        """The pullback of a recorded call (see _Recording): ``autograd.grad`` with ``create_graph``, from
        views of the arguments that require grad (fresh leaves for the others); f(x) stays attached too."""
        z = _each(_graph_leaf, x)
        with _count("inside"):  # grad mode is on: _Recording checked it
            y = _check_output(f(z))
        return y, lambda w: _grads(y, z, x, w, True, create=True)

    def value_and_gradient(self, f: Callable, x: Any, check: Callable[[Any], None]) -> tuple[Any, Any] | None:
        """At the top level: one forward pass and one ``autograd.grad`` that frees the graph."""
        if not _top():
            if not _recording():
                return None
            y, pullback = self._recorded_pullback(f, x)
            check(y)
            return y, pullback(None)
        leaf = tuple([_as_leaf(a) for a in x]) if isinstance(x, tuple) else _as_leaf(x)
        y = _forward(f, leaf)
        check(y)
        if isinstance(y, tuple) or isinstance(x, tuple):
            return _each(torch.Tensor.detach, y), _grads(y, leaf, x, None, False)
        g = torch.autograd.grad(y, leaf, allow_unused=True)[0] if y.requires_grad else None
        return y.detach(), torch.zeros_like(x) if g is None else g

    # ------------------------------------------------------------------ batched primitives
    def batched_pushforward(self, f: Callable, x: Tensor, vs: Tensor) -> tuple[Tensor, Tensor]:
        def jvp(primal: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
            return torch.func.jvp(f, (primal,), (v,))

        # Under the user's vmap the primal comes out batched over the tangents too, which
        # out_dims=None refuses: stack it (an expanded view when unbatched) and take one row.
        (ys, cols), top = _along_tangents(x, vs, jvp)
        y = ys[0]
        return (y.detach(), cols.detach()) if top else (y, cols)

    def second_directionals(self, f: Callable, x: Any, vs: Tensor) -> Tensor | None:
        """One ``torch.func.vmap`` of two nested ``torch.func.jvp``s along each row of `vs` (the Laplacian
        of an array-valued f); None for a tuple of tensors."""
        if isinstance(x, tuple):
            return None

        def twice(primal: Tensor, v: Tensor) -> Tensor:
            return torch.func.jvp(lambda z: torch.func.jvp(f, (z,), (v,))[1], (primal,), (v,))[1]

        out, top = _along_tangents(x, vs, twice)
        return out.detach() if top else out

    def batched_pullback(self, f: Callable, x: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
        if not _top():
            y, vjp = torch.func.vjp(f, x)
            return y, torch.func.vmap(lambda w: vjp(_cast(w, y))[0])
        y, vjp = torch.func.vjp(f, x.detach().clone())

        def pullbacks(ws: Tensor) -> Tensor:
            return torch.func.vmap(lambda w: vjp(w)[0])(_cast(ws, y)).detach()

        return y.detach(), pullbacks

    # ------------------------------------------------------------------ hooks
    def namespace(self, x: Any) -> Any:
        return xp_torch

    def recording_context(self, arrays: Any) -> type[_Recording] | None:
        """The context for calls where some of `arrays` (the arguments' leaves) require grad: results then
        carry autograd's graph (differentiable once more: double backward, gradient penalties, MAML)."""
        return _Recording if any(isinstance(a, torch.Tensor) and a.requires_grad for a in arrays) else None

    def records(self, a: Any) -> bool:
        """Inside a torch.func transform, recorded by autograd (grad mode on, requires_grad), or a dual tensor."""
        if _functorch.is_functorch_wrapped_tensor(a):
            return True
        if a.requires_grad and torch.is_grad_enabled():
            return True
        return fwad.unpack_dual(a).tangent is not None

    def place_like(self, r: Any, x: Any) -> Any:
        """A DTensor gradient with its leaf's placements: torch's autograd picks its own (a ``Shard(0)``
        weight's gradient can come back ``Replicate()``); redistributing it is a local slice or a reduction."""
        if type(x) is Tensor:  # a plain tensor: nothing to place
            return r
        if _arrays.is_dtensor(x) and _arrays.is_dtensor(r) and tuple(r.placements) != tuple(x.placements):
            return r.redistribute(x.device_mesh, x.placements)
        return r

    def asarray(self, a: Any) -> Tensor:
        if type(a) is Tensor and self.device is None and _top() and not a.is_inference():
            return a.detach()  # the common case of a prepared pytree's leaves: a plain tensor, our own view
        if type(a) is np.ndarray and self.device is None and a.dtype.kind == "f" and a.flags.writeable:
            # The common case first (a SciPy user's float array): a fresh zero-copy tensor, outside
            # inference mode an ordinary one (torch.from_numpy refuses non-native byte orders).
            if a.dtype.isnative and not torch.is_inference_mode_enabled():
                return torch.from_numpy(a)
        t = _to_tensor(a)
        if _top():
            t = t.detach()  # our own view: the user's requires_grad and .grad stay as they are
        if t.is_inference():
            t = t.clone()  # inference tensors cannot be saved for backward
        device = self._device()
        if device is not None and t.device != device:
            t = t.to(device)
        return t

    def _device(self) -> torch.device | None:
        if self.device is None:
            return None
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Torch(device={self.device!r}) needs a CUDA GPU, but torch.cuda.is_available() is False "
                f"(torch {torch.__version__}). Use Torch() for the CPU."
            )
        return device

    def eye(self, like: Tensor, n: int, start: int = 0, stop: int | None = None) -> Tensor:
        if start == 0 and stop in (None, n):
            return torch.eye(n, dtype=like.dtype, device=like.device)
        rows = torch.arange(start, n if stop is None else stop, device=like.device)
        return torch.nn.functional.one_hot(rows, n).to(like.dtype)

    def constant(self, like: Tensor, a: Any) -> Tensor:
        return torch.as_tensor(a, device=like.device)

    @property
    def traces_python(self) -> bool:
        return False  # torch.compile rewrites bytecode: sparse operators run eagerly around vmapped products

    def scope(self, dtype: str) -> contextlib.AbstractContextManager:
        # Under inference_mode nothing can be differentiated: leave it for the call (and for the
        # conversions, so that the tensors we create are ordinary ones).
        return _no_inference() if torch.is_inference_mode_enabled() else _NO_SCOPE

    def nest(self) -> contextlib.AbstractContextManager:
        return _count("nest")

    def foreign(self, fn: Any) -> Callable[[Tensor], Tensor]:
        """A ``torch.autograd.Function`` computing ``fn`` whose ``backward`` is ``fn.vjp`` and whose
        ``jvp`` (forward mode) is ``fn.jvp``: usable by ``backward()``, ``torch.autograd.grad``,
        ``torch.func.grad`` / ``vjp`` / ``jvp`` and ``torch.func.vmap`` (one call per batch element)."""
        return _foreign_function(fn)

    def compile_operator(self, fn: Callable) -> Callable | None:
        if not self.compile:
            return None
        return _Compiled(fn, "inductor" if self.compile is True else self.compile)

    def __repr__(self) -> str:
        fields = [f"{k}={getattr(self, k)!r}" for k in ("mode", "device", "compile") if getattr(self, k)]
        return f"Torch({', '.join(fields)})"


def _back(a: Any, like: Tensor) -> Tensor:
    """An inner backend's result as a tensor on `like`'s device, with `like`'s dtype."""
    return _cast(_to_tensor(a), like)


def _isolated(op: Callable[..., Any], *ts: Tensor) -> Tensor:
    """``op(*ts)`` on plain tensors, run in a fresh thread: torch.func's transform levels, forward
    AD's dual level and grad mode are thread-local, so the inner backend (a torch one included)
    starts from a clean slate there. (``torch._C._DisableFuncTorch`` would not do: under it
    ``torch.func.vjp`` silently returns zeros.) Exceptions are re-raised here unchanged."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["out"] = _back(op(*ts), ts[-1])
        except BaseException as e:  # handed to the calling thread as it is
            box["error"] = e

    thread = threading.Thread(target=work, name="abstractad-bridge")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["out"]


def _opaque(op: Callable[..., Any], *ts: Tensor) -> Tensor:
    """``op(*ts)`` computed outside torch on tensors that torch.func may have wrapped.

    Gradient-tracking wrappers are peeled (the result is opaque to them: its own derivative is the
    next level of the bridge, an autograd.Function again); a batch dimension of
    ``torch.func.vmap`` (``jacrev``, ``hessian``) is looped over and put back on the result.
    """
    levels = [_functorch.maybe_get_level(t) if _functorch.is_functorch_wrapped_tensor(t) else -1 for t in ts]
    top = max(levels)
    if top < 0:
        return _isolated(op, *ts)
    at_top = [level == top for level in levels]
    if not any(at and _functorch.is_batchedtensor(t) for at, t in zip(at_top, ts)):
        return _opaque(op, *(_functorch.get_unwrapped(t) if at else t for at, t in zip(at_top, ts)))
    bases, dims = [], []
    for at, t in zip(at_top, ts):
        dim = _functorch.maybe_get_bdim(t) if at and _functorch.is_batchedtensor(t) else None
        bases.append(_functorch.get_unwrapped(t) if dim is not None else t)
        dims.append(dim)
    n = next(b.shape[d] for b, d in zip(bases, dims) if d is not None)
    with torch._C._DisableFuncTorch():  # plain indexing and stacking only: no transform runs here
        rows = [[b.select(d, i) if d is not None else b for b, d in zip(bases, dims)] for i in range(n)]
    slices = [_opaque(op, *row) for row in rows]
    with torch._C._DisableFuncTorch():
        return _functorch._add_batch_dim(torch.stack(slices), 0, top)


def _foreign_function(fn: Any) -> Callable[[Tensor], Tensor]:
    class Vjp(torch.autograd.Function):
        """``(x, w) -> wᵀ J(x)``, differentiable once more: second order through the bridge (the
        inner backend's HVP of ⟨w, f⟩ in x, its JVP in w). Its own derivatives are not defined."""

        @staticmethod
        def forward(x: Tensor, w: Tensor) -> Tensor:
            return _opaque(fn.vjp, x, w)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
            ctx.save_for_backward(*inputs)
            ctx.inputs = inputs  # forward-mode AD cannot read saved tensors

        @staticmethod
        def backward(ctx: Any, u: Tensor) -> tuple[Tensor, Tensor]:
            x, w = ctx.saved_tensors
            return _opaque(fn.vjp_hvp, x, w, u), _opaque(fn.jvp, x, u)

        @staticmethod
        def jvp(ctx: Any, dx: Tensor | None, dw: Tensor | None) -> Tensor:
            x, w = ctx.inputs
            parts = [_opaque(fn.vjp_hvp, x, w, dx)] if dx is not None else []
            if dw is not None:
                parts.append(_opaque(fn.vjp, x, dw))
            return parts[0] if len(parts) == 1 else parts[0] + parts[1]

        @staticmethod
        def vmap(info: Any, in_dims: tuple[int | None, int | None], x: Tensor, w: Tensor) -> tuple[Tensor, int]:
            xs, ws = (_rows(t, d, info.batch_size) for t, d in zip((x, w), in_dims))
            return torch.stack([Vjp.apply(xi, wi) for xi, wi in zip(xs, ws)]), 0

    class Bridge(torch.autograd.Function):
        @staticmethod
        def forward(x: Tensor) -> Tensor:
            with _no_inference_only():
                return _back(fn.value(x.detach()), x)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
            (x,) = inputs
            ctx.save_for_backward(x)
            ctx.x = x  # forward-mode AD cannot read saved tensors

        @staticmethod
        def backward(ctx: Any, w: Tensor) -> Tensor:
            (x,) = ctx.saved_tensors
            return Vjp.apply(x, w)

        @staticmethod
        def jvp(ctx: Any, v: Tensor) -> Tensor:
            return _opaque(fn.jvp, ctx.x, v)

        @staticmethod
        def vmap(info: Any, in_dims: tuple[int | None], x: Tensor) -> tuple[Tensor, int]:
            return torch.stack([Bridge.apply(xi) for xi in _rows(x, in_dims[0], info.batch_size)]), 0

    Bridge.__name__ = f"Bridge[{fn.name}]"
    return Bridge.apply


def _rows(t: Tensor, dim: int | None, n: int) -> list[Tensor]:
    """The `n` slices of `t` along its batch dimension `dim` (`t` itself `n` times when unbatched)."""
    return [t] * n if dim is None else list(t.unbind(dim))


def _summary(e: Exception) -> str:
    """The gist of a torch.compile error: its first lines that say something, on one line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().endswith("raised:")]
    return " ".join(lines[:2])[:300]


_DYNAMO_LRU_CACHE = r"Dynamo detected a call to a `functools.lru_cache`-wrapped function at '_helpers.py"


class _Compiled:
    """``torch.compile(fn)`` that falls back to eager, with one warning, when compiling fails."""

    def __init__(self, fn: Callable, backend: str) -> None:
        self.fn = fn
        # A fresh code object: dynamo caches compiled graphs on the code object, and every derived
        # operator shares one, so without a copy the recompile limit (8) would soon send all of
        # them back to eager.
        own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        self.compiled = torch.compile(own, backend=backend, dynamic=False)
        self.traced = False  # after the first call, which compiles (later ones only guard)
        # Any error of the compiled call falls back: an error in f itself is raised again by the eager run.
        self.run = Fallback(fn, self._compiled, (Exception,), _fallback_message, skip=("torch",))

    def __call__(self, *args: Any) -> Any:
        return self.run(*args)

    def _compiled(self, *args: Any) -> Any:
        # Serialised: inside a compiled region forward mode runs without the forward lock, and
        # torch's dual level is one per process.
        with _FORWARD_LOCK:
            if self.traced:
                return self.compiled(*args)
            with warnings.catch_warnings():
                # Dynamo's notes on array-api-compat's cached helpers (the namespace that
                # ad.array_namespace gives f): it traces through them, correctly.
                warnings.filterwarnings("ignore", message=_DYNAMO_LRU_CACHE, category=UserWarning)
                out = self.compiled(*args)
            self.traced = True
            return out


def _fallback_message(e: BaseException) -> str:
    return (
        "Torch(compile=True): torch.compile failed, running this operator eagerly instead "
        f"({type(e).__name__}: {_summary(e)})"
    )
