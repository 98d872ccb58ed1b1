"""ad.check, the testing kit, the pytest plugin and the command line."""

from __future__ import annotations

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


def test_check_catches_a_wrong_backend() -> None:
    report = ad.check(f, np.linspace(0.0, 1.0, 4), backends=["finitediff", Wrong()])
    assert not report.ok
    assert {r.operator for r in report.failures} >= {"gradient", "jacobian", "jvp"}
    with pytest.raises(AssertionError, match="backends disagree") as info:
        report.raise_for_failure()
    assert "FAIL" in str(info.value)


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
        "import abstractad as ad\n"
        "def good(x):\n    return ad.array_namespace(x).sum(x ** 3)\n"
    )
    out = subprocess.run([sys.executable, "-m", "abstractad", "check", "mymod:good", "--shape", "3",
                          "--backends", "finitediff,autograd"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all backends agree" in out.stdout


@pytest.mark.parametrize("argv, message", [
    (["check", "nocolon"], "MODULE:FUNCTION"),
    (["check", "no_such_module_xyz:f"], "cannot import"),
    (["check", "numpy:no_such_fn"], "has no attribute"),
    (["check", "--backends", "nope"], "unknown backends"),
    (["check", "numpy:sin", "--shape", "a,b"], "--shape"),
])
def test_cli_bad_usage_is_one_line(argv: list[str], message: str) -> None:
    out = _cli(*argv)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
