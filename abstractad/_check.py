"""ad.check: every operator on every backend, compared with a reference, in one report.

The reference of an operator is the analytic answer when the caller gives one. Otherwise it is
the value that the most independent backends agree on (two instances of one engine count once,
finite differences count as a witness at their own, looser tolerance), and it must beat every
value that disagrees with it: two backends that disagree, with nothing to settle it, are a tie
that the report states instead of picking a side. The backends that disagree with the reference
are the culprits; the verdict line names them.
"""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays, _tree
from ._backend import Backend, installed_backends, resolve
from ._convert import engine_library
from ._operators import SPECS, wrap
from ._structure import Point
from ._wrapper import Wrapper

# The operators that return one result, the derivative (not value_and_*): those whose values can be compared.
ALL_OPERATORS = tuple(
    name for name, spec in SPECS.items() if spec.checked and (spec.keep is not None or len(spec.results) == 1)
)
SECOND_ORDER = ("hessian", "hvp", "second_derivative")
# A row's status: agrees with the reference, is the reference, disagrees with it (a culprit), raised
# (a culprit), disagrees with no reference to settle it (a tie), or does not apply to the shapes.
STATUSES = ("ok", "reference", "fail", "error", "undecided", "skip")


@dataclasses.dataclass
class CheckRow:
    """One operator on one backend, compared with the reference."""

    backend: str
    operator: str
    max_abs: float | None = None
    max_rel: float | None = None
    tolerance: float | None = None
    seconds: float | None = None
    ok: bool = True
    note: str = ""
    reference: str = ""
    status: str = "ok"

    @property
    def skipped(self) -> bool:
        return self.status == "skip"


@dataclasses.dataclass
class CheckReport:
    """The result of :func:`check`: a row per (backend, operator), ``.ok`` when every row passed.

    ``references`` maps each operator to what it was compared with: ``"analytic"``, the label of
    the backend whose value the others agreed on, or ``""`` where the backends disagree and no
    reference could be chosen. ``culprits`` are the backends that disagree with the reference.
    """

    rows: list[CheckRow]
    function: str = "f"
    shape: tuple[int, ...] = ()
    dtype: str = "float64"
    references: dict[str, str] = dataclasses.field(default_factory=dict)
    backends: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def culprits(self) -> list[str]:
        """The backends that disagree with the reference (or raised), in the order they were given."""
        blamed = {r.backend for r in self.rows if r.status in ("fail", "error")}
        return [b for b in self._labels() if b in blamed]

    @property
    def undecided(self) -> dict[str, list[str]]:
        """Per operator without a reference, the backends that disagree and cannot be told apart."""
        out: dict[str, list[str]] = {}
        for r in self.rows:
            if r.status == "undecided":
                out.setdefault(r.operator, []).append(r.backend)
        return out

    @property
    def verdict(self) -> str:
        """One line: every backend agrees, or who the culprits are, or which disagreement no one can settle."""
        return verdict([self])

    def _labels(self) -> list[str]:
        return self.backends or list(dict.fromkeys(r.backend for r in self.rows))

    def raise_for_failure(self) -> None:
        """Raise an AssertionError carrying the table when any backend disagrees."""
        if not self.ok:
            raise AssertionError(f"backends disagree on {self.function}:\n{self.table()}\n{self.verdict}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "ok": self.ok,
            "verdict": self.verdict,
            "culprits": self.culprits,
            "references": dict(self.references),
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def _cells(self) -> list[list[str]]:
        def num(v: float | None, fmt: str = ".1e") -> str:
            return "" if v is None else format(v, fmt)

        out = []
        for r in self.rows:
            ms = "" if r.seconds is None else f"{r.seconds * 1e3:.1f}"
            note = r.note or (f"vs {r.reference}" if r.reference else "")
            out.append(
                [r.backend, r.operator, num(r.max_abs), num(r.max_rel), num(r.tolerance), ms, _SHOWN[r.status], note]
            )
        return out

    HEADER = ("backend", "operator", "max abs err", "max rel err", "rtol", "ms", "", "note")

    def table(self) -> str:
        """A plain-text table."""
        cells = [list(self.HEADER), *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.HEADER))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def rich_table(self) -> Any:
        """The table as a ``rich.table.Table``, the verdict as its caption."""
        from rich.table import Table

        title = f"check {self.function} at shape {self.shape}, {self.dtype}: {'ok' if self.ok else 'DISAGREEMENT'}"
        table = Table(title=title, caption=self.verdict)
        for h in self.HEADER:
            table.add_column(h)
        for row, r in zip(self._cells(), self.rows):
            style = {"fail": "red", "error": "red", "undecided": "yellow", "skip": "dim"}.get(r.status)
            table.add_row(*row, style=style)
        return table

    def __str__(self) -> str:
        head = f"check {self.function} at shape {self.shape}, {self.dtype}: {'ok' if self.ok else 'DISAGREEMENT'}"
        return f"{head}\n{self.table()}\n{self.verdict}"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        caption = html.escape(str(self).splitlines()[0])
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table><p>{html.escape(self.verdict)}</p>"


