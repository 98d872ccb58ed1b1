"""The reports of ``ad.benchmark``: a row per measurement, and the report that shows the rows as a
table (plain or rich), JSON or a plot; one pair for the operator table, one for the paths users take."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from ._bench_engines import ENGINES


@dataclasses.dataclass
class BenchRow:
    """One (problem, operator, engine, size): seconds per call, and ours / native."""

    problem: str
    operator: str
    engine: str
    n: int
    native: float  # seconds per call, median over rounds
    ours: float
    prepared: float
    spread: float  # (p75 - p25) / median of our prepared time, the worst of the three
    first_call: float  # seconds: our first call on a fresh function (tracing and compiling included)
    native_first_call: float
    f_calls: float  # calls of f per (unprepared) call of ours, after the first
    peak_mb: float  # peak of Python-heap allocations (NumPy included) in one prepared call
    f_time: float | None = None  # native f alone, for the cost of a gradient relative to f

    @property
    def ratio(self) -> float:
        return self.ours / self.native

    @property
    def prepared_ratio(self) -> float:
        return self.prepared / self.native

    @property
    def grad_over_f(self) -> float | None:
        return self.native / self.f_time if self.f_time else None


@dataclasses.dataclass
class BenchReport:
    """The rows of :func:`benchmark`, as a table, JSON or a plot."""

    rows: list[BenchRow]

    TITLE = "abstractad against native calls (times per call; ratio = ours / native)"
    LEFT = ("problem", "operator", "engine")
    HEADER = (
        "problem",
        "operator",
        "engine",
        "n",
        "native µs",
        "ours µs",
        "prepared µs",
        "ours/native",
        "prepared/native",
        "spread",
        "first call ms",
        "native first ms",
        "f calls",
        "peak MB",
        "grad/f",
    )

    def _cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            out.append(
                [
                    r.problem,
                    r.operator,
                    r.engine,
                    f"{r.n:g}",
                    f"{r.native * 1e6:.1f}",
                    f"{r.ours * 1e6:.1f}",
                    f"{r.prepared * 1e6:.1f}",
                    f"{r.ratio:.2f}",
                    f"{r.prepared_ratio:.2f}",
                    f"{r.spread:.0%}",
                    f"{r.first_call * 1e3:.0f}",
                    f"{r.native_first_call * 1e3:.0f}",
                    f"{r.f_calls:g}",
                    f"{r.peak_mb:.2f}",
                    "" if r.grad_over_f is None else f"{r.grad_over_f:.1f}",
                ]
            )
        return out

    def table(self) -> str:
        """A plain-text table (Markdown)."""
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in self._cells()]
        return "\n".join(lines)

    def rich_table(self) -> Any:
        from rich.table import Table

        table = Table(title=self.TITLE)
        for h in self.HEADER:
            table.add_column(h, justify="left" if h in self.LEFT else "right")
        for row, r in zip(self._cells(), self.rows):
            table.add_row(*row, style=self._style(r))
        return table

    def _style(self, r: Any) -> str | None:
        return None if r.prepared_ratio <= (1.2 if r.n < 10_000 else 1.05) else "yellow"

    def to_dict(self) -> list[dict[str, Any]]:
        return [
            {
                **dataclasses.asdict(r),
                "ratio": r.ratio,
                "prepared_ratio": r.prepared_ratio,
                "grad_over_f": r.grad_over_f,
            }
            for r in self.rows
        ]

    def to_json(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)

    def plot(self, path: str) -> None:
        """Time per call against n, log-log, one panel per operator: ours (prepared) solid, native dashed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        operators = list(dict.fromkeys(r.operator for r in self.rows))
        cols = min(3, len(operators))
        fig, axes = plt.subplots(
            math.ceil(len(operators) / cols),
            cols,
            figsize=(5 * cols, 4 * math.ceil(len(operators) / cols)),
            squeeze=False,
        )
        colors = dict(zip(ENGINES, ("C0", "C1", "C2", "C3")))
        for ax, operator in zip(axes.flat, operators):
            rows = [r for r in self.rows if r.operator == operator]
            for engine in dict.fromkeys(r.engine for r in rows):
                first = True
                for problem in dict.fromkeys(r.problem for r in rows):
                    sel = sorted((r for r in rows if r.engine == engine and r.problem == problem), key=lambda r: r.n)
                    if not sel:
                        continue
                    ns = [r.n for r in sel]
                    c = colors.get(engine, None)
                    ours, native = (f"{engine} prepared", f"{engine} native") if first else (None, None)
                    ax.plot(ns, [r.prepared * 1e6 for r in sel], "o-", color=c, label=ours)
                    ax.plot(ns, [r.native * 1e6 for r in sel], "x--", color=c, alpha=0.6, label=native)
                    first = False
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(operator)
            ax.set_xlabel("n")
            ax.set_ylabel("µs per call")
            ax.legend(fontsize=6)
        for ax in list(axes.flat)[len(operators) :]:
            ax.set_visible(False)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


