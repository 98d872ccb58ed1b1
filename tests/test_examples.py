"""The examples run and say what they should."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import abstractad as ad

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_cross_check_example_agrees() -> None:
    out = run_example("cross_check.py")
    assert "all engines agree" in out
    assert "finitediff" in out and "autograd" in out


def run_example(name: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_newton_cg_reaches_the_minimum_on_every_engine() -> None:
    out = run_example("newton_cg.py", "--n", "8")
    assert "every engine reached the minimum" in out


def test_newton_cg_with_a_pair_of_engines() -> None:
    names = ad.installed_backends()
    pair = [n for n in ("jax", "torch", "tensorflow", "autograd") if n in names][:2]
    if len(pair) < 2:
        pytest.skip("needs two AD engines")
    out = run_example("newton_cg.py", "--n", "4", "--backend", "/".join(pair))
    assert "every engine reached the minimum" in out


def test_mixed_engines_agree() -> None:
    out = run_example("mixed_engines.py")
    assert "every program agrees" in out and "WRONG" not in out


def test_train_mlp_losses_agree_on_every_engine() -> None:
    out = run_example("train_mlp.py", "--steps", "20")
    assert "the losses agree on every engine" in out and "WRONG" not in out
    for name in ad.installed_backends():
        assert name in out
    if "torch" in ad.installed_backends():
        assert "torch nn.Module" in out
