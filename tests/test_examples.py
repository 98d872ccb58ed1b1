"""The examples run and say what they should."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_cross_check_example_agrees() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "cross_check.py")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all engines agree" in out.stdout
    assert "finitediff" in out.stdout and "autograd" in out.stdout
