"""``ad.benchmark(paths=True)``: the paths users take, each ours against the native code a user
would write for the same thing.

Not one flat engine array per call, but what users pass and get back: NumPy in and out, an MLP's
parameters as a dict of engine arrays, a lazy Hessian's products, a whole Newton-CG run, a sharded
pytree, and the peak memory of a gradient. Each row is ours against the native code in the same
process (subprocesses where a cold start, a device count or a clean memory high-water mark is the
point).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._backend import Backend
from ._bench_engines import ENGINE_FACTORIES, Engine, mlp_natives
from ._bench_problems import PROBLEMS, mlp_loss, mlp_numpy, rosenbrock
from ._bench_report import PathRow, PathsReport
from ._bench_timing import fresh_copy, interleaved

PATHS = ("numpy", "mlp", "lazy", "newton_cg", "sharded", "memory")


def _tree_map(fn: Callable, tree: dict) -> dict:
    return {k: fn(a) for k, a in tree.items()}


def _numpy_out(name: str) -> Callable[[Any], np.ndarray]:
    """What a user writes to get a NumPy array back from the engine's result."""
    if name in ("torch", "tensorflow"):
        return lambda a: a.numpy()
    return np.asarray


def _timed_row(
    rounds: int, target: float, native: Callable, ours: Callable, prepared: Callable | None, **fields: Any
) -> PathRow:
    fns = [native, ours] + ([prepared] if prepared is not None else [])
    times = [t for t, _ in interleaved(fns, rounds, target)]
    return PathRow(native=times[0], ours=times[1], prepared=times[2] if prepared is not None else None, **fields)


def _label(b: Backend | str) -> str:
    """How the backend argument was written: ``'torch'``, ``Torch()``, ``Jax(compile=True)``."""
    if isinstance(b, str):
        return repr(b)
    return f"{type(b).__name__}({'compile=True' if getattr(b, 'compile', False) else ''})"


def _numpy_rows(engine: Engine, sizes: Sequence[int], rounds: int, target: float, seed: int) -> list[PathRow]:
    """NumPy in, NumPy out: ``ad.gradient(f, x_np)`` against the user's own conversions around the native call."""
    from . import _first_order, _operators

    to_engine = {"jax": lambda a: a, "torch": engine.to_array, "tensorflow": engine.to_array}.get(
        engine.name, lambda a: a
    )
    out = _numpy_out(engine.name)
    backends: list[Backend | str] = [engine.backend] + (["torch"] if engine.name == "torch" else [])
    rows = []
    for problem in ("sum_sin", "rosenbrock"):
        f = PROBLEMS[problem]
        for n in sizes:
            dtype = np.float64 if engine.name == "autograd" else np.float32
            x = np.random.default_rng(seed).standard_normal(int(n)).astype(dtype)
            native_fn = engine.native("gradient", fresh_copy(f), engine.to_array(x))
            native = functools.partial(lambda g, x: out(g(to_engine(x))), native_fn, x)
            for b in backends:
                fresh = fresh_copy(f)
                rows.append(
                    _timed_row(
                        rounds,
                        target,
                        native,
                        functools.partial(_first_order.gradient, fresh, x, backend=b),
                        functools.partial(_operators.prepare("gradient", fresh, x, backend=b), x),
                        path="numpy gradient",
                        engine=engine.name,
                        ours_call=_label(b),
                        problem=problem,
                        n=int(n),
                        note=f"{np.dtype(dtype).name} NumPy",
                    )
                )
    return rows


def _mlp_rows(
    engine: Engine, layers: Sequence[int], batch: int, rounds: int, target: float, seed: int
) -> list[PathRow]:
    """The gradient and hvp of an MLP loss over its parameters, a dict of the engine's arrays."""
    dtype = np.float64 if engine.name == "autograd" else np.float32
    params, v, X, y = (
        _tree_map(engine.to_array, t) if isinstance(t, dict) else engine.to_array(t)
        for t in mlp_numpy(layers, batch, seed, dtype)
    )
    n = sum(int(np.prod(a.shape)) for a in params.values())
    native_grad, native_hvp = mlp_natives(engine.name, fresh_copy(mlp_loss))
    fields = dict(engine=engine.name, problem=f"tanh MLP {'-'.join(map(str, layers))}, batch {batch}", n=n)
    rows = _mlp_gradient_rows(engine, native_grad, (params, X, y), rounds, target, fields)
    if native_hvp is not None:
        rows.append(_mlp_hvp_row(engine, native_hvp, (params, v, X, y), rounds, target, fields))
    return rows


