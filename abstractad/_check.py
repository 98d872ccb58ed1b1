"""ad.check: every operator on every backend, compared with a reference, in one report."""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _arrays, _tree
from ._backend import Backend, installed_backends, resolve

ALL_OPERATORS = ("gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "derivative", "second_derivative")
SECOND_ORDER = ("hessian", "hvp", "second_derivative")


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

    @property
    def skipped(self) -> bool:
        return self.max_abs is None and self.ok


@dataclasses.dataclass
class CheckReport:
    """The result of :func:`check`: a row per (backend, operator), ``.ok`` when every row passed."""

    rows: list[CheckRow]
    function: str = "f"
    shape: tuple[int, ...] = ()
    dtype: str = "float64"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok]

    def raise_for_failure(self) -> None:
        """Raise an AssertionError carrying the table when any backend disagrees."""
        if not self.ok:
            raise AssertionError(f"backends disagree on {self.function}:\n{self.table()}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "ok": self.ok,
            "rows": [dataclasses.asdict(r) for r in self.rows],
        }

    def _cells(self) -> list[list[str]]:
        def num(v: float | None, fmt: str = ".1e") -> str:
            return "" if v is None else format(v, fmt)

        out = []
        for r in self.rows:
            status = "skip" if r.skipped else ("ok" if r.ok else "FAIL")
            ms = "" if r.seconds is None else f"{r.seconds * 1e3:.1f}"
            out.append(
                [
                    r.backend,
                    r.operator,
                    num(r.max_abs),
                    num(r.max_rel),
                    num(r.tolerance),
                    ms,
                    status,
                    r.note or (f"vs {r.reference}" if r.reference else ""),
                ]
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
        """The table as a ``rich.table.Table``."""
        from rich.table import Table

        title = f"check {self.function} at shape {self.shape}, {self.dtype}: {'ok' if self.ok else 'DISAGREEMENT'}"
        table = Table(title=title)
        for h in self.HEADER:
            table.add_column(h)
        for row in self._cells():
            style = "red" if row[6] == "FAIL" else ("dim" if row[6] == "skip" else None)
            table.add_row(*row, style=style)
        return table

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "DISAGREEMENT"
        return f"check {self.function} at shape {self.shape}, {self.dtype}: {verdict}\n" + self.table()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        return f"<table><caption>{html.escape(str(self).splitlines()[0])}</caption><tr>{head}</tr>{body}</table>"


def default_tolerance(backend: Backend, dtype: str, operator: str) -> float:
    """Relative tolerance: tight for AD, looser for finite differences and second order, by dtype."""
    single = dtype in ("float32", "complex64")
    second = operator in SECOND_ORDER
    if getattr(backend, "name", "") == "finitediff" or _uses_fd(backend):
        return (1e-1 if second else 2e-2) if single else (1e-4 if second else 1e-6)
    return 1e-4 if single else 1e-9


def _uses_fd(backend: Backend) -> bool:
    return any(getattr(getattr(backend, part, None), "name", "") == "finitediff" for part in ("outer", "inner"))


def _label(backend: Backend | str) -> str:
    return backend if isinstance(backend, str) else repr(backend)


def _call(operator: str, f: Callable, x: Any, args: tuple, seeds: dict[str, Any], backend: Backend) -> Any:
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
) -> CheckReport:
    """Run `operators` on every backend and compare each with a reference.

    The reference is ``reference[operator]`` when given (analytic answers), else the first AD
    backend's result (finite differences are never the reference for AD). Tolerances default by
    dtype, looser for finite differences and second order; ``rtol`` / ``atol`` override them.
    Operators the shapes do not allow are skipped and said so.

    >>> import numpy as np, abstractad as ad
    >>> report = ad.check(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), backends=["autograd", "finitediff"])
    >>> report.ok
    True
    """
    unknown = [op for op in operators if op not in ALL_OPERATORS]
    if unknown:
        raise ValueError(f"check: unknown operators {unknown}; choose from {list(ALL_OPERATORS)}")
    names = list(backends) if backends is not None else installed_backends()
    from ._call import Point

    point = Point(x)
    info = point.info
    resolved = [resolve(b, x if point.layout is None else _tree.flatten(x)[0][0]) for b in names]
    y0 = f(x, *args)
    y = _numpy(y0)
    rng = np.random.default_rng(seed)

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
    seeds = {"v": v, "w": w}
    # The reference backend: the first that is not finite differences.
    order = sorted(range(len(resolved)), key=lambda i: resolved[i].name == "finitediff" or _uses_fd(resolved[i]))
    rows: list[CheckRow] = []
    for operator in operators:
        reason = _applies(operator, info.shape, y.shape)
        if reason:
            rows.extend(CheckRow(_label(n), operator, note=f"skipped: {reason}") for n in names)
            continue
        results: dict[int, Any] = {}
        row_of: dict[int, CheckRow] = {}
        for i in order:
            row = CheckRow(_label(names[i]), operator)
            row_of[i] = row
            if progress is not None:
                progress(f"{row.backend} {operator}")
            try:
                start = time.perf_counter()
                results[i] = _numpy(_call(operator, f, x, args, seeds, resolved[i]))
                row.seconds = time.perf_counter() - start
            except Exception as e:  # a backend that fails is a failed row, not a crash of the check
                row.ok, row.note = False, f"{type(e).__name__}: {e}"
        if reference is not None and operator in reference:
            ref, ref_name = np.asarray(reference[operator]), "analytic"
        else:
            ref_i = next((i for i in order if i in results), None)
            ref, ref_name = (results[ref_i], _label(names[ref_i])) if ref_i is not None else (None, "")
        for i in range(len(names)):
            row = row_of[i]
            if i not in results or ref is None:
                rows.append(row)
                continue
            got = results[i]
            if got.shape != ref.shape:
                row.ok, row.note = False, f"shape {got.shape}, reference {ref.shape}"
                rows.append(row)
                continue
            err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            scale = float(np.max(np.abs(ref), initial=0.0))
            row.max_abs = float(np.max(err, initial=0.0))
            row.max_rel = row.max_abs / scale if scale > 0 else row.max_abs
            row.tolerance = rtol if rtol is not None else default_tolerance(resolved[i], info.dtype, operator)
            row.reference = ref_name
            bound = row.tolerance * max(scale, 1.0 if atol is None else 0.0) + (atol or 0.0)
            row.ok = bool(np.all(np.isfinite(got)) == np.all(np.isfinite(ref))) and row.max_abs <= bound
            if ref_name == row.backend:
                row.note = "reference"
            rows.append(row)
    name = getattr(f, "__qualname__", getattr(f, "__name__", "f"))
    return CheckReport(rows, name, info.shape, info.dtype)
