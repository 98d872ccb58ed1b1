"""Running a derived operator: a plan, built once per signature from the first call's checked
arguments, holds the structures (see _structure), the conversions (see _convert) and the (compiled)
operator; each call then converts the arguments into one flat list of the engine's arrays, runs the
operator on it, and converts the results back to the user's library, dtype, device and structure.

A pytree `x` reaches the engine in one of two forms. Backends that take pytrees
(:attr:`Backend.takes_pytrees`) get the tuple of its leaves for the operators whose results have
x's or f(x)'s structure (jvp, vjp, gradient, hvp): nothing is concatenated, so each leaf keeps its
dtype, device and sharding. Everything that forms a matrix (Jacobians, Hessians, lazy operators,
Sparse), and backends that take one array only, get the leaves raveled into one flat vector.

A backend may prepare some operators with a plan of its own (:meth:`Backend.prepare_operator`:
Sparse's sparse Jacobians and Hessians), a subclass of :class:`Plan` that changes some of its steps."""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from . import _arrays, _bridge, _complex, _derive, _direct, _errors, _tree
from ._backend import COMPILED, Backend, cache_key, resolve
from ._convert import engine_library, follow, ravel_seed, to_argument, to_native
from ._direct import Signature
from ._structure import AUX, HESS, IN, OUT, Output, Point, build_result, check_seed, like_x, split_result
from ._tree import Layout
from ._wrapper import Wrapper


class _Wrapped:
    """A wrapper of the user's `f` that plans and compiled operators cache as `f` itself: equal (and
    hashed) by its type and `f`, so a fresh wrapper per call finds the plan the first one made."""

    __slots__ = ("f",)

    def __init__(self, f: Callable) -> None:
        self.f = f

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.f == self.f  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.f))

    @property
    def __name__(self) -> str:
        return getattr(self.f, "__name__", type(self.f).__name__)


class WithKeywords(_Wrapped):
    """``f(x, *args, **kwargs)`` called as ``g(x, *args, kwargs)``: keyword constants travel as one more
    constant (a dict: its arrays converted to the engine's, nothing of it differentiated)."""

    __slots__ = ()

    def __call__(self, x: Any, *args: Any) -> Any:
        *positional, kwargs = args
        return self.f(x, *positional, **kwargs)


class WithAux(_Wrapped):
    """An `f` that returns ``(output, aux)`` (has_aux=True): the operator differentiates the output and
    returns aux as it is, from one more evaluation of `f` at x outside the derivative (which a compiler
    such as XLA merges with the forward pass)."""

    __slots__ = ()

    def __call__(self, *args: Any) -> Any:
        return split_aux(self.f(*args))[0]


