"""ad.check, the testing kit, the pytest plugin and the command line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

import abstractad as ad
from abstractad.testing import assert_backend_correct


class Wrong(ad.Backend):
    """A backend with a 1% error in its pushforward: every check must catch it."""

    name = "wrong"

    def pushforward(self, f, x, v):
        y, t = ad.backends.FiniteDiff().pushforward(f, x, v)
        return y, 1.01 * t


def f(x):
    xp = ad.array_namespace(x)
    return xp.sum(xp.exp(x) * x)


def test_check_passes_on_correct_backends() -> None:
    report = ad.check(f, np.linspace(0.0, 1.0, 4))
    assert report.ok, str(report)
    report.raise_for_failure()
    ops = {r.operator for r in report.rows}
    assert ops == {"gradient", "jacobian", "hessian", "hvp", "jvp", "vjp"}
    assert {r.backend for r in report.rows} == set(ad.installed_backends())
    fd = [r for r in report.rows if r.backend == "finitediff"]
    assert all(r.reference != "finitediff" for r in fd)
    assert all(r.seconds is not None and r.seconds >= 0 for r in report.rows)


AD = next((b for b in ad.installed_backends() if b != "finitediff"), None)
needs_ad = pytest.mark.skipif(AD is None, reason="needs an AD engine")


@needs_ad
def test_check_catches_a_wrong_backend() -> None:
    report = ad.check(f, np.linspace(0.0, 1.0, 4), backends=["finitediff", AD, Wrong()])
    assert not report.ok
    assert {r.operator for r in report.failures} >= {"gradient", "jacobian", "jvp"}
    assert {r.backend for r in report.failures} == {"wrong"}  # finite differences are not blamed
    assert report.culprits == ["wrong"] and report.undecided == {}
    assert all(ref == AD for ref in report.references.values())
    assert report.verdict.startswith("DISAGREEMENT: culprit wrong: disagrees with the consensus of")
    with pytest.raises(AssertionError, match="backends disagree") as info:
        report.raise_for_failure()
    assert "FAIL" in str(info.value) and "culprit wrong" in str(info.value)


def test_check_with_an_analytic_reference_names_the_culprit_of_two() -> None:
    x = np.linspace(0.0, 1.0, 4)
    want = {"gradient": np.exp(x) * (1 + x)}
    report = ad.check(f, x, backends=["finitediff", Wrong()], operators=("gradient",), reference=want)
    assert report.culprits == ["wrong"]
    fd, wrong = report.rows
    assert fd.ok and fd.status == "ok" and fd.reference == "analytic"
    assert not wrong.ok and wrong.status == "fail" and wrong.max_rel == pytest.approx(0.01, rel=1e-4)
    assert "disagrees with the analytic answer" in report.verdict


def test_check_two_backends_that_disagree_is_a_tie() -> None:
    report = ad.check(f, np.linspace(0.0, 1.0, 4), backends=["finitediff", Wrong()], operators=("gradient", "jvp"))
    assert not report.ok and report.culprits == []
    assert report.undecided == {"gradient": ["finitediff", "wrong"], "jvp": ["finitediff", "wrong"]}
    assert report.references == {"gradient": "", "jvp": ""}
    assert all(r.status == "undecided" and not r.ok and r.max_rel > 5e-3 for r in report.rows)
    assert "no culprit can be named" in report.verdict and "culprit wrong" not in report.verdict
    assert "DISAGREE" in str(report)


@pytest.mark.skipif(importlib.util.find_spec("autograd") is None, reason="needs autograd")
def test_two_instances_of_one_engine_are_one_witness() -> None:
    backends = ["autograd", ad.backends.Autograd(), Wrong()]
    report = ad.check(f, np.linspace(0.0, 1.0, 4), backends=backends, operators=("gradient",))
    assert [r.backend for r in report.rows] == ["autograd #1", "autograd #2", "wrong"]
    assert report.culprits == [] and report.undecided == {"gradient": ["autograd #1", "autograd #2", "wrong"]}
    report = ad.check(f, np.linspace(0.0, 1.0, 4), backends=[*backends, "finitediff"], operators=("gradient",))
    assert report.culprits == ["wrong"] and report.references["gradient"] == "autograd #1"


def test_rows_are_labelled_by_name() -> None:
    class Unnamed(ad.Backend):
        def pushforward(self, f, x, v):
            return ad.backends.FiniteDiff().pushforward(f, x, v)

    report = ad.check(f, np.ones(3), backends=["fd", Unnamed(), Wrong()], operators=("jvp",))
    assert [r.backend for r in report.rows] == ["finitediff", "Unnamed", "wrong"]
    assert report.culprits == ["wrong"] and report.rows[0].ok and report.rows[1].ok
    if importlib.util.find_spec("jax") is not None:
        report = ad.check(f, np.ones(3), backends=["jax", ad.backends.Jax(compile=True)], operators=("gradient",))
        assert [r.backend for r in report.rows] == ["jax", "jax (compile=True)"] and report.ok


def test_check_rtol_and_atol() -> None:
    x = np.linspace(0.0, 1.0, 4)
    assert ad.check(f, x, backends=["finitediff", "fd", Wrong()], operators=("gradient",), rtol=0.05).ok
    report = ad.check(f, x, backends=["finitediff", Wrong()], operators=("gradient",), rtol=0.0, atol=1e-3)
    assert not report.ok and all(r.tolerance == 0.0 for r in report.rows)


def test_check_with_analytic_reference_and_skips() -> None:
    x = np.array([0.5, 1.0])
    want = np.exp(x) * (1 + x)
    report = ad.check(f, x, backends=["finitediff"], operators=("gradient", "derivative"), reference={"gradient": want})
    assert report.ok
    grad = next(r for r in report.rows if r.operator == "gradient")
    assert grad.reference == "analytic" and grad.max_rel < 1e-6
    deriv = next(r for r in report.rows if r.operator == "derivative")
    assert deriv.skipped and "not a scalar" in deriv.note
    bad = ad.check(f, x, backends=["finitediff"], operators=("gradient",), reference={"gradient": want * 1.1})
    assert not bad.ok


def test_report_formats() -> None:
    report = ad.check(f, np.ones(2), backends=["finitediff"], operators=("gradient",))
    d = report.to_dict()
    json.dumps(d)
    assert d["ok"] and d["rows"][0]["operator"] == "gradient"
    assert "<table>" in report._repr_html_()
    assert "finitediff" in str(report)
    pytest.importorskip("rich")
    assert report.rich_table().row_count == 1


def test_check_rejects_unknown_operator() -> None:
    with pytest.raises(ValueError, match="unknown operators"):
        ad.check(f, np.ones(2), operators=("gradiant",))


def test_conformance_kit(ad_backend: str) -> None:
    assert_backend_correct(ad_backend)


def test_conformance_kit_catches_a_wrong_backend() -> None:
    with pytest.raises(AssertionError, match=r"failed .* checks"):
        assert_backend_correct(Wrong(), second_order=False, dtypes=(np.float64,))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "abstractad", *args], capture_output=True, text=True)


def test_cli_backends() -> None:
    out = _cli("backends")
    assert out.returncode == 0, out.stderr
    for name in ad.installed_backends():
        assert name in out.stdout


def test_cli_check_scenarios() -> None:
    out = _cli("check", "-q", "--backends", "autograd,finitediff")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all backends agree" in out.stdout


def test_cli_check_target(tmp_path) -> None:
    (tmp_path / "mymod.py").write_text(
        "import abstractad as ad\ndef good(x):\n    return ad.array_namespace(x).sum(x ** 3)\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "abstractad",
            "check",
            "mymod:good",
            "--shape",
            "3",
            "--backends",
            "finitediff,autograd",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all backends agree" in out.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "nocolon"], "MODULE:FUNCTION"),
        (["check", "no_such_module_xyz:f"], "cannot import"),
        (["check", "numpy:no_such_fn"], "has no attribute"),
        (["check", "--backends", "nope"], "unknown backends"),
        (["check", "numpy:sin", "--shape", "a,b"], "--shape"),
    ],
)
def test_cli_bad_usage_is_one_line(argv: list[str], message: str) -> None:
    out = _cli(*argv)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
