"""Sharded pytrees on JAX: every result leaf in x's structure keeps its input leaf's sharding, is a
jax.Array, and has JAX's values, for gradient, value_and_gradient, vjp, jvp and hvp, called eagerly,
with Jax(compile=True), through ad.prepare, and inside the user's own jax.jit.

The device count must be set before JAX is imported, so the work runs in a child process
(tests/_sharding_child.py, 4 host CPU devices) that prints a JSON summary; failures are listed leaf
by leaf in the assertion message. Two meshes: Auto axes (plain NamedSharding) and Explicit axes
(sharding in the types), see the child's docstring for what each one demands.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import installed

if not installed("jax"):
    pytest.skip("JAX is not installed", allow_module_level=True)

CHILD = Path(__file__).with_name("_sharding_child.py")
MARK = "SHARDING-RESULT "


def run_child(mode: str) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    env["JAX_PLATFORMS"] = "cpu"
    try:
        done = subprocess.run(
            [sys.executable, str(CHILD), mode],
            env=env,
            cwd=CHILD.parent.parent,
            capture_output=True,
            text=True,
            timeout=90,  # subprocess.run kills the child when it runs over
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the sharding child ({mode}) ran over 90 s; its stderr ended with:\n{str(e.stderr)[-2000:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARK)]
    assert lines, (
        f"the sharding child ({mode}) printed no summary (exit {done.returncode}); stderr ended with:\n"
        f"{done.stderr[-3000:]}"
    )
    return json.loads(lines[-1][len(MARK) :])


@pytest.mark.parametrize("mode", ["auto", "explicit"])
def test_sharded_pytree_results_keep_each_leafs_sharding(mode: str) -> None:
    summary = run_child(mode)
    if "skip" in summary:
        pytest.skip(summary["skip"])
    failures = summary["failures"]
    assert not failures, f"{len(failures)} failure(s) on JAX {summary.get('jax')} ({mode} mesh axes):\n" + "\n".join(
        failures
    )
    assert summary["checked"] == 28  # 7 operator cases x 4 ways of calling