def _mlp_gradient_rows(
    engine: Engine, native_grad: Callable, data: tuple, rounds: int, target: float, fields: dict[str, Any]
) -> list[PathRow]:
    """The MLP gradient with each way of naming the backend, and on JAX inside the user's ``jax.jit``."""
    from . import _first_order, _operators

    params, X, y = data
    sync = engine.sync
    backends: list[Backend | str] = [engine.backend] + (["torch"] if engine.name == "torch" else [])
    rows = []
    for bk in backends:
        loss = fresh_copy(mlp_loss)
        ours = functools.partial(_first_order.gradient, loss, backend=bk)
        prepared = _operators.prepare("gradient", loss, params, X, y, backend=bk)
        rows.append(
            _timed_row(
                rounds,
                target,
                lambda: sync(native_grad(params, X, y)),
                functools.partial(lambda g: sync(g(params, X, y)), ours),
                functools.partial(lambda g: sync(g(params, X, y)), prepared),
                path="mlp gradient",
                ours_call=_label(bk),
                **fields,
            )
        )
    if engine.name == "jax":
        import jax

        loss = fresh_copy(mlp_loss)
        inside = jax.jit(lambda p, X, y: _first_order.gradient(loss, p, X, y, backend="jax"))
        rows.append(
            _timed_row(
                rounds,
                target,
                lambda: sync(native_grad(params, X, y)),
                lambda: sync(inside(params, X, y)),
                None,
                path="mlp gradient",
                ours_call="inside the user's jax.jit",
                **fields,
            )
        )
    return rows


def _mlp_hvp_row(
    engine: Engine, native_hvp: Callable, data: tuple, rounds: int, target: float, fields: dict[str, Any]
) -> PathRow:
    """The MLP's Hessian-vector product over its parameters, ours as called and prepared."""
    from . import _operators, _second_order

    params, v, X, y = data
    sync, b = engine.sync, engine.backend
    loss = fresh_copy(mlp_loss)
    prepared = _operators.prepare("hvp", loss, params, v, X, y, backend=b)
    return _timed_row(
        rounds,
        target,
        lambda: sync(native_hvp(params, v, X, y)),
        lambda: sync(_second_order.hvp(loss, params, v, X, y, backend=b)),
        lambda: sync(prepared(params, v, X, y)),
        path="mlp hvp",
        ours_call=_label(b),
        **fields,
    )


def _lazy_rows(engine: Engine, n: int, rounds: int, target: float, seed: int) -> list[PathRow]:
    """``H = ad.lazy_hessian(f, x_np); H @ v_np``: the product alone, and building H and one product."""
    from . import _lazy

    dtype = np.float64 if engine.name == "autograd" else np.float32
    rng = np.random.default_rng(seed)
    x, v = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    f, b = fresh_copy(rosenbrock), engine.backend
    to_engine = engine.to_array if engine.name in ("torch", "tensorflow") else (lambda a: a)
    out = _numpy_out(engine.name)
    native_hvp = engine.native("hvp", fresh_copy(rosenbrock), engine.to_array(x))
    H = _lazy.lazy_hessian(f, x, backend=b)
    note = f"{np.dtype(dtype).name} NumPy"
    fields = dict(engine=engine.name, ours_call=_label(b), problem="rosenbrock", n=n, note=note)
    native = lambda: out(native_hvp(to_engine(x), to_engine(v)))  # noqa: E731
    return [
        _timed_row(rounds, target, native, lambda: H @ v, None, path="lazy H @ v", **fields),
        _timed_row(
            rounds,
            target,
            native,
            lambda: _lazy.lazy_hessian(f, x, backend=b) @ v,
            None,
            path="lazy build + H @ v",
            **fields,
        ),
    ]


def _example(name: str) -> str | None:
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", name)
    return path if os.path.exists(path) else None


def _newton_rows(engines: Sequence[str], n: int) -> list[PathRow]:
    """``examples/newton_cg.py --backend NAME --n N`` in a fresh process each (cold compile caches): its own seconds."""
    import re
    import subprocess
    import sys

    script = _example("newton_cg.py")
    if script is None:
        return []
    rows = []
    for name in engines:
        t = time.perf_counter()
        run = subprocess.run(
            [sys.executable, script, "--backend", name, "--n", str(n)], capture_output=True, text=True, timeout=600
        )
        wall = time.perf_counter() - t
        found = re.search(r"(\d+) Newton steps.*?([\d.]+) s\s*$", run.stdout, re.M)
        if run.returncode != 0 or found is None:
            raise RuntimeError(f"benchmark: newton_cg.py --backend {name} failed:\n{run.stdout}\n{run.stderr[-2000:]}")
        note = f"{found.group(1)} steps; process {wall:.1f} s with imports"
        seconds = float(found.group(2))
        rows.append(PathRow("newton_cg", name, repr(name), "rosenbrock", n, None, seconds, None, "s/run", note))
    return rows


