"""The ``abstractad`` command: ``backends``, ``check`` and ``bench``.

Exit codes: 0 success (every engine agrees), 1 disagreement between engines, 2 bad usage: a bad
argument or target is one line on stderr (``abstractad: error: ...``), never a traceback, and a
bare ``abstractad`` prints the help and exits with 2, as argparse does for a missing command.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

import numpy as np

# Column headers of the compact check table, in its column order (the operators of _check.ALL_OPERATORS),
# short enough for eight operators in 80 columns.
SHORT = {
    "gradient": "grad",
    "jacobian": "jac",
    "hessian": "hess",
    "hvp": "hvp",
    "jvp": "jvp",
    "vjp": "vjp",
    "derivative": "deriv",
    "second_derivative": "deriv2",
}


class UsageError(Exception):
    """A bad target or argument: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``abstractad: error: ...``, exit code 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"abstractad: error: {message} (see: {self.prog} --help)\n")


def _console(stderr: bool = False) -> Any:
    """A rich console: colour only on a terminal (rich detects it), no escape codes at all with NO_COLOR."""
    from rich.console import Console

    return Console(stderr=stderr, color_system=None if os.environ.get("NO_COLOR") else "auto", highlight=False)


# ----------------------------------------------------------------------------- backends


def _version(module: str) -> tuple[str, str]:
    """(distribution, version) of an importable top-level module, from package metadata: nothing is imported."""
    from importlib import metadata

    with contextlib.suppress(metadata.PackageNotFoundError):
        return module, metadata.version(module)
    for dist in metadata.packages_distributions().get(module, []):  # tensorflow comes as tensorflow-cpu
        with contextlib.suppress(metadata.PackageNotFoundError):
            meta = metadata.distribution(dist).metadata
            return meta["Name"], meta["Version"]
    return module, ""


def _modes(module: str, cls: str) -> str:
    """The modes of a built-in backend class, read from its source: loading the class would import the engine."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(f"abstractad.backends.{module}")
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            defined = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            return ", ".join(m for m, p in (("forward", "pushforward"), ("reverse", "pullback")) if p in defined)
    return ""


def _devices(name: str) -> str:
    if name == "torch":
        import torch

        return "cpu" + (f", cuda x{torch.cuda.device_count()}" if torch.cuda.is_available() else "")
    if name == "jax":
        import jax

        return ", ".join(sorted({d.platform for d in jax.devices()}))
    if name == "tensorflow":
        from ._quiet import import_tensorflow

        tf: Any = import_tensorflow()
        return ", ".join(sorted({d.device_type.lower() for d in tf.config.list_physical_devices()}))
    return "cpu"


def cmd_backends(args: argparse.Namespace) -> int:
    """``abstractad backends [--devices]``: engines, versions (package metadata) and modes, without importing them."""
    from rich.table import Table

    from ._backend import installed_backends
    from .backends import BUILTIN

    table = Table(title="installed backends")
    for h in ("backend", "engine", "version", "modes", *(("devices",) if args.devices else ())):
        table.add_column(h)
    for name in installed_backends():
        module, cls, engine = BUILTIN[name]
        dist, version = _version(engine or "numpy")
        table.add_row(name, dist, version, _modes(module, cls), *((_devices(name),) if args.devices else ()))
    _console().print(table)
    return 0


# ----------------------------------------------------------------------------- arguments


def _load_target(target: str, option: str = "target") -> Any:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"{option} must look like MODULE:FUNCTION, not {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # MODULE may be a file in the current directory
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # a module that fails to import, for whatever reason, is a bad target
        raise UsageError(f"cannot import {module!r}: {type(e).__name__}: {e}") from None
    fn = mod
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UsageError(f"{module!r} has no attribute {attr!r}")
    if not callable(fn):
        raise UsageError(f"{target} is not callable")
    return fn


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--shape takes integers like 3,4 (or 3x4), not {text!r}") from None
    if any(n < 1 for n in shape):
        raise UsageError(f"--shape takes positive integers like 3,4 (or 3x4), not {text!r}")
    return shape


def _point(args: argparse.Namespace, dtype: str) -> Any:
    if args.x is not None:
        try:
            values = [float(v) for v in args.x.replace(",", " ").split()]
        except ValueError:
            raise UsageError(f"--x takes numbers separated by commas or spaces, not {args.x!r}") from None
        x = np.asarray(values, dtype=dtype)
        if args.shape is not None:
            shape = _shape(args.shape)
            if math.prod(shape) != x.size:
                raise UsageError(f"--x has {x.size} numbers, --shape {args.shape} takes {math.prod(shape)}")
            x = x.reshape(shape)
        return x
    shape = _shape(args.shape) if args.shape is not None else (5,)
    return np.random.default_rng(args.seed).uniform(-1.0, 1.0, shape).astype(dtype)


def _names(text: str | None) -> list[str] | None:
    """Backend names from a comma-separated list, each a known one."""
    if text is None:
        return None
    from ._backend import known_backends

    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--backends takes comma-separated backend names, not {text!r}")
    known = set(known_backends())
    bad = [n for n in names if n not in known and ":" not in n]
    if bad:
        raise UsageError(f"unknown backends {bad}; known: {', '.join(sorted(known))}")
    return names


def _backends(text: str | None) -> list[Any]:
    """The backends to check, resolved (engines imported): names, or MODULE:CLASS for a backend of one's own."""
    from ._backend import Backend, installed_backends, resolve

    out = []
    for name in _names(text) or installed_backends():
        if ":" in name:
            obj = _load_target(name, "--backends entry")
            if isinstance(obj, type) and issubclass(obj, Backend):
                obj = obj()
            if not isinstance(obj, Backend):
                raise UsageError(f"--backends {name} is not an abstractad.Backend subclass or instance")
            out.append(obj)
            continue
        try:
            out.append(resolve(name))
        except ImportError as e:
            raise UsageError(str(e)) from None
    return out


