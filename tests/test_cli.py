"""The ``abstractad`` command: exit codes, one-line errors, the culprit, --json, 80 columns, a lazy ``backends``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import abstractad as ad
from abstractad._cli import main

ENGINES = ("torch", "jax", "tensorflow", "autograd")

ROSEN = """
import abstractad as ad

def rosen(x):
    xp = ad.array_namespace(x)
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

def vector(x):
    return ad.array_namespace(x).sin(x) * x
"""


def _wrong_class():
    """A backend that is autograd with every pullback scaled by 1.01: gradients 1 % off."""
    pytest.importorskip("autograd")

    class Wrong(ad.backends.Autograd):
        name = "wrong"

        def pullback(self, f, x):
            y, pb = super().pullback(f, x)
            return y, lambda w: 1.01 * pb(w)

    return Wrong


@pytest.fixture
def target(tmp_path, monkeypatch) -> str:
    """A module `aa_target` with rosen and a vector function, importable in this process; and `aa_wrong:Wrong`."""
    (tmp_path / "aa_target.py").write_text(ROSEN)
    (tmp_path / "aa_broken.py").write_text("raise RuntimeError('boom\\nand a second line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # also invalidates the import caches
    for name in ("aa_target", "aa_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = types.ModuleType("aa_wrong")
    module.Wrong = _wrong_class()
    monkeypatch.setitem(sys.modules, "aa_wrong", module)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return "aa_target:rosen"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "--operators", "grad"], "unknown operators ['grad']"),
        (["check", "aa_target:rosen", "--shape", "-1"], "--shape takes positive integers"),
        (["check", "aa_target:rosen", "--shape", "0,3"], "--shape takes positive integers"),
        (["check", "aa_target:rosen", "--x", "1,2,3", "--shape", "2,2"], "--x has 3 numbers"),
        (["check", "aa_target:rosen", "--x", "1,a"], "--x takes numbers"),
        (["check", "--x", "1,2"], "MODULE:FUNCTION target"),
        (["check", "--backends", "nope"], "unknown backends ['nope']"),
        (["check", "--backends", "aa_target:rosen"], "is not an abstractad.Backend"),
        (["check", "--dtype", "float16"], "--dtype takes"),
        (["check", "--rtol", "-1"], "--rtol takes a finite number"),
        (["check", "--atol", "nan"], "--atol takes a finite number"),
        (["check", "no_such_module_xyz:f"], "cannot import 'no_such_module_xyz'"),
        (["check", "aa_broken:f"], "cannot import 'aa_broken': RuntimeError: boom"),
        (["check", "aa_target:nothing"], "has no attribute"),
        (["check", "aa_target:vector", "--x", "1,2", "--shape", "3"], "takes 3"),
        (["bench", "--rounds", "0"], "--rounds must be at least 1"),
        (["bench", "--sizes", "-5"], "--sizes takes integers >= 1"),
        (["bench", "--sizes", "10,x"], "--sizes takes integers"),
        (["bench", "--target", "0"], "--target takes seconds > 0"),
        (["bench", "--backends", "nope"], "unknown backends ['nope']"),
        (["bench", "--operators", "grad"], "unknown operators ['grad']"),
        (["bench", "--function", "no_such_module_xyz:f"], "cannot import 'no_such_module_xyz'"),
        (["bench", "--rounds", "abc"], "argument --rounds: invalid int value"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(capsys, target, argv, message) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("abstractad: error: ") and message in err, err
    assert "Traceback" not in err


def test_version(capsys) -> None:
    code, out, err = _run(capsys, "--version")
    assert code == 0 and err == ""
    assert out.strip() == f"abstractad {metadata.version('abstractad')}"


def test_bare_command_prints_the_help_and_exits_2(capsys) -> None:
    code, out, err = _run(capsys)
    assert code == 2 and err == ""
    assert out.startswith("usage: abstractad") and all(c in out for c in ("backends", "check", "bench", "exit codes"))


# ----------------------------------------------------------------------------- check


def test_check_json_has_one_entry_per_backend_with_numbers(capsys, target) -> None:
    code, out, err = _run(capsys, "check", target, "--backends", "autograd,finitediff", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] is True and data["culprits"] == [] and data["dtypes"] == ["float64"]
    assert [b["backend"] for b in data["backends"]] == ["autograd", "finitediff"]
    for b in data["backends"]:
        assert b["ok"] and set(b["operators"]) == {"gradient", "jacobian", "hessian", "hvp", "jvp", "vjp"}
        for cell in b["operators"].values():
            assert isinstance(cell["max_rel"], float) and isinstance(cell["max_abs"], float)
            assert cell["max_rel"] < 1e-4 and cell["seconds"] >= 0 and cell["checks"] == 1
    (check,) = data["checks"]
    assert check["function"] == target and len(check["rows"]) == 12


def test_check_names_the_wrong_backend_and_not_finite_differences(capsys, target) -> None:
    argv = ["check", target, "--backends", "autograd,finitediff,aa_wrong:Wrong"]
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["culprits"] == ["wrong"]
    by_name = {b["backend"]: b for b in data["backends"]}
    assert by_name["finitediff"]["ok"] and not by_name["finitediff"]["culprit"]
    assert by_name["autograd"]["ok"] and not by_name["wrong"]["ok"]
    assert by_name["wrong"]["operators"]["gradient"]["status"] == "fail"
    assert by_name["wrong"]["operators"]["gradient"]["max_rel"] == pytest.approx(0.01, rel=1e-6)
    code, out, err = _run(capsys, *argv)
    assert code == 1
    verdict = out.strip().splitlines()[-3:]
    assert "culprit wrong" in " ".join(verdict) and "culprit finitediff" not in out
    wrong_row = next(line for line in out.splitlines() if line.startswith("wrong"))
    assert "1e-02!" in wrong_row
    fd_row = next(line for line in out.splitlines() if line.startswith("finitediff"))
    assert "!" not in fd_row and "?" not in fd_row


def test_check_tolerances_from_the_command_line(capsys, target) -> None:
    argv = ["check", target, "--backends", "autograd,finitediff,aa_wrong:Wrong", "--operators", "gradient", "--json"]
    assert _run(capsys, *argv, "--rtol", "0.05")[0] == 0  # 1 % is within 5 %
    assert _run(capsys, *argv, "--rtol", "0.001")[0] == 1
    code, out, _ = _run(capsys, *argv, "--rtol", "0", "--atol", "1.0")  # gradient entries are O(100): 1 % > 1
    assert code == 1 and json.loads(out)["culprits"] == ["wrong"]


def test_check_two_backends_that_disagree_blame_no_one(capsys, target) -> None:
    code, out, err = _run(capsys, "check", target, "--backends", "finitediff,aa_wrong:Wrong", "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["culprits"] == [] and data["undecided"] == ["finitediff", "wrong"]
    assert "no culprit can be named" in data["verdict"]
    assert all(b["operators"]["gradient"]["status"] == "undecided" for b in data["backends"])


def test_check_output_has_no_escape_codes_off_a_terminal_or_with_no_color(capsys, target, monkeypatch) -> None:
    argv = ["check", target, "--backends", "autograd,finitediff", "--operators", "gradient", "-q"]
    code, out, _ = _run(capsys, *argv, "--rtol", "1e-30")  # fails, so the table is printed
    assert code == 1 and "grad" in out and "\x1b" not in out  # captured: not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats the output as a terminal
    assert "\x1b[" in _run(capsys, *argv, "--rtol", "1e-30")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in _run(capsys, *argv, "--rtol", "1e-30")[1]


def _last_percent(err: str) -> int:
    found = re.findall(r"(\d+)%", err)
    assert found, err[-2000:]
    return int(found[-1])


def test_progress_bar_reaches_100_percent(capsys, target, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # draw the bar into the captured stderr
    monkeypatch.setenv("COLUMNS", "200")
    vector = ["check", "aa_target:vector", "--backends", "autograd,finitediff"]
    code, _, err = _run(capsys, *vector, "--operators", "gradient,jacobian,derivative")  # two of three skipped
    assert code == 0 and _last_percent(err) == 100
    code, _, err = _run(capsys, "check", "--backends", "autograd,finitediff", "--dtype", "float64")
    assert code == 0 and _last_percent(err) == 100


def test_main_job_fits_80_columns_and_one_screen(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    code, out, err = _run(capsys, "check")
    assert code == 0, out + err
    lines = out.rstrip("\n").splitlines()
    assert max(len(line) for line in lines) <= 80, out
    assert len(lines) <= 40, out
    assert "float64" in out and "float32" in out  # README: the scenario library in both dtypes
    for name in ad.installed_backends():
        assert sum(line.startswith(f"{name} ") for line in lines) == 2, out
    assert lines[-1].startswith("all backends agree")


# ----------------------------------------------------------------------------- backends


def test_backends_imports_no_engine() -> None:
    script = (
        "import json, sys, time\n"
        "start = time.perf_counter()\n"
        "from abstractad._cli import main\n"
        "code = main(['backends'])\n"
        "seconds = time.perf_counter() - start\n"
        f"print(json.dumps([code, seconds, [m for m in {ENGINES!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    code, seconds, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert code == 0 and imported == []
    for name in ad.installed_backends():
        assert name in out.stdout
    assert seconds >= 0


def test_backends_devices_on_request(capsys) -> None:
    code, out, _ = _run(capsys, "backends", "--devices")
    assert code == 0 and "devices" in out and "cpu" in out
    assert "devices" not in _run(capsys, "backends")[1]


# ----------------------------------------------------------------------------- the console script


def _script() -> str:
    path = Path(sys.executable).with_name("abstractad")
    if not path.exists():
        pytest.skip("the abstractad console script is not installed next to this Python")
    return str(path)


def test_console_script_exit_codes(tmp_path) -> None:
    _wrong_class()
    (tmp_path / "aa_target.py").write_text(
        ROSEN
        + "\nclass Wrong(ad.backends.Autograd):\n"
        + "    name = 'wrong'\n\n"
        + "    def pullback(self, f, x):\n"
        + "        y, pb = super().pullback(f, x)\n"
        + "        return y, lambda w: 1.01 * pb(w)\n"
    )

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([_script(), *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path)

    good = run("check", "aa_target:rosen", "--backends", "autograd,finitediff")
    assert good.returncode == 0, good.stdout + good.stderr
    wrong = run("check", "aa_target:rosen", "--backends", "autograd,finitediff,aa_target:Wrong", "-q")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "culprit wrong" in wrong.stdout and "culprit finitediff" not in wrong.stdout
    for argv in (["check", "--operators", "grad"], ["bench", "--rounds", "0"], ["check", "--shape", "2", "x:y"]):
        bad = run(*argv)
        assert bad.returncode == 2 and bad.stdout == "", bad.stdout
        assert len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert run().returncode == 2


def test_wrong_backend_defined_here_is_really_wrong() -> None:
    """The culprit tests mean something only if the test backend is 1 % off and autograd is not."""
    wrong = _wrong_class()()
    x = np.array([0.5, -0.3, 0.8])
    f = lambda x: (x**3).sum()  # noqa: E731
    np.testing.assert_allclose(ad.gradient(f, x, backend=wrong), 1.01 * 3 * x**2, rtol=1e-12)
    np.testing.assert_allclose(ad.gradient(f, x, backend="autograd"), 3 * x**2, rtol=1e-12)


def test_every_checked_operator_has_a_column_header() -> None:
    from abstractad import _cli
    from abstractad._check import ALL_OPERATORS

    assert set(_cli.SHORT) == set(ALL_OPERATORS)
