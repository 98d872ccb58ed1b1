"""ad.prepare, the plans kept for unprepared calls, bounded and thread-safe caches, and the
benchmark harness (its results, not its speed: speed is measured in benchmarks, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from _support import BACKENDS, assert_close, installed, tolerance

import abstractad as ad
from abstractad import _backend, _operators
from abstractad.testing import SCENARIOS

SECOND_ORDER = ("hessian", "hvp")


def _cases(s):
    """(operator, extra arguments before the constants, reference) for a scenario."""
    v, w = s.seeds()
    out = [("jvp", (v,), s.jvp(v)), ("vjp", (w,), s.vjp(w)), ("jacobian", (), s.jacobian)]
    if s.scalar_out and not s.scalar_in:
        out += [("gradient", (), s.gradient), ("hessian", (), s.hessian), ("hvp", (v,), s.hvp(v))]
    return out


@pytest.mark.parametrize("name", ["affine_tanh", "rosenbrock", "matrix_quadratic"])
def test_prepared_operators_match_analytic_answers_at_new_points(backend_id: str, name: str) -> None:
    base = SCENARIOS[name]
    b = BACKENDS[backend_id]()
    rng = np.random.default_rng(3)
    for operator, seeds, want in _cases(base):
        if backend_id == "complex-step" and operator in SECOND_ORDER:
            continue
        prepared = ad.prepare(operator, base.f, base.x, *seeds, *base.args, backend=b)
        tol = tolerance(backend_id, np.float64, 2 if operator in SECOND_ORDER else 1)
        assert_close(prepared(base.x, *seeds, *base.args), want, tol)
        # A new point of the same shape: the prepared operator is not stuck on the first one.
        x2 = base.x + 0.1 * rng.standard_normal(np.shape(base.x))
        got = prepared(x2, *seeds, *base.args)
        fresh = getattr(ad, operator)(base.f, x2, *seeds, *base.args, backend=b)
        assert_close(got, fresh, tol)


def test_prepare_takes_the_operator_function_and_value_and_variants() -> None:
    s = SCENARIOS["rosenbrock"]
    g = ad.prepare(ad.gradient, s.f, s.x, backend="autograd")
    assert_close(g(s.x), s.gradient, 1e-12)
    value, grad = ad.prepare("value_and_gradient", s.f, s.x, backend="autograd")(s.x)
    assert_close(value, s.value, 1e-12)
    assert_close(grad, s.gradient, 1e-12)
    value, grad, hess = ad.prepare("value_gradient_and_hessian", s.f, s.x, backend="autograd")(s.x)
    assert_close(hess, s.hessian, 1e-10)
    assert "gradient" in repr(g) and "Autograd" in repr(g)


def test_prepared_calls_check_shapes_dtypes_and_constants() -> None:
    s = SCENARIOS["affine_tanh"]
    a, b = s.args
    v, _ = s.seeds()
    jvp = ad.prepare("jvp", s.f, s.x, v, a, b, backend="autograd")
    with pytest.raises(ValueError, match=r"x was prepared as ndarray of shape \(3,\)"):
        jvp(np.zeros(4), np.zeros(4), a, b)
    with pytest.raises(TypeError, match="dtype float32"):
        jvp(s.x.astype(np.float32), v, a, b)
    with pytest.raises(ValueError, match="tangent v"):
        jvp(s.x, np.zeros(5), a, b)
    with pytest.raises(ValueError, match="constant 1"):
        jvp(s.x, v, np.zeros((3, 3)), b)
    with pytest.raises(TypeError, match="takes 4 arguments"):
        jvp(s.x, v, a)
    with pytest.raises(TypeError, match="the seed"):
        ad.prepare("jvp", s.f, s.x, backend="autograd")
    with pytest.raises(ValueError, match="unknown operator"):
        ad.prepare("gradinet", s.f, s.x)
    with pytest.raises(TypeError, match="callable"):
        ad.prepare("gradient", None, s.x)

    def scaled(x, k):
        return k * (x**2).sum()

    g = ad.prepare("gradient", scaled, s.x, 2.0, backend="autograd")
    assert_close(g(s.x, 2.0), 4 * s.x, 1e-12)
    with pytest.raises(ValueError, match=r"constant 1 was prepared as 2\.0"):
        g(s.x, 3.0)  # a non-array constant is part of what was prepared


# A NumPy array as each engine's own (imported when used: the engine may not be installed).
_ENGINE_ARRAY = {
    "torch": lambda a: __import__("torch").tensor(a),
    "jax": lambda a: __import__("jax.numpy").numpy.asarray(a),
    "tensorflow": lambda a: __import__("tensorflow").constant(a),
}


@pytest.mark.parametrize("engine", ["torch", "jax", "tensorflow"])
def test_prepared_fast_path_on_engine_arrays(engine: str) -> None:
    """Engine arrays in: after the first call, matching calls go straight to the operator, and still
    give the right values at new points; a mismatch still gets the clear error."""
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    to = _ENGINE_ARRAY[engine]
    s = SCENARIOS["rosenbrock"].astype(np.float32)
    for name in (engine, f"{engine}-compiled"):
        g = ad.prepare("gradient", s.f, to(s.x), backend=BACKENDS[name]())
        n = s.x.size
        hvp = ad.prepare("hvp", s.f, to(s.x), to(np.ones(n, np.float32)), backend=BACKENDS[name]())
        rng = np.random.default_rng(0)
        for i in range(3):
            x = (s.x + 0.1 * i * rng.standard_normal(n)).astype(np.float32)
            want = SCENARIOS["rosenbrock"].f(x.astype(np.float64))  # value check through the gradient below
            got = g(to(x))
            assert ad._arrays.library_of(got) == engine
            ref = ad.gradient(s.f, x.astype(np.float64), backend="autograd")
            assert_close(np.asarray(got), ref, 2e-4)
            ref_h = ad.hvp(s.f, x.astype(np.float64), np.ones(n), backend="autograd")
            assert_close(np.asarray(hvp(to(x), to(np.ones(n, np.float32)))), ref_h, 2e-4)
            assert np.isfinite(want)
        assert g._fast is not None and hvp._fast is not None  # the direct path is in use
        with pytest.raises(ValueError, match="shape"):
            g(to(np.zeros(n + 1, np.float32)))


def _tree_loss(p, X, k):
    """k · Σ tanh(X W + b)²: a parameter dict, an array constant and a float constant."""
    xp = ad.array_namespace(X)
    return k * xp.sum(xp.tanh(X @ p["W"] + p["b"]) ** 2)


def _tree_gradient(p, X, k):
    """The analytic gradient of _tree_loss (NumPy)."""
    h = np.tanh(X @ p["W"] + p["b"])
    g = 2 * k * h * (1 - h**2)
    return {"W": X.T @ g, "b": g.sum(0)}


@pytest.mark.parametrize("engine", ["torch", "jax", "tensorflow"])
def test_prepared_fast_path_on_parameter_pytrees(engine: str) -> None:
    """A dict of engine arrays with array and float constants (a model's parameters): after the first
    call, matching calls flatten once and go straight to the operator, leaf by leaf; results keep the
    structure and the engine's arrays; a changed structure, shape or constant still gets the clear error."""
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    to = _ENGINE_ARRAY[engine]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 3))
    v = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    for name in (engine, f"{engine}-compiled"):
        b = BACKENDS[name]()
        p0 = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
        tree = {k: to(a) for k, a in p0.items()}
        g = ad.prepare("gradient", _tree_loss, tree, to(X), 0.5, backend=b)
        vg = ad.prepare("value_and_gradient", _tree_loss, tree, to(X), 0.5, backend=b)
        hvp = ad.prepare("hvp", _tree_loss, tree, {k: to(a) for k, a in v.items()}, to(X), 0.5, backend=b)
        for i in range(3):
            p = {k: a + 0.1 * i for k, a in p0.items()}
            got = g({k: to(a) for k, a in p.items()}, to(X), 0.5)
            assert sorted(got) == ["W", "b"] and ad._arrays.library_of(got["W"]) == engine
            tol = 1e-10 if np.asarray(got["W"]).dtype == np.float64 else 1e-4  # JAX: float32 without x64
            want = _tree_gradient(p, X, 0.5)
            for k in want:
                assert_close(np.asarray(got[k]), want[k], tol)
            value, grad = vg({k: to(a) for k, a in p.items()}, to(X), 0.5)
            assert_close(np.asarray(value), 0.5 * np.sum(np.tanh(X @ p["W"] + p["b"]) ** 2), tol)
            assert_close(np.asarray(grad["b"]), want["b"], tol)
            # The Hessian-vector product against central differences of the analytic gradient.
            eps = 1e-6
            up, down = ({k: p[k] + s * eps * v[k] for k in p} for s in (1, -1))
            fd = {k: (_tree_gradient(up, X, 0.5)[k] - _tree_gradient(down, X, 0.5)[k]) / (2 * eps) for k in p}
            got_h = hvp({k: to(a) for k, a in p.items()}, {k: to(a) for k, a in v.items()}, to(X), 0.5)
            for k in fd:
                assert_close(np.asarray(got_h[k]), fd[k], max(tol, 1e-6))
        assert g._fast is not None and hvp._fast is not None  # the direct path is in use
        with pytest.raises(ValueError, match=r"constant 2 was prepared as 0\.5"):
            g(tree, to(X), 2.0)
        with pytest.raises(ValueError, match="pytree"):
            g({"W": to(np.zeros((3, 3))), "b": tree["b"]}, to(X), 0.5)
        with pytest.raises(TypeError, match="pytree"):
            g({"W": tree["W"]}, to(X), 0.5)
        # The checks do not stop at the first call: a wrong leaf later still falls back to them.
        assert_close(np.asarray(g(tree, to(X), 0.5)["W"]), _tree_gradient(p0, X, 0.5)["W"], tol)