def split_aux(out: Any) -> tuple[Any, Any]:
    """``(output, aux)`` of an `f` with has_aux=True, or the TypeError that says what it returned."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            f"has_aux=True needs f to return a pair (output, aux), but it returned {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else "")
        )
    return out[0], out[1]


TREE_OPERATORS = ("jvp", "vjp", "gradient", "hvp")


def takes_tree(b: Backend, operator: str) -> bool:
    """Whether `operator` hands the backend a pytree's leaves as a tuple: where the backend takes
    pytrees and the operator runs on the primitive itself (jvp on a pushforward; vjp, gradient
    and hvp on a pullback), not on a Jacobian matrix or a basis of pushforwards."""
    if not b.takes_pytrees or operator not in TREE_OPERATORS:
        return False
    if operator == "jvp":
        return b.has_pushforward() and _derive.use_forward(b, True)
    return not _derive.use_forward(b, False)


class Arguments:
    """The first call's arguments, checked, and the backend resolved for them: what a plan is built
    from (x as a Point, the seeds' layouts, the constants' structure and array slots, other engines'
    arrays among them). A plan does not keep it: it holds the arrays."""

    def __init__(
        self,
        operator: str,
        f: Callable,
        x: Any,
        seeds: Sequence[Any],
        args: Sequence[Any],
        backend: Backend | str | None,
        seed_kinds: Sequence[str] = (),
    ) -> None:
        if not callable(f):
            raise TypeError(f"{operator} needs a callable f, not {type(f).__name__}")
        self.f, self.point = f, Point(x)
        point = self.point
        _complex.check_x(operator, point.info.dtype, point.layout is not None)
        if point.layout is not None and operator in ("derivative", "second_derivative"):
            raise ValueError(f"{operator} needs a scalar x, not a pytree; use jacobian (or hessian) for pytrees")
        checked = [check_seed(operator, kind, s, point) for s, kind in zip(seeds, seed_kinds)]
        self.seed_kinds, self.seed_layouts = tuple(seed_kinds), [layout for _, layout in checked]
        self.seed_signatures = tuple(_shapes_and_dtypes(leaves) for leaves, _ in checked)
        self.arg_leaves, self.arg_spec = _tree.flatten(tuple(args))
        self.slots = [i for i, a in enumerate(self.arg_leaves) if _arrays.is_array(a)]
        self.b = b = resolve(backend, x if point.layout is None else _tree.flatten(x)[0][0])
        check_dtensors(operator, b, x, seeds, self.arg_leaves)
        self.values, self.leaves = (x, *seeds, *args), _leaves(x, seeds, self.arg_leaves)
        self.outers = _outer_backends(b, self.leaves)
        for info in point.infos:
            if not b.supports_dtype(info.dtype):
                raise _errors.unsupported_dtype(b, info.dtype)
        # What f(x) must be like: the cotangent's layout, "array" for one array, None where no seed says.
        self.expect: Layout | str | None = None
        for layout, kind in zip(self.seed_layouts, seed_kinds):
            if kind == OUT:
                self.expect = "array" if layout is None else layout


class Plan:
    """Everything about one operator call that does not depend on the values: the backend, the
    structures of x, the seeds and the constants, how the arguments convert, and the (compiled)
    operator. ``call`` then only converts, runs and converts back. Unprepared calls keep plans in a
    bounded cache; ``prepare`` keeps one.

    The operator takes one flat list of the engine's arrays (x, or its leaves in tree form; each seed,
    or its leaves; the array constants) and returns, per result, the tuple of its leaves."""

    # Whether NumPy float arguments may go straight to the direct operator (see _direct.signature).
    numpy_direct: ClassVar[bool] = True

    def __init__(
        self,
        operator: str,
        derive: Callable[..., Any],
        arguments: Arguments,
        *,
        results: Sequence[str],
        static: tuple = (),
        keep: int | None = None,
    ) -> None:
        self.operator, self.f, self.b, self.point = operator, arguments.f, arguments.b, arguments.point
        self.seed_kinds, self.seed_layouts = arguments.seed_kinds, arguments.seed_layouts
        self.arg_spec, self.slots, self.outers = arguments.arg_spec, arguments.slots, arguments.outers
        self.kinds = tuple(results) if keep is None else (results[keep],)
        self.tree = self.tree_form()
        self.has_aux = isinstance(self.f, WithAux)
        if self.has_aux:
            self.kinds = (*self.kinds, AUX)
            self.aux_spec: list[Any] = []  # the structure of aux, learned when the operator runs
        point = self.point
        point.tree = self.tree and point.layout is not None
        # How many arrays each argument takes in the flat list: None for one array.
        self.x_count = len(point.infos) if point.tree else None
        self.seed_counts = tuple(
            len(layout.shapes) if self.tree and layout is not None else None for layout in self.seed_layouts
        )
        # The compiled operator takes NumPy arrays as they are where the backend says so (jax.jit).
        self.convert = to_argument if self.b.compiles else to_native
        traced = self.traced_operator(derive, arguments.arg_leaves, static, keep)
        self._first_arguments(arguments)
        self.fn, self.output = self._operator(traced, arguments, static, keep)

    def tree_form(self) -> bool:
        """Whether the backend gets a pytree x's leaves as a tuple (see takes_tree); never for a complex x."""
        return not _complex.is_complex(self.point.info.dtype) and takes_tree(self.b, self.operator)

    def traced_operator(self, derive: Callable, arg_leaves: Sequence[Any], static: tuple, keep: int | None) -> Traced:
        """What builds the operator that the engine runs (see Traced)."""
        return Traced(self, derive, arg_leaves, static, keep)

    def _first_arguments(self, arguments: Arguments) -> None:
        """What the first call's arguments say of the later ones: whether every one is the engine's own
        (then a direct operator is learned, see learn_fast), which are NumPy arrays to convert, and
        whether the caller's engine records them."""
        b = self.b
        # Set after the first call where every argument is already the engine's (see learn_fast): the direct
        # call over (x, *seeds, *constants), and over the operator's flat arrays (what a prepared call checks).
        self.fast: Callable[..., Any] | bool | None = None
        self.fast_leaves: Callable[..., Any] | None = None
        # Eager calls of an engine whose eager calls are slow are counted, for one note (see counted).
        self.calls, self.advice = 0, b.eager_advice()
        # What a direct call takes (None: no direct call for arguments like these).
        self.signature: Signature | None = _direct.signature(self, arguments.values)
        native = self.signature
        # The operator's arguments that a direct call converts: NumPy arrays, where the engine does not take them.
        self.to_engine = (
            ()
            if native is None or b.takes_numpy
            else tuple(i for i, sig in enumerate(native.arrays) if sig[0] is np.ndarray)
        )
        # Arguments that the caller's own engine may record (torch tensors that require grad): calls run in
        # the backend's `recording_context`, where results keep that record (double backward). Plain
        # arguments (a native signature): the plain `call`, no cost.
        self.recording = None if type(b).recording_context is Backend.recording_context else b.recording_context
        if native is None and self.recording is not None and self.recording(arguments.leaves):
            self.call = self._recording_call  # type: ignore[method-assign]

    def _operator(
        self, traced: Traced, arguments: Arguments, static: tuple, keep: int | None
    ) -> tuple[Callable, Output]:
        """The (compiled) operator and the Output in which it learns f(x)'s structure. A compiled one
        is built once per key, in COMPILED, and shared by every plan of that key."""
        b, point, expect = self.b, self.point, arguments.expect
        if not b.compiles:
            return traced.build(expect)
        key = (
            b,
            self.operator,
            keep,
            self.f,
            point.key,
            self.tree,
            point.info.shape,
            point.info.dtype,
            arguments.seed_signatures,
            expect.key if isinstance(expect, Layout) else expect,
            self.arg_spec,
            tuple(cache_key(a) for a in arguments.arg_leaves),
            static,
        )

        def compiled() -> tuple[Callable, Output]:
            op, output = traced.build(expect)
            return b.compile_operator(op) or op, output

        return COMPILED.get_or_build(key, compiled)

    def call(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """The operator at `x` (of the planned structure), with these seeds and constants."""
        with self.b.scope(self.point.info.dtype):
            out = self.fn(*self.flat_arguments(x, seeds, args))
        results = tuple(map(self.result, out, self.kinds))
        if self.signature is not None and self.fast is None:
            self.learn_fast()
        return results

    def flat_arguments(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> list[Any]:
        """The operator's flat list of arguments: x, the seeds and the array constants as the engine's arrays."""
        b, point, convert = self.b, self.point, self.convert
        flat = point.arguments(b, x, convert)
        for s, layout, kind, count in zip(seeds, self.seed_layouts, self.seed_kinds, self.seed_counts):
            if layout is None:
                flat.append(convert(b, s, point.info))
            elif count is not None:  # tree form: each leaf (v's in its x leaf's library and dtype)
                leaves = _tree.flatten(s)[0]
                infos = point.infos if kind == IN else [None] * len(leaves)
                flat.extend(convert(b, a, i) for a, i in zip(leaves, infos))
            else:
                flat.append(ravel_seed(b, _tree.flatten(s)[0], layout, point.info.dtype))
        if self.slots:
            leaves = _tree.flatten(tuple(args))[0]
            flat.extend(convert(b, leaves[i]) for i in self.slots)
        if b.follows_x:  # seeds and constants in x's library (see Backend.follows_x)
            count = self.x_count or 1
            flat[count:] = [follow(a, point.info) for a in flat[count:]]
        return flat

    def result(self, leaves: Sequence[Any], kind: str) -> Any:
        """One result's native leaves back in the user's libraries, devices and structure."""
        if kind == AUX:
            return self._aux(leaves)
        return build_result(leaves, kind, self.point, self.output)

    def _aux(self, leaves: Sequence[Any]) -> Any:
        """aux in its structure, each array leaf back in x's library and device, other leaves as they are."""
        info, (spec, fixed) = self.point.first, self.aux_spec
        arrays = iter([_arrays.restore_python(a, info) for a in leaves])
        return spec.unflatten([next(arrays) if a is None else a for a in fixed])

    def _recording_call(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> tuple[Any, ...]:
        """`call` for a plan built for arguments that the caller's engine records: inside the backend's
        recording context where this call's arguments are recorded (a prepared plan may get plain ones)."""
        assert self.recording is not None
        context = self.recording(_leaves(x, seeds, _tree.flatten(tuple(args))[0]))
        if context is None:
            return Plan.call(self, x, seeds, args)
        with context():  # first: it reads the caller's grad mode, before the backend's scope changes it
            return Plan.call(self, x, seeds, args)

    def recorded(self, x: Any, seeds: Sequence[Any], args: Sequence[Any]) -> bool:
        """Whether another engine traces or records one of the arguments (a JAX tracer given to
        backend="torch"): then the call must be that engine's primitive, not a conversion."""
        outers = self.outers
        return any(
            outers[lib].records(a)
            for a in _leaves(x, seeds, _tree.flatten(tuple(args))[0])
            if (lib := _arrays.library_of(a)) in outers
        )

    def counted(self) -> None:
        """Count an eager call; the EAGER_NOTE_AFTER-th tells the user, once per function and process,
        what to switch to (as TensorFlow's own retracing warning does)."""
        self.calls += 1
        if self.calls != EAGER_NOTE_AFTER or not _first_note(self.f):
            return
        warnings.warn(
            _errors.eager_note(self.operator, self.f, self.b, self.calls, self.advice or ""),
            _errors.EagerWarning,
            stacklevel=_errors.user_stacklevel(),
        )

    def learn_fast(self) -> None:
        """After a call: the direct call, where the plan has one (see _direct.learn)."""
        if self.fast is None:
            self.fast, self.fast_leaves = _direct.learn(self)

    def direct(self) -> Callable[..., Any] | None:
        """The (compiled) operator over its flat arguments returning the public results (see _direct.results)."""
        return _direct.results(self)


class Traced:
    """The operator that an engine runs (and a compiler traces) for one plan: the flat list of
    arguments split into x, seeds and constants, `f` with its constants and structures, the
    derivation, and its results split into leaves. It holds plain values only, not the plan: a
    compiled operator outlives the plan that built it in the compiled cache."""

    def __init__(
        self, plan: Plan, derive: Callable[..., Any], arg_leaves: Sequence[Any], static: tuple, keep: Any
    ) -> None:
        kinds = plan.kinds[:-1] if plan.has_aux else plan.kinds
        self.plan_values = (plan.operator, plan.b, plan.point, kinds, plan.seed_kinds)
        self.aux_spec = plan.aux_spec if plan.has_aux else None
        self.counts = (plan.x_count, plan.seed_counts)
        self.constants = (list(arg_leaves), plan.slots, _tree.rebuilder(plan.arg_spec))
        self.derive, self.f, self.static, self.keep, self.tree = derive, plan.f, static, keep, plan.tree

    def build(self, expect: Layout | str | None) -> tuple[Callable[..., Any], Output]:
        """The operator over the flat arguments, and the Output in which it learns f(x)'s structure."""
        output = Output(self.plan_values[1], expect, self.tree)
        unpack = self.unpacker()
        derived = self.derivation(output, unpack)
        aux_spec, f, unravel = self.aux_spec, self.f, self.plan_values[2].unravel

        if aux_spec is None:
            return derived, output

        def op(*flat: Any) -> tuple[tuple[Any, ...], ...]:
            # has_aux: the derivatives of the output, then aux from one more evaluation at x.
            xn, _, full = unpack(flat)
            aux = split_aux(f.f(unravel(xn), *full))[1]
            leaves_of_aux, spec = _tree.flatten(aux)
            # Arrays are the operator's results; other leaves (strings, numbers) are kept as they are (a
            # compiled operator returns arrays only: its other leaves are those of the trace).
            arrays = tuple(a for a in leaves_of_aux if _arrays.is_array(a))
            aux_spec[:] = [spec, [None if _arrays.is_array(a) else a for a in leaves_of_aux]]
            return (*derived(*flat), arrays)

        return op, output

    def unpacker(self) -> Callable[[Sequence[Any]], tuple[Any, list[Any], tuple]]:
        """The split of the flat arguments into (x, the seeds, the constants with their arrays filled in)."""
        x_count, seed_counts = self.counts
        arg_leaves, slots, rebuild_args = self.constants

        if x_count is None and not seed_counts and not arg_leaves:  # one array x, nothing else
            return lambda flat: (flat[0], [], ())

        def unpack(flat: Sequence[Any]) -> tuple[Any, list[Any], tuple]:
            if x_count is None:
                xn, pos = flat[0], 1
            else:
                xn, pos = tuple(flat[:x_count]), x_count
            seeds = []
            for count in seed_counts:
                if count is None:
                    seeds.append(flat[pos])
                    pos += 1
                else:
                    seeds.append(tuple(flat[pos : pos + count]))
                    pos += count
            if not arg_leaves:
                return xn, seeds, ()
            leaves = list(arg_leaves)
            for slot, value in zip(slots, flat[pos:]):
                leaves[slot] = value
            return xn, seeds, rebuild_args(leaves)

        return unpack

    def derivation(self, output: Output, unpack: Callable[..., Any]) -> Callable[..., tuple[tuple[Any, ...], ...]]:
        """The derivation over the flat arguments, each result as the tuple of its leaves. Complex x,
        seeds and f(x) travel as pairs of reals (see _complex): one convention."""
        operator, b, point, kinds, seed_kinds = self.plan_values
        derive, f, static, keep = self.derive, self.f, self.static, self.keep
        complex_x, x_ndim = _complex.is_complex(point.info.dtype), len(point.info.shape)
        unravel = point.unravel
        # Eager calls of one real array x (or its leaves in tree form) skip the checks of f(x) once its type
        # and dtype have passed them (one real array): a compiled operator runs them once, when it is traced.
        lean = not (b.compiles or complex_x or (point.layout is not None and not point.tree))
        # The complex bookkeeping of a call: made first where a seed may be complex (a cotangent, any seed
        # of a complex x), else only where f(x) is checked.
        new_pairs = functools.partial(_complex.Pairs, operator, complex_x, seed_kinds)
        look = complex_x or OUT in seed_kinds
        lean_results = _lean_results(b, kinds, point.tree)
        # f on the engine's x: the tuple of leaves in tree form rebuilt into x's pytree first.
        at_x = (lambda z, *full: f(unravel(z), *full)) if point.tree else f
        checked_outputs: set = set()

        def derived(*flat: Any) -> tuple[tuple[Any, ...], ...]:
            xn, seeds, full = unpack(flat)
            cx = None
            if look:
                cx = new_pairs()
                seeds = cx.seeds(seeds)
            if lean and not (cx is not None and cx.complex_w):
                missed: list[_complex.Pairs] = []  # the call's bookkeeping, once f(x) has been checked
                known = _checked_once(at_x, full, new_pairs if cx is None else cx, output, checked_outputs, missed)
                out = derive(b, known, xn, *seeds, *static)
                out = out if keep is None else (out[keep],)
                if not missed:  # f(x) is one real array: nothing to put back together
                    return lean_results(out, xn)
                cx = missed[0]
            else:
                cx = new_pairs() if cx is None else cx

                def fx(z: Any) -> Any:
                    return output(f(unravel(z), *full))

                out = derive(b, cx.function(fx), _complex.pairs(xn) if complex_x else xn, *seeds, *static)
                out = out if keep is None else (out[keep],)
            results = (like_x(b, cx.result(r, kind, x_ndim), kind, xn) for r, kind in zip(out, kinds))
            return tuple(split_result(r, kind, point, output) for r, kind in zip(results, kinds))

        return derived


def _lean_results(
    b: Backend, kinds: Sequence[str], tree: bool
) -> Callable[[Sequence[Any], Any], tuple[tuple[Any, ...], ...]]:
    """The results of a lean call (one real array x or, in tree form, the tuple of x's leaves; f(x) one
    real array) as the tuples of their leaves, those in x's structure in x's dtype and placement (see like_x)."""
    place = b.place_like

    def like(r: Any, z: Any) -> Any:  # a gradient's leaf placed as x's is; like_x where the engine changed the dtype
        return place(r, z) if r.dtype == z.dtype else like_x(b, r, IN, z)

    if tree:

        def leaves(out: Sequence[Any], xn: Any) -> tuple[tuple[Any, ...], ...]:
            return tuple(tuple(map(like, r, xn)) if kind == IN else (r,) for r, kind in zip(out, kinds))

        return leaves
    if kinds == (IN,):  # a gradient
        return lambda out, xn: ((like(out[0], xn),),)
    if len(kinds) == 1:
        (kind,) = kinds
        if kind == HESS:
            return lambda out, xn: ((like_x(b, out[0], kind, xn),),)
        return lambda out, xn: ((out[0],),)
    return lambda out, xn: tuple((like_x(b, r, kind, xn) if kind in (IN, HESS) else r,) for r, kind in zip(out, kinds))


def _checked_once(
    f: Callable,
    full: tuple,
    pairs: _complex.Pairs | Callable[[], _complex.Pairs],
    output: Output,
    checked: set,
    missed: list[_complex.Pairs],
) -> Callable[[Any], Any]:
    """`f` at z with its constants, whose result skips the checks of f(x) once a result of its type and
    dtype has passed them as one real array. The first call that runs the checks puts the call's complex
    bookkeeping in `missed`: `pairs` itself, or the one that `pairs` makes."""

    def known(z: Any) -> Any:
        y = f(z, *full)
        try:
            if (type(y), y.dtype) in checked:
                return y
        except (AttributeError, TypeError):
            pass
        if not missed:
            missed.append(pairs if isinstance(pairs, _complex.Pairs) else pairs())
        if not isinstance(z, tuple) and _complex.is_complex(_arrays.dtype_name(z)):  # a complex step (Pairs.function)
            return output(y)
        r = missed[0].real_output(output(y))
        if r is y and output._raw is None:
            checked.add((type(y), y.dtype))
        return r

    return known


def _outer_backends(b: Backend, leaves: Sequence[Any]) -> dict[str, Backend]:
    """Other engines' arrays among the arguments, by library: where one is traced or recorded by its
    engine (see Backend.records), the call becomes that engine's primitive (see Plan.recorded)."""
    own, engine = engine_library(b), _engine(b)
    others = {_arrays.library_of(a): a for a in leaves}
    return {
        lib: outer
        for lib, a in others.items()
        if lib not in (None, "numpy", own)
        and (outer := _bridge.outer_backend_for(a)) is not None
        and type(outer) is not engine  # autograd's boxes are its own arrays
    }


def check_dtensors(operator: str, b: Backend, x: Any, seeds: Sequence[Any], constants: Sequence[Any]) -> None:
    """Refuse torch DTensors, before any engine work, wherever their shards would be joined: anything
    but reverse mode leaf by leaf on a backend that takes them (DLPack would hand another library only
    the local shard, torch's forward mode has no sharding rules, a matrix joins every leaf)."""
    named = [("x", leaf) for leaf in _tree.flatten(x)[0]]
    named += [("a seed", leaf) for s in seeds for leaf in _tree.flatten(s)[0]]
    named += [("a constant", leaf) for leaf in constants]
    found = next(((where, a) for where, a in named if _arrays.is_dtensor(a)), None)
    if found is None:
        return
    where, a = found
    reverse = operator in ("gradient", "vjp") or (operator == "hvp" and b.mode == "reverse")
    if not b.takes_dtensor:
        reason = f"backend {b!r} would convert it to another library (DLPack exports only the local shard)"
    elif operator in ("jvp", "derivative", "second_derivative") or (reverse and _derive.use_forward(b, False)):
        reason = "torch's forward mode (torch.func.jvp, forward_ad) does not support DTensors"
    elif not reverse:
        reason = f"{operator} forms one matrix over all of x's leaves (or runs forward mode), which shards cannot make"
    else:
        return
    raise _errors.dtensor_refused(operator, where, tuple(a.placements), reason)


# Eager calls of one plan before the note; the functions already told about (weakly held).
EAGER_NOTE_AFTER = 100
_NOTED: weakref.WeakSet = weakref.WeakSet()
_NOTED_IDS: set[int] = set()


def _first_note(f: Callable) -> bool:
    """Whether `f` has not been noted yet (and now is)."""
    try:
        if f in _NOTED:
            return False
        _NOTED.add(f)
    except TypeError:  # not weakly referenceable (a builtin): by id
        if id(f) in _NOTED_IDS:
            return False
        _NOTED_IDS.add(id(f))
    return True


def _engine(b: Backend) -> type:
    """The class of the engine under wrappers (Sparse, SecondOrder: their first-order backend)."""
    while isinstance(b, Wrapper):
        b = b.wrapped
    return type(b)


def _leaves(x: Any, seeds: Sequence[Any], constants: Sequence[Any]) -> list[Any]:
    """The leaves of x, of the seeds, and the constants', in the order of the flat arguments."""
    return [*_tree.flatten(x)[0], *(leaf for s in seeds for leaf in _tree.flatten(s)[0]), *constants]


def _shapes_and_dtypes(leaves: Sequence[Any]) -> tuple:
    """The shape and dtype of each leaf: what a compiled operator depends on in a seed."""
    return tuple((_arrays.shape_of(a), _arrays.dtype_name(a)) for a in leaves)