def _child(kind: str, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``_child_main(kind, options)`` in a fresh interpreter; returns the rows it prints as JSON."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, **options.pop("env", {}))
    code = (
        "import json, sys; from abstractad._bench_paths import _child_main; "
        "print(json.dumps(_child_main(*json.loads(sys.argv[1]))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps([kind, options])], capture_output=True, text=True, env=env, timeout=600
    )
    if run.returncode != 0:
        raise RuntimeError(f"benchmark: the {kind} subprocess failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def _child_main(kind: str, options: dict[str, Any]) -> Any:
    if kind == "sharded":
        return _sharded(**options)
    return _memory_growth(**options)


def _sharded(layers: Sequence[int], batch: int, rounds: int, target: float, seed: int) -> list[dict[str, Any]]:
    """In a process with 4 host devices: the MLP's params sharded over a 1-D mesh, ours against native."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from . import _first_order
    from .backends import Jax

    devices = jax.devices()[:4]
    mesh = Mesh(np.array(devices), ("d",))

    def spec(a: np.ndarray) -> PartitionSpec:  # shard the last axis where it divides, else replicate
        return PartitionSpec(*([None] * (a.ndim - 1) + ["d"])) if a.shape[-1] % len(devices) == 0 else PartitionSpec()

    p_np, _, X, y = mlp_numpy(layers, batch, seed)
    params = {k: jax.device_put(a, NamedSharding(mesh, spec(a))) for k, a in p_np.items()}
    X, y = (jax.device_put(a, NamedSharding(mesh, PartitionSpec())) for a in (X, y))
    n = sum(a.size for a in p_np.values())
    native = jax.jit(jax.grad(fresh_copy(mlp_loss)))

    def kept(out: dict) -> str:  # leaves whose sharding equals the input's, and those merely equivalent
        equal = sum(out[k].sharding == params[k].sharding for k in params)
        alike = sum(out[k].sharding.is_equivalent_to(params[k].sharding, params[k].ndim) for k in params)
        return f"{equal}/{len(params)} (equivalent {alike})"

    rows = []
    for b in (Jax(compile=True), Jax()):
        ours = functools.partial(
            lambda g: jax.block_until_ready(g(params, X, y)),
            functools.partial(_first_order.gradient, fresh_copy(mlp_loss), backend=b),
        )
        row = _timed_row(
            rounds,
            target,
            lambda: jax.block_until_ready(native(params, X, y)),
            ours,
            None,
            path="sharded gradient",
            engine="jax",
            ours_call=_label(b),
            problem=f"MLP {'-'.join(map(str, layers))} over {len(devices)} devices",
            n=n,
        )
        g, g_native = ours(), native(params, X, y)
        sharded = sum(not params[k].sharding.is_fully_replicated for k in params)
        row.note = f"sharding kept {kept(g)}, native {kept(g_native)}; {sharded} leaves sharded in"
        rows.append(dataclasses.asdict(row))
    return rows


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"no {field} in /proc/self/status")


def _memory_growth(engine: str, who: str, layers: Sequence[int], batch: int, calls: int, seed: int) -> float:
    """MB that `calls` MLP gradients add to the resident set's high-water mark, once warm (Linux)."""
    import gc

    from . import _operators

    eng = ENGINE_FACTORIES[engine]()
    params, _, X, y = (
        _tree_map(eng.to_array, t) if isinstance(t, dict) else eng.to_array(t) for t in mlp_numpy(layers, batch, seed)
    )
    if who == "native":
        grad = mlp_natives(engine, mlp_loss)[0]
        fn = lambda: eng.sync(grad(params, X, y))  # noqa: E731
    else:
        prepared = _operators.prepare("gradient", mlp_loss, params, X, y, backend=eng.backend)
        fn = lambda: eng.sync(prepared(params, X, y))  # noqa: E731
    for _ in range(3):
        fn()
    gc.collect()
    time.sleep(0.1)  # the last warm-up result's buffers are gone (see _settle)
    baseline = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark to the current resident set
        fh.write("5")
    for _ in range(calls):  # each result is dropped, and its memory returned, before the next call
        fn()
        _settle(baseline)
    return _rss_mb("VmHWM") - baseline


def _settle(baseline: float, timeout: float = 0.2) -> None:
    """Wait (at most `timeout` s) until the resident set is back within 0.5 MB of `baseline`. JAX's CPU
    runtime returns a dropped result's buffers on its own thread a moment later: without the wait, the
    next call's result sometimes lands on top of the last one, and the high-water mark counts two
    results (one run in two or three, ours and native alike: 8 MB instead of 4 on the default MLP)."""
    deadline = time.perf_counter() + timeout
    while _rss_mb("VmRSS") > baseline + 0.5 and time.perf_counter() < deadline:
        time.sleep(0.001)


def _memory_rows(engines: Sequence[str], layers: Sequence[int], batch: int, seed: int) -> list[PathRow]:
    """Peak memory of the MLP gradient, ours (prepared) against native: XLA's own accounting, and the resident set."""
    import sys

    rows = []
    n = sum(a * b + b for a, b in itertools.pairwise(layers))
    param_mb = 4 * n / 2**20
    problem = f"MLP {'-'.join(map(str, layers))}, batch {batch}"
    if "jax" in engines:
        import jax

        from . import _first_order

        params, _, X, y = mlp_numpy(layers, batch, seed)
        loss = fresh_copy(mlp_loss)
        grads = (jax.grad(fresh_copy(mlp_loss)), lambda p, X, y: _first_order.gradient(loss, p, X, y, backend="jax"))
        stats = [jax.jit(fn).lower(params, X, y).compile().memory_analysis() for fn in grads]
        if all(s is not None for s in stats):
            native, ours = ((s.temp_size_in_bytes + s.output_size_in_bytes) / 2**20 for s in stats)
            note = f"XLA temp + output; params {param_mb:.2f} MB"
            call = "inside the user's jax.jit"
            rows.append(PathRow("peak memory", "jax", call, problem, n, native, ours, None, "MB", note))
    if not sys.platform.startswith("linux"):
        return rows
    # glibc: a fixed mmap threshold returns every large buffer to the system when freed, so the
    # high-water mark of the resident set sees each call's own allocations rather than reused heap.
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}
    for engine in (e for e in ("jax", "torch") if e in engines):
        options = dict(engine=engine, layers=list(layers), batch=batch, calls=20, seed=seed)
        native, ours = (_child("memory", dict(options, who=who, env=env)) for who in ("native", "ours"))
        call = "Jax(compile=True) prepared" if engine == "jax" else "Torch() prepared"
        note = f"peak RSS growth per warm call, fresh process; params {param_mb:.2f} MB"
        native, ours = max(native, 1e-3), max(ours, 1e-3)  # a ratio even where nothing grew
        rows.append(PathRow("peak memory", engine, call, problem, n, native, ours, None, "MB", note))
    return rows


def paths_benchmark(
    paths: Sequence[str],
    engines: Sequence[str],
    sizes: Sequence[int],
    layers: Sequence[int],
    batch: int,
    newton_n: int,
    rounds: int,
    target: float,
    seed: int,
    progress: Callable[[str], None] | None,
) -> PathsReport:
    rows: list[PathRow] = []

    def step(label: str) -> None:
        if progress is not None:
            progress(label)

    for name in engines:
        engine = None
        for path in ("numpy", "mlp", "lazy"):
            if path not in paths:
                continue
            engine = engine or ENGINE_FACTORIES[name]()
            step(f"{name} {path}")
            if path == "numpy":
                rows += _numpy_rows(engine, sizes, rounds, target, seed)
            elif path == "mlp":
                rows += _mlp_rows(engine, layers, batch, rounds, target, seed)
            else:
                rows += _lazy_rows(engine, int(min(sizes)), rounds, target, seed)
    if "newton_cg" in paths:
        step("newton_cg")
        rows += _newton_rows(engines, newton_n)
    if "sharded" in paths and "jax" in engines:
        step("sharded")
        flags = (__import__("os").environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
        env = {"XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
        options = dict(layers=list(layers), batch=batch, rounds=rounds, target=target, seed=seed, env=env)
        rows += [PathRow(**r) for r in _child("sharded", options)]
    if "memory" in paths:
        step("memory")
        rows += _memory_rows(engines, layers, batch, seed)
    return PathsReport(rows)


def count_paths(paths: Sequence[str], engines: Sequence[str]) -> int:
    """Progress steps of ``benchmark(paths=...)``."""
    per_engine = sum(p in paths for p in ("numpy", "mlp", "lazy")) * len(engines)
    sharded = "sharded" in paths and "jax" in engines  # the sharded step runs on JAX only
    return per_engine + sum(p in paths for p in ("newton_cg", "memory")) + sharded