def test_prepared_parameter_pytree_that_requires_grad_stays_in_the_graph() -> None:
    """torch leaves that require grad skip the direct path (it takes plain tensors only): the gradient is
    recorded, and backward() through it gives the mixed second derivative, as a plain call's would."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    X = torch.tensor(rng.standard_normal((4, 3)))
    tree = {"W": torch.tensor(rng.standard_normal((3, 2))), "b": torch.tensor(rng.standard_normal(2))}
    g = ad.prepare("gradient", _tree_loss, tree, X, 1.0, backend="torch")
    g(tree, X, 1.0)
    g(tree, X, 1.0)  # the direct path is learned for plain tensors
    assert g._fast is not None
    live = {k: a.clone().requires_grad_(True) for k, a in tree.items()}
    got = g(live, X, 1.0)
    assert got["b"].requires_grad
    got["b"].sum().backward()
    ref = {k: a.clone().requires_grad_(True) for k, a in tree.items()}
    (gb,) = torch.autograd.grad(_tree_loss(ref, X, 1.0), [ref["b"]], create_graph=True)
    gb.sum().backward()
    for k in tree:
        assert_close(live[k].grad.numpy(), ref[k].grad.numpy(), 1e-12)
    assert not any(a.requires_grad for a in tree.values())  # nothing of the user's changed


@pytest.mark.parametrize("engine", ["torch", "jax"])
def test_unprepared_pytree_calls_take_the_direct_path(engine: str) -> None:
    """Repeated unprepared calls with a parameter dict find their plan by its key, then flatten once
    and call the operator: the plan has learned a direct call, and values stay right at new points."""
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    to = _ENGINE_ARRAY[engine]
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 3))
    for _ in range(3):
        p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
        got = ad.gradient(_tree_loss, {k: to(a) for k, a in p.items()}, to(X), 0.25, backend=engine)
        want = _tree_gradient(p, X, 0.25)
        for k in want:
            assert_close(np.asarray(got[k]), want[k], 1e-10 if np.asarray(got[k]).dtype == np.float64 else 1e-4)
    plans = [plan for key, plan in list(_operators.PLANS._data.items()) if key[:2] == ("gradient", _tree_loss)]
    assert plans and all(plan.fast for plan in plans)


def test_prepared_pytrees() -> None:
    x = {"a": np.array([1.0, 2.0]), "b": [np.array(3.0)]}

    def f(p):
        return (p["a"] ** 2).sum() * p["b"][0]

    g = ad.prepare("gradient", f, x, backend="autograd")
    got = g({"a": np.array([2.0, 1.0]), "b": [np.array(2.0)]})
    assert_close(got["a"], [8.0, 4.0], 1e-12)
    assert_close(got["b"][0], 5.0, 1e-12)
    with pytest.raises(ValueError, match="pytree"):
        g({"a": np.array([2.0, 1.0, 0.0]), "b": [np.array(2.0)]})
    with pytest.raises(TypeError):
        g({"a": np.array([2.0, 1.0])})


# ------------------------------------------------------------------- plans for unprepared calls


def test_repeated_calls_reuse_one_plan_and_fresh_closures_stay_bounded(monkeypatch) -> None:
    monkeypatch.setattr(_operators, "PLANS", _backend.LRUCache(8))
    plans = _operators.PLANS
    x = np.array([1.0, 2.0])

    def f(z):
        return (z**3).sum()

    for _ in range(5):
        assert_close(ad.gradient(f, x, backend="autograd"), 3 * x**2, 1e-12)
    assert len(plans) == 1
    ad.gradient(f, np.ones(3), backend="autograd")  # a new shape: a new plan
    assert len(plans) == 2
    for k in range(50):  # fresh closures in a loop: the cache stays bounded

        def g(z, k=k):
            return k * (z**2).sum()

        assert_close(ad.gradient(g, x, backend="autograd"), 2 * k * x, 1e-12)
    assert len(plans) == 8


def test_compiled_cache_is_bounded(monkeypatch) -> None:
    pytest.importorskip("jax")
    monkeypatch.setattr(_backend, "COMPILED", _backend.LRUCache(4))
    monkeypatch.setattr(_operators, "PLANS", _backend.LRUCache(4))
    import abstractad._call as call

    monkeypatch.setattr(call, "COMPILED", _backend.COMPILED)
    x = np.array([1.0, 2.0])
    for k in range(12):

        def g(z, k=k):
            xp = ad.array_namespace(z)
            return k * xp.sum(z**2)

        assert_close(ad.gradient(g, x, backend=ad.backends.Jax(compile=True)), 2 * k * x, 1e-12)
    assert len(_backend.COMPILED) == 4


@pytest.mark.parametrize("backend_name", ["torch", "jax"])
def test_eager_semantics_survive_the_plan_cache(backend_name: str) -> None:
    """Eager backends read a closed-over array at every call, also when the plan is reused."""
    if not installed(backend_name):
        pytest.skip(f"{backend_name} is not installed")
    scale = np.array([1.0])

    def f(z):
        xp = ad.array_namespace(z)
        return xp.sum(z**2) * float(scale[0])

    x = np.array([1.0, 2.0])
    assert_close(ad.gradient(f, x, backend=backend_name), 2 * x, 1e-12)
    scale[0] = 3.0
    assert_close(ad.gradient(f, x, backend=backend_name), 6 * x, 1e-12)


@pytest.mark.parametrize("engine", ["autograd", "jax", "torch", "tensorflow"])
def test_threads_get_the_serial_results(engine: str) -> None:
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    s = SCENARIOS["rosenbrock"]
    rng = np.random.default_rng(0)
    points = [s.x + 0.1 * rng.standard_normal(s.x.size) for _ in range(16)]
    backends = [BACKENDS[engine]()] + ([BACKENDS[f"{engine}-compiled"]()] if f"{engine}-compiled" in BACKENDS else [])
    for b in backends:
        prepared = ad.prepare("hvp", s.f, s.x, np.ones(s.x.size), backend=b)
        serial = [(ad.gradient(s.f, p, backend=b), prepared(p, np.ones(s.x.size))) for p in points]
        results: dict[int, tuple] = {}
        errors: list[BaseException] = []

        threads = [threading.Thread(target=_work, args=(i, s, b, prepared, points, results, errors)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for j, (g, h) in enumerate(serial):
            assert_close(results[j][0], g, 1e-12)
            assert_close(results[j][1], h, 1e-12)


def _work(i, s, b, prepared, points, results, errors) -> None:
    try:
        for j in range(i, len(points), 8):
            results[j] = (ad.gradient(s.f, points[j], backend=b), prepared(points[j], np.ones(s.x.size)))
    except BaseException as e:  # handed to the main thread
        errors.append(e)


# ---------------------------------------------------------------------------- benchmark harness


def test_benchmark_rows_and_report(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    engines = [e for e in ("autograd", "jax") if installed(e)]
    report = ad.benchmark(
        operators=["gradient", "jvp", "hessian"],
        engines=engines,
        sizes=[8, 2000],
        max_dense=100,
        rounds=2,
        target=0.001,
    )
    ops = {(r.operator, r.engine, r.problem, r.n) for r in report.rows}
    for e in engines:
        assert ("gradient", e, "sum_sin", 2000) in ops and ("jvp", e, "chain", 8) in ops
        assert ("hessian", e, "rosenbrock", 8) in ops and ("hessian", e, "rosenbrock", 2000) not in ops  # dense cap
    for r in report.rows:
        assert r.native > 0 and r.ours > 0 and r.prepared > 0 and r.first_call > 0
        assert r.f_calls >= 0 and r.peak_mb >= 0
        if r.operator == "gradient":
            assert r.grad_over_f is not None and r.grad_over_f > 0
    assert "ours/native" in report.table()
    report.to_json(str(tmp_path / "bench.json"))
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert len(rows) == len(report.rows) and {"ratio", "prepared_ratio", "grad_over_f"} <= set(rows[0])
    report.plot(str(tmp_path / "bench.png"))
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="unknown operators"):
        ad.benchmark(operators=["gradinet"])


def test_bench_command_line(tmp_path) -> None:
    if not installed("autograd"):
        pytest.skip("autograd is not installed")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "abstractad",
            "bench",
            "--backends",
            "autograd",
            "--operators",
            "gradient,vjp",
            "--sizes",
            "16",
            "--rounds",
            "2",
            "--target",
            "0.001",
            "--function",
            "abstractad._bench:rosenbrock",
            "--json",
            str(tmp_path / "b.json"),
            "--plot",
            str(tmp_path / "b.png"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "b.json").read_text())
    assert {(r["operator"], r["problem"]) for r in rows} == {
        ("gradient", "abstractad._bench:rosenbrock"),
        ("vjp", "abstractad._bench:rosenbrock"),
    }
    assert (tmp_path / "b.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "abstractad", "bench", "--backends", "finitediff"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "native" in bad.stderr + bad.stdout