@dataclasses.dataclass
class PathRow:
    """One path on one engine: ours (as a user calls it, and prepared) against the native code."""

    path: str  # "numpy gradient", "mlp hvp", "lazy H @ v", ...
    engine: str
    ours_call: str  # how ours was called: the backend argument, or the user's wrapper
    problem: str
    n: int  # elements of x (parameters for the MLP)
    native: float | None  # in `unit`: seconds per call, seconds per run, or MB
    ours: float
    prepared: float | None = None
    unit: str = "s/call"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.ours / self.native if self.native else None

    @property
    def prepared_ratio(self) -> float | None:
        return self.prepared / self.native if self.native and self.prepared is not None else None


class PathsReport(BenchReport):
    """The rows of ``benchmark(paths=True)``, as a table, JSON or a plot of the ratios."""

    rows: list[PathRow]  # type: ignore[assignment]

    TITLE = "the paths users take: abstractad against native code (ratio = ours / native)"
    LEFT = ("path", "engine", "ours", "problem", "note")
    HEADER = (
        "path",
        "engine",
        "ours",
        "problem",
        "n",
        "native",
        "ours time",
        "prepared",
        "ours/native",
        "prepared/native",
        "note",
    )

    def _cells(self) -> list[list[str]]:
        def value(v: float | None, unit: str) -> str:
            if v is None:
                return ""
            return {"s/call": f"{v * 1e6:.1f} µs", "s/run": f"{v:.2f} s", "MB": f"{v:.2f} MB"}[unit]

        def ratio(v: float | None) -> str:
            return "" if v is None else f"{v:.2f}"

        return [
            [
                r.path,
                r.engine,
                r.ours_call,
                r.problem,
                f"{r.n:g}",
                value(r.native, r.unit),
                value(r.ours, r.unit),
                value(r.prepared, r.unit),
                ratio(r.ratio),
                ratio(r.prepared_ratio),
                r.note,
            ]
            for r in self.rows
        ]

    def _style(self, r: Any) -> str | None:
        best = min(x for x in (r.ratio, r.prepared_ratio, 1.0) if x is not None)
        return None if best <= (1.1 if r.unit == "MB" else 1.2) else "yellow"

    def to_dict(self) -> list[dict[str, Any]]:
        return [{**dataclasses.asdict(r), "ratio": r.ratio, "prepared_ratio": r.prepared_ratio} for r in self.rows]

    def plot(self, path: str) -> None:
        """Horizontal bars of ours / native (and prepared / native) per row, with the parity line."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if r.ratio is not None]
        labels = [f"{r.path} · {r.engine} {r.ours_call} · {r.problem} n={r.n:g}" for r in rows]
        fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.2))
        at = np.arange(len(rows))
        ax.barh(at - 0.2, [r.ratio for r in rows], height=0.4, label="ours / native")
        ax.barh(at + 0.2, [r.prepared_ratio or 0.0 for r in rows], height=0.4, label="prepared / native")
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_yticks(at, labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ratio (log scale; < 1: faster or smaller than native)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