_SHOWN = {"ok": "ok", "reference": "ok", "fail": "FAIL", "error": "FAIL", "undecided": "DISAGREE", "skip": "skip"}


def default_tolerance(backend: Backend, dtype: str, operator: str) -> float:
    """Relative tolerance: tight for AD, looser for finite differences and second order, by dtype."""
    single = dtype in ("float32", "complex64")
    second = operator in SECOND_ORDER
    if _approximate(backend):
        return (1e-1 if second else 2e-2) if single else (1e-4 if second else 1e-6)
    return 1e-4 if single else 1e-9


def _approximate(backend: Backend) -> bool:
    """Finite differences, alone or nested: a witness, never preferred as the reference."""
    parts = (backend, getattr(backend, "outer", None), getattr(backend, "inner", None))
    return any(getattr(part, "name", "") == "finitediff" for part in parts)


def _name(backend: Backend) -> str:
    """The backend's `name`: its class attribute, else its class name (an unnamed subclass of ours is not ours)."""
    cls = type(backend)
    owner = next((c for c in cls.__mro__ if "name" in vars(c)), Backend)
    if owner is cls or (owner is not Backend and cls.__module__.startswith("abstractad.")):
        return str(backend.name)
    return cls.__name__


def _engine(backend: Backend) -> str:
    """What makes two backends independent witnesses: a wrapper (Sparse, SecondOrder) is its wrapped engine."""
    while isinstance(backend, Wrapper):
        backend = backend.wrapped
    return _name(backend)


def _details(backend: Backend) -> str:
    """The settings that tell a backend from another of its engine: its fields that differ from the defaults."""
    if not dataclasses.is_dataclass(backend):
        text = repr(backend)
        return "" if text == f"{type(backend).__name__}()" else text
    out = []
    for field in dataclasses.fields(backend):
        if not (field.init and field.repr):
            continue
        value = getattr(backend, field.name)
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        try:
            same = value is default or bool(value == default)
        except Exception:  # an array-valued field has no single truth value
            same = False
        if not same:
            out.append(f"{field.name}={value!r}")
    return ", ".join(out)


def _labels(backends: Sequence[Backend]) -> list[str]:
    """Row labels: each backend's name; two of one name get their settings, then a number if still alike."""
    names = [_name(b) for b in backends]
    labels = []
    for name, b in zip(names, backends):
        details = _details(b) if names.count(name) > 1 else ""
        labels.append(f"{name} ({details})" if details else name)
    return [
        f"{label} #{labels[: i + 1].count(label)}" if labels.count(label) > 1 else label
        for i, label in enumerate(labels)
    ]


def _run_operator(operator: str, f: Callable, x: Any, args: tuple, seeds: dict[str, Any], backend: Backend) -> Any:
    """The public operator called `operator` at `x`, with the seed it takes (v for jvp and hvp, w for vjp)."""
    from . import _first_order, _second_order

    fn = getattr(_first_order, operator, None) or getattr(_second_order, operator)
    if operator in ("jvp", "hvp"):
        return fn(f, x, seeds["v"], *args, backend=backend)
    if operator == "vjp":
        return fn(f, x, seeds["w"], *args, backend=backend)
    return fn(f, x, *args, backend=backend)