def _operators(text: str | None) -> tuple[str, ...] | None:
    from ._check import ALL_OPERATORS

    if text is None:
        return None
    ops = tuple(o.strip() for o in text.split(",") if o.strip())
    bad = [o for o in ops if o not in ALL_OPERATORS]
    if bad or not ops:
        raise UsageError(f"unknown operators {bad or [text]}; choose from {', '.join(SHORT)}")
    return ops


def _dtypes(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return default
    dtypes = tuple(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    if not dtypes or any(d not in ("float32", "float64") for d in dtypes):
        raise UsageError(f"--dtype takes float32, float64 or float64,float32, not {text!r}")
    return dtypes


def _tolerance(option: str, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UsageError(f"{option} takes a finite number >= 0, not {value}")
    return value


def _integers(option: str, text: str, least: int = 1) -> list[int]:
    try:
        values = [int(float(s)) for s in text.split(",")]
    except (ValueError, OverflowError):
        raise UsageError(f"{option} takes integers separated by commas (1e4 allowed), not {text!r}") from None
    if any(v < least for v in values):
        raise UsageError(f"{option} takes integers >= {least}, not {text!r}")
    return values


def _at_least(option: str, value: float, least: float) -> None:
    if not value >= least:
        raise UsageError(f"{option} must be at least {least}, not {value}")


# ----------------------------------------------------------------------------- progress


@contextlib.contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr (drawn on a terminal only), yielding a callback that advances it by one step.

    The callers count their steps exactly (``check`` reports every backend and operator, skipped ones
    too), so the bar ends at 100 %.
    """
    if quiet:
        yield lambda label: None
        return
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=total)

        def advance(label: str) -> None:
            bar.update(task, advance=1, description=label)

        yield advance


# ----------------------------------------------------------------------------- check


@dataclasses.dataclass
class _Case:
    f: Callable
    x: Any
    args: tuple
    name: str
    reference: dict[str, Any] | None
    operators: tuple[str, ...]


def _cases(args: argparse.Namespace, operators: tuple[str, ...] | None) -> list[_Case]:
    """What to check: the scenario library (float64 and float32 by default) or the target (float64)."""
    if args.target is None:
        if args.x is not None or args.shape is not None:
            raise UsageError("--x and --shape set the point of a MODULE:FUNCTION target; the scenarios have their own")
        from .testing import scenarios

        dtypes = _dtypes(args.dtype, ("float64", "float32"))
        return [
            _Case(s.f, s.x, s.args, s.name, _references(s), operators or _operators_for(s.f, s.x, s.args, s.name))
            for s in scenarios(tuple(np.dtype(d) for d in dtypes))
        ]
    dtypes = _dtypes(args.dtype, ("float64",))
    points = [_point(args, d) for d in dtypes]
    f = _load_target(args.target)
    return [_Case(f, x, (), args.target, None, operators or _operators_for(f, x, (), args.target)) for x in points]


def _operators_for(f: Callable, x: Any, consts: tuple, name: str) -> tuple[str, ...]:
    try:
        y_shape = np.shape(f(x, *consts))
    except Exception as e:  # the target cannot be evaluated at the point: a bad target, not a disagreement
        raise UsageError(f"{name} raised at x of shape {np.shape(x)}: {type(e).__name__}: {e}") from None
    ops = ["jacobian", "jvp", "vjp"]
    if y_shape == ():
        ops = ["gradient", "hessian", "hvp", *ops]
    if np.shape(x) == ():
        ops += ["derivative", "second_derivative"]
    return tuple(ops)


def _references(s: Any) -> dict[str, Any]:
    v, w = s.seeds()
    refs = {"jacobian": s.jacobian, "jvp": s.jvp(v), "vjp": s.vjp(w)}
    if s.scalar_out:
        refs["gradient"] = s.gradient
        if s.hessian is not None:
            refs.update(hessian=s.hessian, hvp=s.hvp(v))
    if s.scalar_in:
        refs.update(derivative=s.jacobian, second_derivative=s.second)
    return refs


def cmd_check(args: argparse.Namespace) -> int:
    """``abstractad check [MODULE:FUNCTION] [--json]``: 0 when every engine agrees, 1 on a disagreement."""
    from ._check import check, summarize

    operators = _operators(args.operators)
    _names(args.backends)  # unknown names fail before any import
    rtol, atol = _tolerance("--rtol", args.rtol), _tolerance("--atol", args.atol)
    cases = _cases(args, operators)
    backends = _backends(args.backends)
    reports = []
    with _progress(len(backends) * sum(len(c.operators) for c in cases), args.quiet or args.json) as advance:
        for c in cases:
            dtype = np.asarray(c.x).dtype

            def step(label: str, c: _Case = c, dtype: Any = dtype) -> None:
                advance(f"{c.name} {dtype}: {label}")

            report = check(
                c.f,
                c.x,
                *c.args,
                backends=backends,
                operators=c.operators,
                rtol=rtol,
                atol=atol,
                reference=c.reference,
                seed=args.seed,
                progress=step,
            )
            report.function = c.name
            reports.append(report)
    summary = summarize(reports)
    if args.json:
        summary["checks"] = [r.to_dict() for r in reports]
        print(json.dumps(_finite(summary), indent=1))
    else:
        _print_check(reports, args.quiet)
    return 0 if summary["ok"] else 1


def _finite(value: Any) -> Any:
    """JSON without NaN or Infinity (which json.dumps writes but strict readers reject): null instead."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _print_check(reports: list[Any], quiet: bool) -> None:
    """One compact table per dtype (a row per backend, a column per operator, the worst relative error), then the
    verdict line."""
    from ._check import summarize

    console = _console()
    dtypes = list(dict.fromkeys(r.dtype for r in reports))
    functions = list(dict.fromkeys(r.function for r in reports))
    for dtype in dtypes:
        group = [r for r in reports if r.dtype == dtype]
        if quiet and all(r.ok for r in group):
            continue
        if len(functions) == 1:
            title = f"{functions[0]} at shape {group[0].shape}, {dtype}"
        else:
            title = f"{dtype}: {len(group)} functions"
        console.print(_matrix(title, summarize(group)))
    if not quiet or not all(r.ok for r in reports):
        against = {ref for r in reports for ref in r.references.values()}
        basis = "the analytic answer" if against == {"analytic"} else "the reference"
        console.print(f"worst relative error against {basis}; ! disagrees, ? no consensus", style="dim", markup=False)
    console.print(summarize(reports)["verdict"], markup=False, style=None if all(r.ok for r in reports) else "bold red")


def _matrix(title: str, summary: dict[str, Any]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    ops = [op for op in SHORT if any(op in b["operators"] for b in summary["backends"])]
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    table.add_column("backend", no_wrap=True)
    for op in ops:
        table.add_column(SHORT[op], justify="right", no_wrap=True)
    for b in summary["backends"]:
        cells = []
        for op in ops:
            cell = b["operators"].get(op)
            if cell is None:
                cells.append(Text("-", style="dim"))
                continue
            status = cell["status"]
            text = {"reference": "ref", "error": "error"}.get(status, _sci(cell["max_rel"]))
            text += {"fail": "!", "undecided": "?"}.get(status, "")
            style = {"fail": "bold red", "error": "bold red", "undecided": "yellow", "reference": "dim"}.get(status)
            cells.append(Text(text, style=style or ""))
        table.add_row(Text(b["backend"], style="bold red" if b["culprit"] else ""), *cells)
    return table


def _sci(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.0e}" if math.isfinite(value) else str(value)


# ----------------------------------------------------------------------------- bench


def cmd_bench(args: argparse.Namespace) -> int:
    """``abstractad bench [--paths]``: time every operator on every engine against its native call."""
    from . import _bench

    _at_least("--rounds", args.rounds, 1)
    _at_least("--max-dense", args.max_dense, 0)
    if not (math.isfinite(args.target) and args.target > 0):
        raise UsageError(f"--target takes seconds > 0, not {args.target}")
    sizes = _integers("--sizes", args.sizes)
    if args.paths is not None:
        return _cmd_bench_paths(args, sizes)
    operators = tuple(o.strip() for o in args.operators.split(",")) if args.operators else _bench.OPERATORS
    bad = [o for o in operators if o not in _bench.OPERATORS]
    if bad:
        raise UsageError(f"unknown operators {bad}; choose from {', '.join(_bench.OPERATORS)}")
    engines, installed = _bench_backends(args.backends)
    functions = None
    if args.function:
        functions = {target: _load_target(target, "--function") for target in args.function}
    total = _bench.count_cases(functions, operators, engines or installed, sizes, args.max_dense)
    with _progress(total, args.quiet) as advance:
        report = _bench.benchmark(
            functions,
            operators=operators,
            engines=engines,
            sizes=sizes,
            max_dense=args.max_dense,
            rounds=args.rounds,
            target=args.target,
            progress=advance,
        )
    return _print_bench(report, args)


def _bench_backends(text: str | None) -> tuple[list[str] | None, list[str]]:
    """(the engines named in --backends, or None; the installed AD engines): bench has no other backends."""
    from ._backend import installed_backends
    from ._bench_engines import ENGINES

    installed = [e for e in ENGINES if e in installed_backends()]
    engines = _names(text)
    bad = [e for e in engines or () if e not in installed]
    if bad:
        raise UsageError(f"cannot benchmark {bad}: bench compares AD engines with their native calls ({installed})")
    return engines, installed


def _cmd_bench_paths(args: argparse.Namespace, sizes: list[int]) -> int:
    """``abstractad bench --paths [PATHS]``: the paths users take, ours against native code."""
    from . import _bench, _bench_paths

    paths = _bench_paths.PATHS if args.paths == "all" else tuple(p.strip() for p in args.paths.split(",") if p.strip())
    bad = [p for p in paths if p not in _bench_paths.PATHS]
    if bad:
        raise UsageError(f"unknown paths {bad}; choose from {', '.join(_bench_paths.PATHS)}")
    if args.function or args.operators:
        raise UsageError("--paths times fixed problems: it takes no --function or --operators")
    _at_least("--batch", args.batch, 1)
    _at_least("--newton-n", args.newton_n, 1)
    named, installed = _bench_backends(args.backends)
    engines = named or installed
    layers = _integers("--layers", args.layers)
    if len(layers) < 2:
        raise UsageError(f"--layers takes at least two widths, like 784,1024,128,10, not {args.layers!r}")
    with _progress(_bench_paths.count_paths(paths, engines), args.quiet) as advance:
        report = _bench.benchmark(
            engines=engines,
            sizes=sizes,
            rounds=args.rounds,
            target=args.target,
            progress=advance,
            paths=paths,
            layers=layers,
            batch=args.batch,
            newton_n=args.newton_n,
        )
    return _print_bench(report, args)


def _print_bench(report: Any, args: argparse.Namespace) -> int:
    from rich.console import Console

    Console(width=max(200, Console().width)).print(report.rich_table())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------------- the parser


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("abstractad")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``abstractad`` command.

    >>> parser().parse_args(["check", "--dtype", "float32"]).dtype
    'float32'
    """
    p = _Parser(
        prog="abstractad",
        description="One AD interface over many engines.",
        epilog="exit codes: 0 success, 1 engines disagree, 2 bad usage (a bare 'abstractad' prints this help, exit 2)",
    )
    p.add_argument("--version", action="version", version=f"abstractad {_package_version()}")
    sub = p.add_subparsers(dest="command", metavar="{backends,check,bench}")
    bk = sub.add_parser("backends", help="installed engines with versions and modes (no engine is imported)")
    bk.add_argument("--devices", action="store_true", help="also list each engine's devices (imports the engines)")
    bk.set_defaults(run=cmd_backends)
    _add_check(sub)
    _add_bench(sub)
    return p


def _add_check(sub: Any) -> None:
    """The ``check`` subcommand and its arguments."""
    c = sub.add_parser(
        "check",
        help="cross-check derivatives on every installed engine",
        description="Cross-check derivatives on every installed engine; name the engine that disagrees.",
        epilog="exit codes: 0 every engine agrees, 1 a disagreement, 2 bad usage",
    )
    c.add_argument("target", nargs="?", help="MODULE:FUNCTION to check (default: the scenario library)")
    c.add_argument("--x", help="the point, numbers separated by commas")
    c.add_argument("--shape", help="the shape of x (random point in [-1, 1] when --x is not given)")
    c.add_argument(
        "--dtype",
        help="float32, float64 or both comma-separated (default: both for the scenarios, float64 for a target)",
    )
    c.add_argument("--backends", help="comma-separated backend names or MODULE:CLASS (default: every installed one)")
    c.add_argument("--operators", help="comma-separated operators (default: every one the shapes allow)")
    c.add_argument("--rtol", type=float, help="relative tolerance for every backend (default: by dtype and engine)")
    c.add_argument("--atol", type=float, help="absolute tolerance added to the relative one (default: none)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true", help="print machine-readable results to stdout, no table")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar; print only failures and the verdict")
    c.set_defaults(run=cmd_check)


def _add_bench(sub: Any) -> None:
    """The ``bench`` subcommand and its arguments."""
    from ._bench import OPERATORS
    from ._bench_paths import PATHS

    b = sub.add_parser("bench", help="time every operator on every engine against its native call")
    b.add_argument("--function", action="append", help="MODULE:FUNCTION to benchmark (repeatable; default: built-ins)")
    b.add_argument("--operators", help=f"comma-separated (default: {','.join(OPERATORS)})")
    b.add_argument("--backends", help="comma-separated engines (default: every installed AD engine)")
    b.add_argument("--sizes", default="100,10000", help="comma-separated n (default: 100,10000)")
    b.add_argument("--max-dense", type=int, default=1000, help="largest n for jacobian and hessian (default 1000)")
    b.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds (default 7)")
    b.add_argument("--target", type=float, default=0.02, help="seconds per timed batch (default 0.02)")
    b.add_argument(
        "--paths",
        nargs="?",
        const="all",
        help="time the paths users take instead: NumPy in/out, an MLP's params as a pytree, lazy H @ v, "
        f"newton_cg, a sharded pytree, peak memory (optionally some: {','.join(PATHS)})",
    )
    b.add_argument("--layers", default="784,1024,128,10", help="MLP widths for --paths (default 784,1024,128,10)")
    b.add_argument("--batch", type=int, default=64, help="MLP batch for --paths (default 64)")
    b.add_argument("--newton-n", type=int, default=20, help="dimension of the newton_cg run for --paths (default 20)")
    b.add_argument("--json", help="write the rows to this JSON file")
    b.add_argument("--plot", help="write a log-log plot of time against n to this PNG file")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(run=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 disagreement, 2 bad usage).

    >>> main(["check", "--operators", "grad"])  # prints one line on stderr: abstractad: error: unknown operators ...
    2
    """
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # --help and --version (0), argparse's own usage errors (2)
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        p.print_help()
        return 2
    try:
        return args.run(args)
    except UsageError as e:
        print(f"abstractad: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
