"""The paths benchmark (``ad.benchmark(paths=True)``, ``abstractad bench --paths``): its report's
structure at tiny sizes, one round, on the installed engines. Speed is measured, never asserted."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import abstractad as ad
from abstractad import _bench_engines, _bench_paths, _bench_report

ENGINES = [e for e in _bench_engines.ENGINES if e in ad.installed_backends()]
TINY = dict(sizes=[16], layers=(8, 16, 8, 4), batch=4, newton_n=4, rounds=1, target=0.001)


def _check_rows(rows) -> None:
    for r in rows:
        assert r.ours > 0 and math.isfinite(r.ours), r
        for ratio in (r.ratio, r.prepared_ratio):
            assert ratio is None or (ratio > 0 and math.isfinite(ratio)), r
        if r.path != "newton_cg":  # the one path without a native counterpart: its seconds are the result
            assert r.ratio is not None, r


@pytest.mark.skipif(not ENGINES, reason="no AD engine installed")
def test_paths_report(tmp_path) -> None:
    report = ad.benchmark(paths=["numpy", "mlp", "lazy", "sharded", "memory"], engines=ENGINES, **TINY)
    assert isinstance(report, _bench_report.PathsReport)
    found = {(r.path, r.engine) for r in report.rows}
    for e in ENGINES:
        assert {("numpy gradient", e), ("mlp gradient", e), ("lazy H @ v", e), ("lazy build + H @ v", e)} <= found
        if e != "autograd":
            assert ("mlp hvp", e) in found
    problems = {(r.engine, r.problem, r.ours_call) for r in report.rows if r.path == "numpy gradient"}
    assert len(problems) == sum(2 if e == "torch" else 1 for e in ENGINES) * 2  # sum_sin, rosenbrock; "torch", Torch()
    if "jax" in ENGINES:
        calls = {r.ours_call for r in report.rows if r.engine == "jax"}
        assert {"Jax(compile=True)", "inside the user's jax.jit", "Jax()"} <= calls
        sharded = [r for r in report.rows if r.path == "sharded gradient"]
        assert len(sharded) == 2 and all("sharding kept" in r.note for r in sharded)
    if sys.platform.startswith("linux"):
        assert {r.engine for r in report.rows if r.path == "peak memory"} == {"jax", "torch"} & set(ENGINES)
    _check_rows(report.rows)
    assert "ours/native" in report.table()
    report.to_json(str(tmp_path / "paths.json"))
    rows = json.loads((tmp_path / "paths.json").read_text())
    assert len(rows) == len(report.rows) and {"path", "engine", "unit", "ratio", "prepared_ratio"} <= set(rows[0])
    if importlib.util.find_spec("matplotlib") is not None:
        report.plot(str(tmp_path / "paths.png"))
        assert (tmp_path / "paths.png").read_bytes()[:4] == b"\x89PNG"


def test_newton_cg_path() -> None:
    engine = "autograd" if "autograd" in ENGINES else (ENGINES or [None])[0]
    if engine is None or _bench_paths._example("newton_cg.py") is None:
        pytest.skip("needs an engine and the examples folder")
    (row,) = ad.benchmark(paths=["newton_cg"], engines=[engine], **TINY).rows
    assert row.path == "newton_cg" and row.unit == "s/run" and row.native is None
    _check_rows([row])


def test_paths_unknown() -> None:
    with pytest.raises(ValueError, match="unknown paths"):
        ad.benchmark(paths=["numpi"])


def test_engines_unknown() -> None:
    with pytest.raises(ValueError, match="unknown engines"):
        ad.benchmark(engines=["jacks"])


def test_bench_paths_command_line(tmp_path) -> None:
    if "autograd" not in ENGINES:
        pytest.skip("autograd is not installed")
    base = [sys.executable, "-m", "abstractad", "bench", "--backends", "autograd", "--rounds", "1", "-q"]
    out = subprocess.run(
        [*base, "--paths", "numpy,lazy", "--sizes", "8", "--target", "0.001", "--json", str(tmp_path / "p.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "p.json").read_text())
    assert {r["path"] for r in rows} == {"numpy gradient", "lazy H @ v", "lazy build + H @ v"}
    assert all(r["ratio"] > 0 for r in rows)
    bad = subprocess.run([*base, "--paths", "numpi"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown paths" in bad.stderr


ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_scripts_named_in_the_docs_exist() -> None:
    texts = [p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    named = {m for text in texts for m in re.findall(r"python (\S+\.py)", text)}
    assert any(name.startswith("examples/benchmarks/") for name in named)
    assert [name for name in named if not (ROOT / name).is_file()] == []


def test_coloring_benchmark_script_runs_at_its_smallest_size() -> None:
    script = ROOT / "examples" / "benchmarks" / "bench_coloring.py"
    out = subprocess.run(
        [sys.executable, str(script), "--sizes", "100", "--rounds", "1", "--markdown"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "| tridiagonal | 100 |" in out.stdout