def _numpy(result: Any) -> np.ndarray:
    """A result as one NumPy array: a pytree's leaves raveled and concatenated, in leaf order."""
    if _tree.is_leaf(result):
        return np.asarray(_arrays.to_numpy(result) if _arrays.is_array(result) else result)
    leaves = [np.ravel(_arrays.to_numpy(a) if _arrays.is_array(a) else np.asarray(a)) for a in _tree.flatten(result)[0]]
    return np.concatenate(leaves) if leaves else np.zeros(0)


def _applies(operator: str, x_shape: tuple, y_shape: tuple) -> str:
    if operator in ("gradient", "hessian", "hvp") and y_shape != ():
        return f"f(x) has shape {y_shape}, not a scalar"
    if operator in ("derivative", "second_derivative") and x_shape != ():
        return f"x has shape {x_shape}, not a scalar"
    return ""


def _compare(got: np.ndarray, ref: np.ndarray, tol: float, atol: float | None) -> tuple[float, float, bool] | None:
    """(max abs error, max rel error, within tolerance) of `got` against `ref`; None when the shapes differ.

    Equal infinities and NaNs in the same places count as equal; the relative error is over the
    largest finite magnitude of `ref`, and an absolute floor of `tol` applies unless `atol` is given.
    """
    if got.shape != ref.shape:
        return None
    dtype = np.result_type(got, ref, np.float64)
    g, r = got.astype(dtype), ref.astype(dtype)
    with np.errstate(invalid="ignore"):
        err = np.where((g == r) | (np.isnan(g) & np.isnan(r)), 0.0, np.abs(g - r))
    finite = np.abs(r[np.isfinite(r)])
    scale = float(np.max(finite, initial=0.0))
    max_abs = float(np.max(err, initial=0.0))
    max_rel = max_abs / scale if scale > 0 else max_abs
    bound = tol * max(scale, 1.0 if atol is None else 0.0) + (atol or 0.0)
    return max_abs, max_rel, bool(max_abs <= bound)


@dataclasses.dataclass
class _Witness:
    """One backend's value of one operator, with what the consensus needs to weigh it."""

    index: int
    value: np.ndarray
    tolerance: float
    engine: str
    approximate: bool


def _agrees(got: _Witness, ref: _Witness, atol: float | None) -> bool:
    result = _compare(got.value, ref.value, max(got.tolerance, ref.tolerance), atol)
    return result is not None and result[2]


def _consensus(ws: Sequence[_Witness], atol: float | None) -> tuple[_Witness | None, list[_Witness]]:
    """The reference among the witnesses (preferred first), or None and the values that cannot be told apart.

    A value's support is the number of engines whose value agrees with it. The reference is the AD
    value (finite differences only when no AD value exists) with the most support; it must agree
    with every other value of that support and beat every value that disagrees with it.
    """
    n = len(ws)
    if n == 0:
        return None, []
    agree = [[_agrees(ws[j], ws[i], atol) for j in range(n)] for i in range(n)]  # j agrees with i's value
    support = [len({ws[j].engine for j in range(n) if agree[i][j]}) for i in range(n)]
    candidates = [i for i in range(n) if not ws[i].approximate] or list(range(n))
    best = max(support[i] for i in candidates)
    top = [i for i in candidates if support[i] == best]
    ref = top[0]
    rivals = [j for j in range(n) if not agree[ref][j] and support[j] >= best]
    if not rivals and all(agree[a][b] for a in top for b in top):
        return ws[ref], []
    return None, [ws[i] for i in sorted({*top, *rivals}, key=lambda i: ws[i].index)]


