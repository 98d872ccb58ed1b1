"""The ``abstractad`` command: ``backends``, ``check`` and ``bench``."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class UsageError(Exception):
    """A bad target or argument: printed as one line, exit code 2."""


def _engine_versions() -> list[tuple[str, str, str, str]]:
    from importlib import metadata

    from . import _backend

    rows = []
    dists = {
        "jax": "jax",
        "torch": "torch",
        "tensorflow": "tensorflow-cpu",
        "autograd": "autograd",
        "finitediff": "numpy",
    }
    for name in _backend.installed_backends():
        version = ""
        for dist in (dists[name], name):
            with contextlib.suppress(metadata.PackageNotFoundError):
                version = metadata.version(dist)
                break
        cls = _backend.backend_class(name)
        modes = (
            "forward, reverse"
            if cls.has_pushforward() and cls.has_pullback()
            else ("forward" if cls.has_pushforward() else "reverse")
        )
        rows.append((name, version, _devices(name), modes))
    return rows


def _devices(name: str) -> str:
    if name == "torch":
        import torch

        return "cpu" + (f", cuda x{torch.cuda.device_count()}" if torch.cuda.is_available() else "")
    if name == "jax":
        import jax

        return ", ".join(sorted({d.platform for d in jax.devices()}))
    if name == "tensorflow":
        import tensorflow as tf

        return ", ".join(sorted({d.device_type.lower() for d in tf.config.list_physical_devices()}))
    return "cpu"


def _print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        for row in (header, *rows):
            print("  ".join(f"{c:<18}" for c in row))
        return
    table = Table(title=title)
    for h in header:
        table.add_column(h)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@contextlib.contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Any]:
    """A rich progress bar (on a terminal), yielding a callback that advances it with a label."""
    try:
        from rich.progress import Progress
    except ImportError:
        yield lambda label: None
        return
    if quiet:
        yield lambda label: None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task("checking", total=total)

        def advance(label: str) -> None:
            bar.update(task, advance=1, description=label)

        yield advance


def _load_target(target: str) -> Any:
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"target must look like MODULE:FUNCTION, not {target!r}")
    sys.path.insert(0, "")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"cannot import {module!r}: {e}") from None
    fn = mod
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UsageError(f"{module!r} has no attribute {attr!r}")
    if not callable(fn):
        raise UsageError(f"{target} is not callable")
    return fn


def _point(args: argparse.Namespace) -> Any:
    dtype = np.dtype(args.dtype)
    if args.x is not None:
        try:
            values = [float(v) for v in args.x.replace(",", " ").split()]
        except ValueError:
            raise UsageError(f"--x takes numbers separated by commas or spaces, not {args.x!r}") from None
        x = np.asarray(values, dtype=dtype)
        if args.shape is not None:
            x = x.reshape(_shape(args.shape))
        return x
    shape = _shape(args.shape) if args.shape is not None else (5,)
    return np.random.default_rng(args.seed).uniform(-1.0, 1.0, shape).astype(dtype)


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--shape takes integers like 3,4 (or 3x4), not {text!r}") from None


def _backends(text: str | None) -> list[str] | None:
    if text is None:
        return None
    from ._backend import known_backends

    names = [n.strip() for n in text.split(",") if n.strip()]
    known = set(known_backends())
    bad = [n for n in names if n not in known]
    if bad:
        raise UsageError(f"unknown backends {bad}; known: {', '.join(sorted(known))}")
    return names


def cmd_backends(args: argparse.Namespace) -> int:
    rows = _engine_versions()
    _print_table("installed backends", ("backend", "version", "devices", "modes"), rows)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ._check import check

    backends = _backends(args.backends)
    operators = tuple(args.operators.split(",")) if args.operators else None
    reports = []
    if args.target is None:
        from .testing import scenarios

        cases = [(s.f, s.x, s.args, s.name, _references(s)) for s in scenarios((np.dtype(args.dtype),))]
    else:
        cases = [(_load_target(args.target), _point(args), (), args.target, None)]
    n_backends = len(backends) if backends is not None else len(__import__("abstractad").installed_backends())
    with _progress(len(cases) * n_backends * 6, args.quiet) as advance:
        for f, x, consts, name, reference in cases:
            kwargs = {"operators": operators} if operators else {}
            ops = operators or _operators_for(f, x, consts)
            kwargs["operators"] = ops
            report = check(f, x, *consts, backends=backends, reference=reference, progress=advance, **kwargs)
            report.function = name
            reports.append(report)
    ok = all(r.ok for r in reports)
    for report in reports:
        if args.quiet and report.ok:
            continue
        _print_report(report)
    failed = [r.function for r in reports if not r.ok]
    print("all backends agree" if ok else f"DISAGREEMENT in: {', '.join(failed)}")
    return 0 if ok else 1


def _operators_for(f: Any, x: Any, consts: tuple) -> tuple[str, ...]:
    y_shape = np.shape(f(x, *consts))
    ops = ["jacobian", "jvp", "vjp"]
    if y_shape == ():
        ops = ["gradient", "hessian", "hvp", *ops]
    if np.shape(x) == ():
        ops += ["derivative", "second_derivative"]
    return tuple(ops)


def _references(s: Any) -> dict[str, Any]:
    v, w = s.seeds()
    refs = {"jacobian": s.jacobian, "jvp": s.jvp(v), "vjp": s.vjp(w)}
    if s.scalar_out and not s.scalar_in:
        refs.update(gradient=s.gradient, hessian=s.hessian, hvp=s.hvp(v))
    if s.scalar_in:
        refs.update(derivative=s.jacobian, second_derivative=s.second)
    return refs


def _print_report(report: Any) -> None:
    try:
        from rich.console import Console

        Console().print(report.rich_table())
    except ImportError:
        print(report)


def cmd_bench(args: argparse.Namespace) -> int:
    from . import _bench

    if args.paths is not None:
        return _bench_paths(args)
    operators = tuple(o.strip() for o in args.operators.split(",")) if args.operators else _bench.OPERATORS
    bad = [o for o in operators if o not in _bench.OPERATORS]
    if bad:
        raise UsageError(f"unknown operators {bad}; choose from {', '.join(_bench.OPERATORS)}")
    engines = _backends(args.backends) if args.backends else None
    installed = [e for e in _bench.ENGINES if e in __import__("abstractad").installed_backends()]
    if engines is not None:
        bad = [e for e in engines if e not in installed]
        if bad:
            raise UsageError(f"cannot benchmark {bad}: bench compares AD engines with their native calls ({installed})")
    functions = None
    if args.function:
        functions = {target: _load_target(target) for target in args.function}
    sizes = _integers("--sizes", args.sizes)
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


def _bench_paths(args: argparse.Namespace) -> int:
    from . import _bench

    paths = _bench.PATHS if args.paths == "all" else tuple(p.strip() for p in args.paths.split(",") if p.strip())
    bad = [p for p in paths if p not in _bench.PATHS]
    if bad:
        raise UsageError(f"unknown paths {bad}; choose from {', '.join(_bench.PATHS)}")
    if args.function or args.operators:
        raise UsageError("--paths times fixed problems: it takes no --function or --operators")
    installed = [e for e in _bench.ENGINES if e in __import__("abstractad").installed_backends()]
    engines = _backends(args.backends) if args.backends else installed
    bad = [e for e in engines if e not in installed]
    if bad:
        raise UsageError(f"cannot benchmark {bad}: bench compares AD engines with their native calls ({installed})")
    sizes, layers = _integers("--sizes", args.sizes), _integers("--layers", args.layers)
    if len(layers) < 2:
        raise UsageError(f"--layers takes at least two widths, like 784,1024,128,10, not {args.layers!r}")
    with _progress(_bench.count_paths(paths, engines), args.quiet) as advance:
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


def _integers(option: str, text: str) -> list[int]:
    try:
        return [int(float(s)) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"{option} takes integers separated by commas (1e4 allowed), not {text!r}") from None


def _print_bench(report: Any, args: argparse.Namespace) -> int:
    try:
        from rich.console import Console

        Console(width=max(200, Console().width)).print(report.rich_table())
    except ImportError:
        print(report.table())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abstractad", description="One AD interface over many engines.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("backends", help="installed engines with versions, devices and modes").set_defaults(run=cmd_backends)
    c = sub.add_parser("check", help="cross-check derivatives on every installed engine")
    c.add_argument("target", nargs="?", help="MODULE:FUNCTION to check (default: the scenario library)")
    c.add_argument("--x", help="the point, numbers separated by commas")
    c.add_argument("--shape", help="the shape of x (random point in [-1, 1] when --x is not given)")
    c.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    c.add_argument("--backends", help="comma-separated backend names (default: every installed one)")
    c.add_argument("--operators", help="comma-separated operators (default: every one the shapes allow)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("-q", "--quiet", action="store_true", help="print only failures and the verdict")
    c.set_defaults(run=cmd_check)
    b = sub.add_parser("bench", help="time every operator on every engine against its native call")
    b.add_argument("--function", action="append", help="MODULE:FUNCTION to benchmark (repeatable; default: built-ins)")
    b.add_argument(
        "--operators",
        help=f"comma-separated (default: {','.join(('gradient', 'jvp', 'vjp', 'hvp', 'jacobian', 'hessian'))})",
    )
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
        "newton_cg, a sharded pytree, peak memory (optionally some: numpy,mlp,lazy,newton_cg,sharded,memory)",
    )
    b.add_argument("--layers", default="784,1024,128,10", help="MLP widths for --paths (default 784,1024,128,10)")
    b.add_argument("--batch", type=int, default=64, help="MLP batch for --paths (default 64)")
    b.add_argument("--newton-n", type=int, default=20, help="dimension of the newton_cg run for --paths (default 20)")
    b.add_argument("--json", help="write the rows to this JSON file")
    b.add_argument("--plot", help="write a log-log plot of time against n to this PNG file")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(run=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 disagreement, 2 bad usage)."""
    p = parser()
    args = p.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"abstractad {args.command}: {e}", file=sys.stderr)
        return 2