def check(
    f: Callable,
    x: Any,
    *args: Any,
    backends: Sequence[Backend | str] | None = None,
    operators: Sequence[str] = ("gradient", "jacobian", "hessian", "hvp", "jvp", "vjp"),
    rtol: float | None = None,
    atol: float | None = None,
    reference: dict[str, Any] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> CheckReport:
    """Run `operators` on every backend, find the reference by agreement, and name the backends that disagree.

    The reference is ``reference[operator]`` when given (analytic answers). Otherwise it is the AD
    value that the most independent backends agree with, finite differences counting as a witness
    at their looser tolerance; when no value has more support than the values that contradict it
    (two backends that disagree), the rows say so (status ``"undecided"``) and no backend is blamed.
    Rows are labelled by each backend's ``name`` (two instances of one engine by their settings).
    Tolerances default by dtype, looser for finite differences and second order; ``rtol`` / ``atol``
    override them. Operators the shapes do not allow are skipped and said so; a backend that raises
    is a failing row; a backend on whose arrays `f` does not run at all (a torch `f` on JAX arrays)
    is skipped, and its rows say why. Keyword arguments are constants passed to `f` unchanged.
    ``progress`` is called once per (backend, operator), skipped ones included.

    >>> import numpy as np, abstractad as ad
    >>> report = ad.check(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backends=["autograd", "finitediff"])
    >>> report.ok, report.references["gradient"]
    (True, 'autograd')
    >>> class Off(ad.Backend):
    ...     def pushforward(self, f, x, v):
    ...         y, t = ad.backends.FiniteDiff().pushforward(f, x, v)
    ...         return y, 1.01 * t
    >>> ad.check(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backends=["autograd", "finitediff", Off()]).culprits
    ['Off']
    """
    unknown = [op for op in operators if op not in ALL_OPERATORS]
    if unknown:
        raise ValueError(f"check: unknown operators {unknown}; choose from {list(ALL_OPERATORS)}")
    run = _setup(f, x, args, backends, kwargs, seed)
    rows: list[CheckRow] = []
    references: dict[str, str] = {}
    for operator in operators:
        operator_rows, used = run.operator_rows(operator, rtol, atol, reference, progress)
        rows.extend(operator_rows)
        if used is not None:
            references[operator] = used
    name = getattr(run.f, "__qualname__", getattr(run.f, "__name__", "f"))
    return CheckReport(rows, name, run.info.shape, run.info.dtype, references, run.labels)


@dataclasses.dataclass
class _Checking:
    """What every operator of one check shares: f and its constants, the backends and their labels, the seeds."""

    f: Callable
    x: Any
    args: tuple
    resolved: list[Backend]
    labels: list[str]
    unusable: dict[int, str]  # backend index -> why f does not run on its arrays
    info: _arrays.ArrayInfo
    y_shape: tuple[int, ...]
    seeds: dict[str, Any]
    order: list[int]  # backend indices, AD first: among values of equal support, the reference is an AD one

    def operator_rows(
        self,
        operator: str,
        rtol: float | None,
        atol: float | None,
        reference: dict[str, Any] | None,
        progress: Callable[[str], None] | None,
    ) -> tuple[list[CheckRow], str | None]:
        """The rows of one operator, a row per backend, and its reference (None where the shapes skip it)."""
        reason = _applies(operator, self.info.shape, self.y_shape)
        if reason:
            rows = []
            for label in self.labels:
                if progress is not None:
                    progress(f"{label} {operator}")
                rows.append(CheckRow(label, operator, note=f"skipped: {reason}", status="skip"))
            return rows, None
        row_of = {i: CheckRow(self.labels[i], operator) for i in range(len(self.labels))}
        witnesses = self.witnesses(operator, row_of, rtol, progress)
        if reference is not None and operator in reference:
            used = "analytic"
            ref = np.asarray(_numpy(reference[operator]))
            for wit in witnesses:
                _judge(row_of[wit.index], wit.value, ref, wit.tolerance, atol, "analytic")
        else:
            used = _judge_by_consensus(witnesses, row_of, atol, self.labels)
        return [row_of[i] for i in range(len(self.labels))], used

    def witnesses(
        self, operator: str, row_of: dict[int, CheckRow], rtol: float | None, progress: Callable[[str], None] | None
    ) -> list[_Witness]:
        """Run the operator on every usable backend: a witness per value, the rows of the skipped and the failed."""
        witnesses = []
        for i in self.order:
            row = row_of[i]
            if progress is not None:
                progress(f"{row.backend} {operator}")
            if i in self.unusable:
                row.status, row.note = "skip", self.unusable[i]
                continue
            b = self.resolved[i]
            try:
                start = time.perf_counter()
                value = _numpy(_run_operator(operator, self.f, self.x, self.args, self.seeds, b))
                row.seconds = time.perf_counter() - start
            except Exception as e:  # a backend that fails is a failed row, not a crash of the check
                row.ok, row.status, row.note = False, "error", f"{type(e).__name__}: {e}"
                continue
            tol = rtol if rtol is not None else default_tolerance(b, self.info.dtype, operator)
            witnesses.append(_Witness(i, value, tol, _engine(b), _approximate(b)))
        return witnesses


def _setup(
    f: Callable, x: Any, args: tuple, backends: Sequence[Backend | str] | None, kwargs: dict[str, Any], seed: int
) -> _Checking:
    """Resolve and label the backends, find those on whose arrays f cannot run, and draw the seeds."""
    names = list(backends) if backends is not None else installed_backends()
    point = Point(x)
    resolved = [resolve(b, x if point.layout is None else _tree.flatten(x)[0][0]) for b in names]
    labels = _labels(resolved)
    # Keyword constants: one more constant of every operator (converted, not differentiated).
    f, args = wrap(f, args, False, kwargs)
    y0 = f(x, *args)
    # Backends on whose arrays f cannot run (a torch f on JAX's): their rows are skipped, and say why.
    unusable = {i: why for i, b in enumerate(resolved) if (why := _runs_on(b, f, x, args)) is not None}
    y = _numpy(y0)
    seeds = _random_seeds(point, x, y0, y, np.random.default_rng(seed))
    order = sorted(range(len(resolved)), key=lambda i: _approximate(resolved[i]))
    return _Checking(f, x, args, resolved, labels, unusable, point.info, y.shape, seeds, order)


def _random_seeds(point: Any, x: Any, y0: Any, y: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """The tangent `v` (like x, in x's library) and the cotangent `w` (like f(x), NumPy) of jvp, hvp and vjp."""
    info = point.info

    def random_like(leaf: Any, info: _arrays.ArrayInfo) -> Any:
        if info.library == "python":
            return float(rng.standard_normal())
        return _arrays.convert(rng.standard_normal(info.shape).astype(info.dtype), info.library)

    if point.layout is None:
        v = random_like(x, info)
    else:
        v = point.layout.spec.unflatten([random_like(leaf, i) for leaf, i in zip(_tree.flatten(x)[0], point.infos)])
    w_dtype = info.dtype if info.library != "python" else "float64"
    if _tree.is_leaf(y0):
        w = rng.standard_normal(y.shape).astype(w_dtype)
    else:
        y_leaves, y_spec = _tree.flatten(y0)
        w = y_spec.unflatten([rng.standard_normal(np.shape(leaf)).astype(w_dtype) for leaf in y_leaves])
    return {"v": v, "w": w}


def _judge_by_consensus(
    witnesses: list[_Witness], row_of: dict[int, CheckRow], atol: float | None, labels: list[str]
) -> str:
    """Judge each witness against the consensus, or say there is none; returns the reference's label or ""."""
    chosen, rivals = _consensus(witnesses, atol)
    for wit in witnesses:
        row = row_of[wit.index]
        if chosen is not None:
            tol = max(wit.tolerance, chosen.tolerance)
            _judge(row, wit.value, chosen.value, tol, atol, labels[chosen.index])
            if wit is chosen:
                row.status, row.note = "reference", "reference"
        else:
            _undecided(row, wit, [r for r in rivals if r is not wit], atol, labels)
    return labels[chosen.index] if chosen is not None else ""


def _runs_on(b: Backend, f: Callable, x: Any, args: tuple) -> str | None:
    """None where `f` runs on the backend's arrays (x and the array constants converted as an operator
    converts them), else the reason its rows are skipped."""
    own = engine_library(b)
    leaves = _tree.flatten((x, args))[0]
    if all(_arrays.library_of(a) in (own, None) for a in leaves):
        return None  # f gets what the user gave it
    x_leaves, x_spec = _tree.flatten(x)
    arg_leaves, arg_spec = _tree.flatten(tuple(args))

    def convert(a: Any) -> Any:
        return b.asarray(a) if _arrays.is_array(a) else a

    try:
        with b.scope(_arrays.describe(x_leaves[0]).dtype):
            f(x_spec.unflatten([convert(a) for a in x_leaves]), *arg_spec.unflatten([convert(a) for a in arg_leaves]))
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:160]
        return f"skipped: f does not run on {b.name}'s arrays ({type(e).__name__}: {first})"
    return None


def _judge(row: CheckRow, got: np.ndarray, ref: np.ndarray, tol: float, atol: float | None, ref_name: str) -> None:
    """Fill `row` with the errors of `got` against the reference and its verdict."""
    row.tolerance, row.reference = tol, ref_name
    result = _compare(got, ref, tol, atol)
    if result is None:
        row.ok, row.status, row.note = False, "fail", f"shape {got.shape}, reference {ref.shape}"
        return
    row.max_abs, row.max_rel, row.ok = result
    row.status = "ok" if row.ok else "fail"


def _undecided(row: CheckRow, wit: _Witness, rivals: list[_Witness], atol: float | None, labels: list[str]) -> None:
    """No reference: the row agrees only if it agrees with every rival value; its errors are against the farthest."""
    row.reference = ", ".join(labels[r.index] for r in rivals)
    row.note = "no consensus: " + (f"disagrees with {row.reference}" if rivals else "the others disagree")
    row.ok, row.status = True, "ok"
    for rival in rivals:
        tol = max(wit.tolerance, rival.tolerance)
        result = _compare(wit.value, rival.value, tol, atol)
        row.tolerance = max(row.tolerance or 0.0, tol)
        if result is None:
            row.ok, row.status = False, "undecided"
            continue
        max_abs, max_rel, ok = result
        row.max_abs, row.max_rel = max(row.max_abs or 0.0, max_abs), max(row.max_rel or 0.0, max_rel)
        if not ok:
            row.ok, row.status = False, "undecided"
    if row.ok:
        row.note = f"agrees with {row.reference}, which disagree"


def _listing(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _where(reports: Sequence[CheckReport], among: Sequence[CheckReport]) -> str:
    """Where something happened, as much as tells it apart: which functions (of several), which dtype (of several)."""
    functions = list(dict.fromkeys(r.function for r in reports))
    every = list(dict.fromkeys(r.function for r in among))
    dtypes = list(dict.fromkeys(r.dtype for r in reports))
    out = ""
    if len(every) > 1:
        out = f" in {_listing(functions)}" if len(functions) <= 2 else f" in {len(functions)} of {len(every)} functions"
    if len({r.dtype for r in among}) > 1:
        out += f" ({_listing(dtypes)})"
    return out


def verdict(reports: Sequence[CheckReport]) -> str:
    """One line over one or more reports: agreement, or each culprit with what it disagrees with, or the ties.

    >>> import numpy as np, abstractad as ad
    >>> ad.check(lambda x: (x ** 2).sum(), np.ones(2), backends=["autograd", "finitediff"]).verdict
    'all backends agree: autograd and finitediff'
    """
    labels = list(dict.fromkeys(label for r in reports for label in r._labels()))
    # Backends all of whose rows were skipped (f does not run on their arrays) agreed to nothing.
    idle = [label for label in labels if all(row.skipped for r in reports for row in r.rows if row.backend == label)]
    labels = [label for label in labels if label not in idle] or labels
    skipped = f"; skipped (f does not run on their arrays): {_listing(idle)}" if idle else ""
    if all(r.ok for r in reports):
        agree = f"all backends agree: {_listing(labels)}" if len(labels) > 1 else f"ok: {_listing(labels)}"
        return agree + skipped
    parts = [_blame(b, reports) for b in labels if any(b in r.culprits for r in reports)]
    ties: dict[tuple[str, ...], list[tuple[CheckReport, str]]] = {}
    for r in reports:
        for operator, who in r.undecided.items():
            ties.setdefault(tuple(who), []).append((r, operator))
    for who, where_ops in ties.items():
        ops = _listing(list(dict.fromkeys(op for _, op in where_ops)))
        where = _where([r for r, _ in where_ops], reports)
        parts.append(
            f"{_listing(who)} disagree on {ops}{where} and no culprit can be named "
            "(no analytic answer, no majority): add a backend or pass reference="
        )
    return "DISAGREEMENT: " + "; ".join(parts)


def _blame(culprit: str, reports: Sequence[CheckReport]) -> str:
    """What `culprit` did wrong: which answers it disagrees with, what it raised, on which operators and where."""
    rows = [(r, row) for r in reports for row in r.rows if row.backend == culprit and row.status in ("fail", "error")]
    against = {row.reference for _, row in rows if row.status == "fail"}
    errors = list(dict.fromkeys(row.note.split(":")[0] for _, row in rows if row.status == "error"))
    how = []
    if against:
        if against == {"analytic"}:
            basis = "the analytic answer"
        else:
            basis = "the consensus" if len(reports) > 1 else f"the consensus of {_agreeing(reports[0], rows)}"
            basis += " and the analytic answer" if "analytic" in against else ""
        how.append(f"disagrees with {basis}")
    if errors:
        how.append(f"raised {_listing(errors)}")
    ops = _listing(list(dict.fromkeys(row.operator for _, row in rows)))
    return f"culprit {culprit}: {' and '.join(how)} on {ops}{_where([r for r, _ in rows], reports)}"


def _agreeing(report: CheckReport, blamed: list[tuple[CheckReport, CheckRow]]) -> str:
    ops = {row.operator for _, row in blamed}
    good = dict.fromkeys(r.backend for r in report.rows if r.operator in ops and r.status in ("ok", "reference"))
    return _listing(list(good)) if good else "the other backends"


def summarize(reports: Sequence[CheckReport]) -> dict[str, Any]:
    """Per backend and operator over `reports`: the worst relative error, the status, the time; and the verdict.

    >>> import numpy as np, abstractad as ad
    >>> s = summarize([ad.check(lambda x: (x ** 2).sum(), np.ones(2), backends=["autograd"], operators=["gradient"])])
    >>> s["ok"], s["backends"][0]["backend"], s["backends"][0]["operators"]["gradient"]["status"]
    (True, 'autograd', 'reference')
    """
    rank = {"reference": 0, "ok": 1, "undecided": 2, "fail": 3, "error": 4}
    labels = list(dict.fromkeys(label for r in reports for label in r._labels()))
    table: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels}
    for r in reports:
        for row in r.rows:
            if row.status == "skip":
                continue
            cell = table[row.backend].setdefault(
                row.operator, {"max_rel": None, "max_abs": None, "status": "reference", "seconds": 0.0, "checks": 0}
            )
            for key in ("max_rel", "max_abs"):
                value = getattr(row, key)
                if value is not None and (cell[key] is None or not value <= cell[key]):
                    cell[key] = value
            if rank[row.status] > rank[cell["status"]]:
                cell["status"] = row.status
            cell["seconds"] += row.seconds or 0.0
            cell["checks"] += 1
    culprits = [b for b in labels if any(b in r.culprits for r in reports)]
    return {
        "ok": all(r.ok for r in reports),
        "verdict": verdict(reports),
        "culprits": culprits,
        "undecided": sorted({b for r in reports for who in r.undecided.values() for b in who}),
        "functions": list(dict.fromkeys(r.function for r in reports)),
        "dtypes": list(dict.fromkeys(r.dtype for r in reports)),
        "backends": [
            {
                "backend": label,
                "ok": all(c["status"] in ("ok", "reference") for c in cells.values()),
                "culprit": label in culprits,
                "operators": {op: {**c, "ok": c["status"] in ("ok", "reference")} for op, c in cells.items()},
            }
            for label, cells in table.items()
        ],
    }
